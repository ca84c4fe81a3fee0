//! A real S3-compatible server for the files tests: moto in server mode
//! (PyPI `moto[server]`; `make test-setup` installs it), one per test on a
//! free loopback port (`-p 0`, the port read back from its banner), killed
//! when dropped.
//!
//! Without [`Moto::require_signatures`] moto accepts any request, signed
//! or not, so the harness seeds and inspects the bucket with plain HTTP.
//! With it, moto checks every request's SigV4 signature against an IAM
//! access key it issued. (moto 5 recomputes signatures from the *decoded*
//! URL, so it wrongly refuses requests whose path or query holds `%2F`,
//! `%2B`, … — boto3's own too; the checked test keeps to keys and
//! prefixes without such characters, the others run unchecked.)

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long moto may take to print its address (a cold Python start
/// importing boto3 on a loaded machine).
const START_DEADLINE: Duration = Duration::from_secs(90);

/// The bucket every test uses.
pub const BUCKET: &str = "weft-files";

/// What the harness's own requests carry: moto answers an anonymous
/// object read 403 (as S3 does for a private bucket), and checks nothing
/// else before [`Moto::require_signatures`].
const UNCHECKED: &str = "AWS4-HMAC-SHA256 Credential=harness/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

/// A running moto server; killed when dropped.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    http: reqwest::blocking::Client,
}

/// The Python that has moto: `$WEFT_TEST_PYTHON`, else the venv `make
/// test-setup` creates (`target/moto-venv`), else `python3` on `PATH`.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("WEFT_TEST_PYTHON") {
        return python.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/moto-venv/bin/python3");
    if venv.exists() {
        return venv;
    }
    "python3".into()
}

impl Moto {
    /// Starts moto on a free loopback port with bucket [`BUCKET`]; panics
    /// (saying to run `make test-setup`) when moto is not installed.
    pub fn start() -> Self {
        let python = python();
        let mut child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e}; `make test-setup` installs moto",
                    python.display()
                )
            });
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        // Reads the banner, then keeps draining so moto never blocks on a
        // full pipe; the lines before the banner explain a failed start.
        std::thread::spawn(move || {
            let mut seen = String::new();
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(at) = line.find("Running on http://") {
                        let url = line[at + "Running on ".len()..].trim().to_owned();
                        let _ = tx.send(Ok(url));
                        sent = true;
                    } else {
                        seen.push_str(&line);
                        seen.push('\n');
                    }
                }
            }
            if !sent {
                let _ = tx.send(Err(seen));
            }
        });
        let url = match rx.recv_timeout(START_DEADLINE) {
            Ok(Ok(url)) => url,
            Ok(Err(output)) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "moto did not start ({} -m moto.server; `make test-setup` installs it):\n{output}",
                    python.display()
                );
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("moto printed no address within {START_DEADLINE:?}");
            }
        };
        let moto = Self {
            url,
            child,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
        };
        let created = moto
            .http
            .put(format!("{}/{BUCKET}", moto.url))
            .header("authorization", UNCHECKED)
            .send();
        let created = created.unwrap_or_else(|e| panic!("create bucket: {e}"));
        assert!(created.status().is_success(), "create bucket: {created:?}");
        moto
    }

    /// Writes `body` to `key` (unsigned: only before [`Moto::require_signatures`]).
    pub fn put(&self, key: &str, body: &str) {
        let answer = self
            .http
            .put(format!("{}/{BUCKET}/{key}", self.url))
            .header("authorization", UNCHECKED)
            // Not form-encoded: moto would read the body as a form.
            .header("content-type", "text/csv")
            .body(body.to_owned())
            .send()
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
        assert!(answer.status().is_success(), "put {key}: {answer:?}");
    }

    /// The contents of `key`, or `None` if there is no such object.
    pub fn get(&self, key: &str) -> Option<String> {
        let answer = self
            .http
            .get(format!("{}/{BUCKET}/{key}", self.url))
            .header("authorization", UNCHECKED)
            .send()
            .unwrap_or_else(|e| panic!("get {key}: {e}"));
        if answer.status() == 404 {
            return None;
        }
        assert!(answer.status().is_success(), "get {key}: {answer:?}");
        Some(answer.text().expect("object text"))
    }

    /// Every key under `prefix`, in order.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let answer = self
            .http
            .get(format!("{}/{BUCKET}", self.url))
            .header("authorization", UNCHECKED)
            .query(&[("list-type", "2"), ("prefix", prefix)])
            .send()
            .unwrap_or_else(|e| panic!("list {prefix}: {e}"));
        assert!(answer.status().is_success(), "list {prefix}: {answer:?}");
        let xml = answer.text().expect("listing text");
        xml.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(|key| key.replace("&amp;", "&"))
            .collect()
    }

    /// Issues an IAM access key allowed `s3:*` and from then on makes moto
    /// check every request's signature; returns `(access key id, secret)`.
    pub fn require_signatures(&self) -> (String, String) {
        // Unchecked still: a credential scope naming `iam` is only how
        // moto's single port routes these to its IAM service.
        let iam = |form: &[(&str, &str)]| -> String {
            let answer = self
                .http
                .post(format!("{}/", self.url))
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                )
                .form(form)
                .send()
                .unwrap_or_else(|e| panic!("iam {form:?}: {e}"));
            assert!(answer.status().is_success(), "iam {form:?}: {answer:?}");
            answer.text().expect("iam answer")
        };
        let version = ("Version", "2010-05-08");
        iam(&[("Action", "CreateUser"), ("UserName", "weft"), version]);
        iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "weft"),
            ("PolicyName", "s3"),
            (
                "PolicyDocument",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
            ),
            version,
        ]);
        let key = iam(&[("Action", "CreateAccessKey"), ("UserName", "weft"), version]);
        let field = |name: &str| {
            key.split(&format!("<{name}>"))
                .nth(1)
                .and_then(|rest| rest.split(&format!("</{name}>")).next())
                .unwrap_or_else(|| panic!("no {name} in {key}"))
                .to_owned()
        };
        let credentials = (field("AccessKeyId"), field("SecretAccessKey"));
        let checked = self
            .http
            .post(format!("{}/moto-api/reset-auth", self.url))
            .header("content-type", "text/plain")
            .body("0")
            .send()
            .expect("reset-auth");
        assert!(checked.status().is_success(), "reset-auth: {checked:?}");
        credentials
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
