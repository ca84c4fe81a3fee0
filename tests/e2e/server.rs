//! A real `weft serve` for tests: [`TestServer::start`] spawns the binary
//! on `127.0.0.1:0` with its own data dir (a temp dir kept across
//! restarts) and a fixed operator token, learns the port from the
//! `listening on` line, and captures stderr for log assertions. Talk to it
//! with [`TestServer::api`] (operator) or [`TestServer::api_as`], or run
//! the CLI against it with [`TestServer::weft`]. [`TestServer::kill9`],
//! [`TestServer::stop`] and [`TestServer::restart`] exercise durability.
//!
//! Nothing here sleeps to synchronise: it waits for lines, exits and
//! answers, each with a deadline.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Run, run_with_deadline, temp_dir, weft_bin};

/// The operator token every test server starts with.
pub const OPERATOR_TOKEN: &str = "weft-test-operator-token-0123456789";

/// How long a server may take to print `listening on`.
pub const START_DEADLINE: Duration = Duration::from_secs(90);

/// How long a stopping server may take to exit.
pub const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// How a test server is started.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// `--builtins DIR`.
    pub builtins: Option<PathBuf>,
    /// Contents of a `weft.toml` passed with `--config`.
    pub config: Option<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// Start without `WEFT_OPERATOR_TOKEN` (the server generates one).
    pub no_operator_token: bool,
}

impl ServerOptions {
    /// Options registering `echo` as the one built-in (so counts in tests
    /// do not change when components are added).
    pub fn with_builtins() -> Self {
        Self {
            builtins: Some(echo_only_dir()),
            ..Self::default()
        }
    }

    /// Options registering every built component (`echo`, `http`, …).
    #[allow(
        dead_code,
        reason = "for tests needing every built-in; none on this branch yet"
    )]
    pub fn with_all_builtins() -> Self {
        Self {
            builtins: Some(PathBuf::from(weft_tests::COMPONENTS_DIR)),
            ..Self::default()
        }
    }
}

/// `target/test-builtins/echo-only/`, holding a copy of `echo.wasm`.
pub fn echo_only_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(make_echo_only_dir).clone()
}

fn make_echo_only_dir() -> PathBuf {
    let dir = Path::new(weft_tests::COMPONENTS_DIR)
        .parent()
        .expect("components dir has a parent")
        .join("test-builtins/echo-only");
    std::fs::create_dir_all(&dir).expect("create test builtins dir");
    let echo = dir.join("echo.wasm");
    let source = weft_tests::component_path(weft_tests::ECHO);
    // Copy through a temporary name so other test processes never see a
    // partial file.
    let tmp = dir.join(format!("echo.{}.tmp", std::process::id()));
    std::fs::copy(&source, &tmp).expect("copy echo.wasm");
    std::fs::rename(&tmp, &echo).expect("install echo.wasm");
    dir
}

/// Why a server did not start.
#[derive(Debug)]
pub struct StartFailure {
    /// Its exit status, if it exited.
    pub code: Option<i32>,
    /// What it printed on stderr.
    pub stderr: String,
}

/// A running `weft serve`; killed when dropped.
pub struct TestServer {
    options: ServerOptions,
    dir: tempfile::TempDir,
    child: Option<Child>,
    url: String,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.url)
            .finish()
    }
}

impl TestServer {
    /// Starts a server on a fresh data dir; panics (with its stderr) if it
    /// does not start.
    pub fn start(options: ServerOptions) -> Self {
        Self::start_in(options, temp_dir()).unwrap_or_else(|f| {
            panic!(
                "weft serve did not start (exit {:?}):\n{}",
                f.code, f.stderr
            )
        })
    }

