//! The peak memory of one `weft` process: [`weft_peak_rss`] runs the CLI
//! and reaps it with `wait4`, whose `rusage` is that child's own (Linux
//! reports `ru_maxrss` in KiB), so concurrent tests do not blur it.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use crate::support::{CLI_DEADLINE, Run, weft_bin};

/// The most a `weft component call` of any hostile fixture may hold at
/// its peak (documented in README's sandbox limits).
pub const PEAK_RSS_BOUND: u64 = 400 << 20;

/// Runs `weft ARGS`; returns what it printed and its peak RSS in bytes.
pub fn weft_peak_rss(args: &[String]) -> (Run, u64) {
    // Reaped by `wait4` below, not by `Child::wait`.
    #[allow(clippy::zombie_processes, reason = "reaped by wait4")]
    let mut child = Command::new(weft_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weft");
    let pid = child.id();
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if finished.recv_timeout(CLI_DEADLINE).is_err() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            return true;
        }
        false
    });
    let (code, peak_kib) = wait4(pid);
    let _ = done.send(());
    assert!(
        !watchdog.join().expect("watchdog"),
        "weft {args:?} did not finish within {CLI_DEADLINE:?}"
    );
    let run = Run {
        code,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    (run, peak_kib * 1024)
}

/// Reaps `pid`; returns its exit code (`None` if killed) and its peak RSS
/// in KiB.
#[allow(
    unsafe_code,
    reason = "wait4 is the one call that reports a single child's own rusage"
)]
fn wait4(pid: u32) -> (Option<i32>, u64) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    let mut status = 0;
    // SAFETY: `rusage` is plain data; zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals of the right types.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::Interrupted,
            "wait4 failed: {error}"
        );
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, u64::try_from(usage.ru_maxrss).unwrap_or(0))
}
