//! A small WebDriver client for the console's browser tests: starts
//! `chromedriver` on a free loopback port and a headless Chromium with a
//! fresh profile, and speaks the W3C WebDriver protocol (JSON over HTTP)
//! with the blocking reqwest client the suite already has. Written here
//! rather than taken from `fantoccini`: that crate's dependency tree
//! changes the features of `syn` and so rebuilds every proc-macro and
//! wasmtime, for the dozen commands these tests use.
//!
//! Waiting is polling with a deadline for what the page shows, never a
//! sleep.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long the page may take to show something (debug server on 2 cores).
pub const PAGE_DEADLINE: Duration = Duration::from_secs(60);

/// Why a browser cannot be started on this machine.
pub fn missing_browser() -> Option<String> {
    for tool in ["chromedriver", "chromium"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!(
                "{tool} is not installed; `make test-setup` installs Debian's chromium and chromium-driver"
            ));
        }
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// An element on the page.
#[derive(Clone, Debug)]
pub struct Element(String);

/// A headless Chromium driven through chromedriver; both stop on drop.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("base", &self.base).finish()
    }
}

impl Browser {
    /// Starts chromedriver and a browser session; panics with the reason
    /// when either does not come up.
    pub fn start() -> Self {
        if let Some(why) = missing_browser() {
            panic!("{why}");
        }
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("http client");
        let root = format!("http://127.0.0.1:{port}");
        let up = crate::server::poll(Duration::from_secs(30), || {
            http.get(format!("{root}/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true)
        });
        assert!(up, "chromedriver did not become ready on port {port}");
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--window-size=1440,1000".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": args},
            "unhandledPromptBehavior": "ignore",
        }}});
        let answer: Value = http
            .post(format!("{root}/session"))
            .json(&capabilities)
            .send()
            .and_then(|r| r.json())
            .expect("create a webdriver session");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused the session: {answer}"))
            .to_owned();
        Self {
            driver,
            base: format!("{root}/session/{session}"),
            http,
            _profile: profile,
        }
    }

    /// Sends one command; `Err` carries WebDriver's error name and message.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let answer: Value = request
            .send()
            .and_then(|r| r.json())
            .map_err(|e| format!("webdriver {path}: {e}"))?;
        let value = answer["value"].clone();
        match value.get("error").and_then(Value::as_str) {
            Some(error) => Err(format!("{error}: {}", value["message"])),
            None => Ok(value),
        }
    }

    fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.command(method, path, body)
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"))
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(json!({ "url": url })));
    }

    /// Every element matching `css`.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self
            .command(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .unwrap_or(Value::Null);
        found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str().map(|id| Element(id.to_owned())))
            .collect()
    }

    /// Waits for the first element matching `css`.
    pub fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + PAGE_DEADLINE;
        loop {
            if let Some(e) = self.find_all(css).into_iter().next() {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css:?} appeared; the page shows:\n{}",
                self.body_text()
            );
            std::thread::yield_now();
        }
    }

    /// Waits until the element matching `css` shows `needle` in its text;
    /// returns the text.
    pub fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + PAGE_DEADLINE;
        loop {
            let texts: Vec<String> = self.find_all(css).iter().map(|e| self.text(e)).collect();
            if let Some(t) = texts.iter().find(|t| t.contains(needle)) {
                return t.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{css:?} never showed {needle:?}; it shows {texts:?}"
            );
        }
    }

    /// The element's visible text.
    pub fn text(&self, element: &Element) -> String {
        self.command("GET", &format!("/element/{}/text", element.0), None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The whole page's visible text.
    pub fn body_text(&self) -> String {
        self.find_all("body")
            .first()
            .map(|b| self.text(b))
            .unwrap_or_default()
    }

    /// Clicks the element.
    pub fn click(&self, element: &Element) {
        self.must("POST", &format!("/element/{}/click", element.0), None);
    }

    /// Types `text` into the element.
    pub fn type_into(&self, element: &Element, text: &str) {
        self.must(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        );
    }

    /// Runs `script` in the page and returns its value.
    pub fn script(&self, script: &str) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// The text of an open alert, confirm or prompt dialog, if one is open.
    pub fn dialog(&self) -> Option<String> {
        self.command("GET", "/alert/text", None)
            .ok()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
    }

    /// Saves a PNG screenshot of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let value = self.must("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the screenshot dir");
        }
        std::fs::write(path, png).expect("write a screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.command("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