    /// Starts a server whose data dir is `dir/data` (prepare it first to
    /// test what the server makes of existing data).
    pub fn start_in(options: ServerOptions, dir: tempfile::TempDir) -> Result<Self, StartFailure> {
        let mut server = Self {
            options,
            dir,
            child: None,
            url: String::new(),
            stderr: Arc::new(Mutex::new(String::new())),
            stdout: Arc::new(Mutex::new(String::new())),
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), StartFailure> {
        let mut cmd = Command::new(weft_bin());
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.data_dir())
            .env_remove("WEFT_MASTER_KEY")
            .env_remove("WEFT_CONFIG")
            .env("WEFT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.options.no_operator_token {
            cmd.env_remove("WEFT_OPERATOR_TOKEN");
        } else {
            cmd.env("WEFT_OPERATOR_TOKEN", OPERATOR_TOKEN);
        }
        if let Some(dir) = &self.options.builtins {
            cmd.arg("--builtins").arg(dir);
        }
        if let Some(config) = &self.options.config {
            let path = self.dir.path().join("weft.toml");
            std::fs::write(&path, config).expect("write weft.toml");
            cmd.arg("--config").arg(path);
        }
        cmd.args(&self.options.args);
        for (k, v) in &self.options.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn weft serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");

        let stderr_buf = self.stderr.clone();
        let (err_done_tx, err_done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match stderr.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => lock(&stderr_buf).push_str(&String::from_utf8_lossy(&chunk[..n])),
                }
            }
            let _ = err_done_tx.send(());
        });

        let stdout_buf = self.stdout.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
                let mut buf = lock(&stdout_buf);
                buf.push_str(&line);
                buf.push('\n');
            }
        });

        match rx.recv_timeout(START_DEADLINE) {
            Ok(url) => {
                self.url = url;
                self.child = Some(child);
                Ok(())
            }
            Err(_) => {
                // Either it exited (stdout closed) or it hangs.
                let code =
                    wait_with_deadline(&mut child, Duration::from_secs(5)).and_then(|s| s.code());
                let _ = child.kill();
                let _ = child.wait();
                let _ = err_done_rx.recv_timeout(Duration::from_secs(5));
                Err(StartFailure {
                    code,
                    stderr: lock(&self.stderr).clone(),
                })
            }
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The data dir (`--data-dir`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Replaces the `weft.toml` the next (re)start uses.
    pub fn set_config(&mut self, config: &str) {
        self.options.config = Some(config.to_owned());
    }

    /// Sets an environment variable for the next (re)start (replacing an
    /// earlier value of the same variable).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.options.env.retain(|(k, _)| k != key);
        self.options.env.push((key.to_owned(), value.to_owned()));
    }

    /// The scratch dir holding the data dir (for test files).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server printed on stderr so far (all runs).
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// Everything the server printed on stdout so far (all runs).
    pub fn stdout(&self) -> String {
        lock(&self.stdout).clone()
    }

    /// Waits until stderr contains `needle`; false after `deadline`.
    pub fn wait_for_stderr(&self, needle: &str, deadline: Duration) -> bool {
        poll(deadline, || self.stderr().contains(needle))
    }

    /// A client with the operator token.
    pub fn api(&self) -> Api {
        self.api_as(Some(OPERATOR_TOKEN))
    }

    /// A client with `token` (or none).
    pub fn api_as(&self, token: Option<&str>) -> Api {
        Api {
            base: self.url.clone(),
            token: token.map(str::to_owned),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("http client"),
            in_process: None,
        }
    }

    /// The value of a metric from `GET /metrics` (the first sample whose
    /// line starts with `name`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let text = self.api_as(None).get("/metrics").text;
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            (key == name).then(|| value.parse().ok()).flatten()
        })
    }

    /// Runs the CLI against this server as the operator.
    pub fn weft<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.weft_as(OPERATOR_TOKEN, args)
    }

    /// Runs the CLI against this server with `token`.
    pub fn weft_as<I, S>(&self, token: &str, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(weft_bin());
        cmd.args(args)
            .env("WEFT_SERVER", &self.url)
            .env("WEFT_TOKEN", token);
        run_with_deadline(cmd, crate::support::CLI_DEADLINE)
    }

    /// Kills the server with SIGKILL and waits for it to die.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGTERM (graceful) and returns its exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = wait_with_deadline(&mut child, STOP_DEADLINE);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("weft serve did not stop within {STOP_DEADLINE:?} of SIGTERM");
        }
        status
    }

    /// Stops the server gracefully and starts it again on the same data
    /// dir (a new port).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().unwrap_or_else(|f| {
            panic!(
                "weft serve did not restart (exit {:?}):\n{}",
                f.code, f.stderr
            )
        });
    }

    /// Kills the server with SIGKILL and starts it again on the same data
    /// dir.
    pub fn restart_after_kill9(&mut self) {
        self.kill9();
        self.spawn().unwrap_or_else(|f| {
            panic!(
                "weft serve did not restart (exit {:?}):\n{}",
                f.code, f.stderr
            )
        });
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn lock(m: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wait_with_deadline(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + deadline;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `check` every 20 ms until it holds; false after `deadline`.
pub fn poll(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long an instance may stay `deploying` or `disabling` in a test.
pub const LIFECYCLE_DEADLINE: Duration = Duration::from_secs(60);

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body text.
    pub text: String,
    /// Body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl Resp {
    /// The `error` message of an error body.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }
}

/// A blocking HTTP client for one server and token.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::blocking::Client,
    /// Set for a node in this process: requests go through its router.
    in_process: Option<crate::in_process::Handle>,
}

impl Api {
    /// A client of an in-process node (see [`crate::in_process`]).
    pub fn in_process(handle: crate::in_process::Handle, token: Option<&str>) -> Self {
        Self {
            base: String::new(),
            token: token.map(str::to_owned),
            http: reqwest::blocking::Client::new(),
            in_process: Some(handle),
        }
    }

    /// Sends `method path` with an optional body and content type.
    pub fn request(&self, method: &str, path: &str, body: Option<(Vec<u8>, &str)>) -> Resp {
        if let Some(node) = &self.in_process {
            return node.request(method, path, self.token.as_deref(), body);
        }
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some((bytes, content_type)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req.send().unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, None)
    }

    /// `POST path` with JSON.
    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.request(
            "POST",
            path,
            Some((body.to_string().into_bytes(), "application/json")),
        )
    }

    /// `PATCH path` with JSON.
    pub fn patch(&self, path: &str, body: &Value) -> Resp {
        self.request(
            "PATCH",
            path,
            Some((body.to_string().into_bytes(), "application/json")),
        )
    }

    /// `POST path` with raw bytes.
    pub fn post_bytes(&self, path: &str, bytes: Vec<u8>, content_type: &str) -> Resp {
        self.request("POST", path, Some((bytes, content_type)))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, None)
    }

    /// Enables instance `id` (asserting the 202) and waits until it is no
    /// longer `deploying`; returns the instance as then shown.
    pub fn enable(&self, id: &str) -> Resp {
        self.transition(id, "enable")
    }

    /// Disables instance `id` (asserting the 202) and waits until it is
    /// no longer `disabling`; returns the instance as then shown.
    pub fn disable(&self, id: &str) -> Resp {
        self.transition(id, "disable")
    }

    fn transition(&self, id: &str, action: &str) -> Resp {
        let started = self.post(
            &format!("/v1/instances/{id}/{action}"),
            &serde_json::json!({}),
        );
        assert_eq!(started.status, 202, "{action} {id}: {started:?}");
        self.wait_settled(id)
    }

    /// Polls instance `id` until its status is no longer `deploying` or
    /// `disabling`; panics after [`LIFECYCLE_DEADLINE`].
    pub fn wait_settled(&self, id: &str) -> Resp {
        let mut last = None;
        let settled = poll(LIFECYCLE_DEADLINE, || {
            let shown = self.get(&format!("/v1/instances/{id}"));
            let done = shown.status != 200
                || !matches!(
                    shown.json["status"].as_str(),
                    Some("deploying" | "disabling")
                );
            last = Some(shown);
            done
        });
        let last = last.expect("polled at least once");
        assert!(
            settled,
            "instance {id} still {} after {LIFECYCLE_DEADLINE:?}",
            last.json["status"]
        );
        last
    }

    /// Uploads a component; returns the answer.
    pub fn push_component(&self, bytes: Vec<u8>) -> Resp {
        self.post_bytes("/v1/components", bytes, "application/wasm")
    }

    /// Uploads an integration file; returns the answer.
    pub fn push_integration(&self, text: &str) -> Resp {
        self.post_bytes(
            "/v1/integrations",
            text.as_bytes().to_vec(),
            "application/yaml",
        )
    }
}
