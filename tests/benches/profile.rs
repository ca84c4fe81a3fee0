//! Optional profiles of `weft serve` while the webhook benchmarks load it:
//! with `WEFT_BENCH_PERF=DIR`, each measured webhook run is recorded by
//! `perf record` attached to the server process (call graphs unwound from
//! `.eh_frame`, so a release build without debug info still gives stacks),
//! into `DIR/<run>.data`; read it with `perf report -i DIR/<run>.data`.
//! `WEFT_BENCH_HOOKS=sync,async` (default both) picks the runs, and
//! `WEFT_BENCH_RAW=0` skips the raw baseline, to keep profiling runs short.
//!
//! Without `WEFT_BENCH_PERF` nothing here runs: the figures `make bench`
//! prints never include a profiler's overhead.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A `perf record` attached to a process; [`Recording::finish`] stops it.
pub(crate) struct Recording(Child);

/// Starts recording `pid` as `name` when `WEFT_BENCH_PERF` is set.
pub(crate) fn record(pid: u32, name: &str) -> Option<Recording> {
    let dir = PathBuf::from(std::env::var_os("WEFT_BENCH_PERF")?);
    std::fs::create_dir_all(&dir).expect("create WEFT_BENCH_PERF dir");
    let out = dir.join(format!("{name}.data"));
    let child = Command::new("perf")
        .args(["record", "-F", "299", "--call-graph", "dwarf,16384", "-p"])
        .arg(pid.to_string())
        .arg("-o")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn perf record (is linux-perf installed?)");
    println!("profile: recording {name} into {}", out.display());
    Some(Recording(child))
}

impl Recording {
    /// Stops the recording (SIGINT, as perf expects) and waits for it.
    pub(crate) fn finish(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Whether the webhook run `name` (`sync`, `async`) is wanted.
pub(crate) fn wanted(name: &str) -> bool {
    std::env::var("WEFT_BENCH_HOOKS").map_or(true, |list| list.split(',').any(|n| n.trim() == name))
}

/// Whether the raw baseline runs (`WEFT_BENCH_RAW=0` skips it).
pub(crate) fn raw_wanted() -> bool {
    std::env::var("WEFT_BENCH_RAW").map_or(true, |v| v != "0")
}
