//! Shared helpers: finding and running the real `weft` binary with a
//! deadline, and locating built components.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one CLI invocation may take before the test calls it a hang.
pub const CLI_DEADLINE: Duration = Duration::from_secs(120);

/// The `weft` binary built next to this test executable (`make test`
/// builds it first).
pub fn weft_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-<hash> → target/<profile>/weft
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("weft"))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} not found: build it with `cargo build -p weft` (make test does)",
        bin.display()
    );
    bin
}

/// Result of one CLI run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `weft ARGS` and waits for it, failing the test (and killing the
/// process) if it does not finish within [`CLI_DEADLINE`].
pub fn weft<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(weft_bin());
    cmd.args(args);
    run_with_deadline(cmd, CLI_DEADLINE)
}

/// Runs `cmd` with captured output; panics if it outlives `deadline`.
pub fn run_with_deadline(mut cmd: Command, deadline: Duration) -> Run {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weft");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(out) => out.expect("wait for weft").into(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{cmd:?} did not finish within {deadline:?}");
        }
    }
}

/// A scratch directory removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("weft-test-")
        .tempdir()
        .expect("temp dir")
}
