//! Server start time with 100 registered components: loading their stored,
//! precompiled artifacts against compiling them from scratch.
//!
//! The 100 components are honest, distinct components: copies of `echo`
//! whose embedded version (the one `1.0.0` its `describe()` returns) is
//! patched to `2.0.0` … `2.9.9`, so each is a different `name@version` with
//! different bytes and the full compile cost of a real connector. The
//! "compile" start is the first `weft serve --builtins DIR` on an empty
//! data dir (it compiles and stores all 100); the "precompiled" start is
//! `weft serve` on that data dir afterwards (it deserializes the stored
//! artifacts), checked through `/metrics` to have compiled nothing. Each
//! time is from spawning the process to its `listening on` line.
//!
//! The `weft` binary is taken next to this bench's profile directory
//! (`target/<profile>/weft`), else `target/debug/weft`, or from `WEFT_BIN`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{median, report};

const COMPONENTS: usize = 100;
const PRECOMPILED_RUNS: usize = 3;
pub(crate) const TOKEN: &str = "weft-bench-operator-token";

pub(crate) fn weft_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("WEFT_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("bench executable");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let candidates = [
        profile_dir.join("weft"),
        profile_dir
            .parent()
            .expect("target")
            .join("debug")
            .join("weft"),
    ];
    candidates
        .into_iter()
        .find(|p| p.exists())
        .expect("weft binary not found: `cargo build -p weft` first, or set WEFT_BIN")
}

/// Writes the 100 echo variants into `dir`.
fn write_variants(dir: &Path) {
    let echo = std::fs::read(weft_tests::component_path(weft_tests::ECHO)).expect("echo.wasm");
    let at = echo
        .windows(5)
        .position(|w| w == b"1.0.0")
        .expect("echo embeds its version");
    for i in 0..COMPONENTS {
        let mut bytes = echo.clone();
        let version = format!("2.{}.{}", i / 10, i % 10);
        bytes[at..at + 5].copy_from_slice(version.as_bytes());
        std::fs::write(dir.join(format!("echo-{version}.wasm")), bytes).expect("write variant");
    }
}

/// Starts `weft serve` and returns it with the time to `listening on`.
pub(crate) fn start(data: &Path, builtins: Option<&Path>) -> (Child, String, Duration) {
    start_with(data, builtins, &[], &[])
}

/// [`start`] with extra arguments after `serve` and extra environment.
pub(crate) fn start_with(
    data: &Path,
    builtins: Option<&Path>,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, String, Duration) {
    let mut cmd = Command::new(weft_bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args)
        .env("WEFT_OPERATOR_TOKEN", TOKEN)
        .env("WEFT_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(dir) = builtins {
        cmd.arg("--builtins").arg(dir);
    }
    let began = Instant::now();
    let mut child = cmd.spawn().expect("spawn weft serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("weft serve exited before listening")
            .expect("read stdout");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    let elapsed = began.elapsed();
    // Keep reading: weft serve prints more (the console's URL), and a
    // closed pipe would fail its next write.
    std::thread::spawn(move || lines.for_each(drop));
    (child, url, elapsed)
}

pub(crate) fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn get(url: &str) -> String {
    reqwest::blocking::Client::new()
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .and_then(|r| r.text())
        .expect("http get")
}

fn check(url: &str) {
    let components: serde_json::Value =
        serde_json::from_str(&get(&format!("{url}/v1/components"))).expect("json");
    assert_eq!(components.as_array().map(Vec::len), Some(COMPONENTS));
    let metrics = get(&format!("{url}/metrics"));
    assert!(
        metrics.contains("weft_component_compilations_total 0"),
        "a precompiled start compiled something:\n{metrics}"
    );
}

/// Runs the benchmark and prints its figures.
pub fn bench() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let builtins = scratch.path().join("builtins");
    let data = scratch.path().join("data");
    std::fs::create_dir_all(&builtins).expect("mkdir");
    write_variants(&builtins);

    let (child, _, compile) = start(&data, Some(&builtins));
    stop(child);
    println!("start with {COMPONENTS} components compiled from scratch: {compile:.2?}");

    let mut precompiled = Vec::new();
    for _ in 0..PRECOMPILED_RUNS {
        let (child, url, elapsed) = start(&data, None);
        check(&url);
        stop(child);
        precompiled.push(elapsed);
    }
    let precompiled = median(&mut precompiled);
    println!(
        "start with {COMPONENTS} precompiled components (median of {PRECOMPILED_RUNS}): {precompiled:.2?}"
    );
    report(
        "start_100_components_ms",
        precompiled.as_secs_f64() * 1000.0,
    );
    report(
        "start_precompiled_vs_compile_ratio",
        compile.as_secs_f64() / precompiled.as_secs_f64(),
    );
}
