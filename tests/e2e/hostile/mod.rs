//! Hostile components: each fixture's hostile act ends in its typed error,
//! through the real CLI (exit 1, the error on stderr, no hang, a bounded
//! stderr and a peak RSS under [`rss::PEAK_RSS_BOUND`]) and in-process on
//! one shared engine, where an ordinary step right after each hostile one
//! still succeeds. [`server`] runs the fixtures that must not hurt the host
//! through `weft serve` and checks each failed step is recorded.
//!
//! Every fixture in `components/hostile-*` must have an entry in
//! [`expect`]: `foreach_hostile!` names them all, so a fixture without an
//! expectation does not compile.

use std::path::Path;
use std::sync::Arc;

use weft::sandbox::{MemoryStateStore, Sandbox, SandboxConfig, StepLimits, StepRequest};

use rss::{PEAK_RSS_BOUND, weft_peak_rss};

/// What a hostile fixture must end in, and the limits it runs under.
pub struct Expectation {
    /// `StepError::code()` of the failure.
    pub code: &'static str,
    /// Text the error message must contain.
    pub message: &'static str,
    /// Text the error message must not contain (a leak).
    pub never: Option<&'static str>,
    /// Fuel override.
    pub fuel: Option<u64>,
    /// Memory override.
    pub memory: Option<&'static str>,
    /// Timeout override.
    pub timeout: Option<&'static str>,
    /// The failure is `describe()`'s (checked with `weft component
    /// describe` and `Sandbox::describe`), not `run`'s.
    pub describe: bool,
}

const fn expect(code: &'static str, message: &'static str) -> Expectation {
    Expectation {
        code,
        message,
        never: None,
        fuel: None,
        memory: None,
        timeout: None,
        describe: false,
    }
}

#[allow(non_upper_case_globals, reason = "named after the fixtures")]
mod expect {
    use super::{Expectation, expect};

    pub const hostile_loop: Expectation = Expectation {
        fuel: Some(20_000_000),
        ..expect("out_of_fuel", "out of fuel after 20000000 units")
    };
    pub const hostile_memory: Expectation = Expectation {
        memory: Some("16MiB"),
        ..expect("memory_limit", "memory limit 16 MiB exceeded")
    };
    pub const hostile_recursion: Expectation = expect("stack_overflow", "stack overflow");
    pub const hostile_table: Expectation =
        expect("table_limit", "table limit 20000 elements exceeded");
    pub const hostile_output: Expectation = expect("output_too_large", "exceeds the 4 MiB limit");
    pub const hostile_log: Expectation = expect("log_limit", "log limit 1 MiB exceeded");
    pub const hostile_panic: Expectation = expect("trap", "hostile panic");
    pub const hostile_file: Expectation = Expectation {
        never: Some("root:"),
        ..expect("guest", "fatal error")
    };
    pub const hostile_env: Expectation = expect("guest", "fatal error");
    pub const hostile_socket: Expectation = expect("guest", "fatal error");
    pub const hostile_http: Expectation = expect("guest", "denied");
    pub const hostile_handles: Expectation =
        expect("resource_limit", "resource limit 1000 handles exceeded");
    pub const hostile_sleep: Expectation = Expectation {
        timeout: Some("1s"),
        ..expect("deadline", "deadline 1s exceeded")
    };
    pub const hostile_log_lines: Expectation = expect("log_limit", "log limit 1 MiB exceeded");
    pub const hostile_stdio: Expectation = expect("log_limit", "log limit 1 MiB exceeded");
    pub const hostile_error: Expectation = expect("guest", "bytes cut]");
    pub const hostile_state: Expectation = expect(
        "guest",
        "refused: this step may write 4 MiB of state in all",
    );
    pub const hostile_json: Expectation =
        expect("invalid_output", "component returned invalid json");
    pub const hostile_utf8: Expectation = expect("host", "utf-8");
    pub const hostile_describe_log: Expectation = Expectation {
        describe: true,
        ..expect("describe", "log limit 1 MiB exceeded")
    };
    pub const hostile_describe: Expectation = Expectation {
        describe: true,
        ..expect("describe", "declares 10000 actions; the limit is 256")
    };
}

/// The most any fixture's CLI run may print on stderr: its logs (at most
/// the 1 MiB budget, printed with a short prefix per line) and its error.
const STDERR_BOUND: usize = 3 << 20;

fn cli_args(path: &Path, e: &Expectation) -> Vec<String> {
    let path = path.to_string_lossy();
    if e.describe {
        return vec!["component".into(), "describe".into(), path.into_owned()];
    }
    let mut args: Vec<String> = ["component", "call", &path, "run", "--input", "{}"]
        .map(String::from)
        .to_vec();
    if let Some(fuel) = e.fuel {
        args.extend(["--fuel".into(), fuel.to_string()]);
    }
    if let Some(memory) = e.memory {
        args.extend(["--memory".into(), memory.into()]);
    }
    if let Some(timeout) = e.timeout {
        args.extend(["--timeout".into(), timeout.into()]);
    }
    args
}

fn check_cli(name: &str, path: &Path, e: &Expectation) {
    let (run, peak) = weft_peak_rss(&cli_args(path, e));
    let tail =
        |text: &str| text[text.floor_char_boundary(text.len().saturating_sub(2000))..].to_owned();
    assert_eq!(
        run.code,
        Some(1),
        "{name} should fail with exit 1: {:?}",
        tail(&run.stderr)
    );
    assert!(
        run.stderr.contains(e.message),
        "{name}: stderr should contain {:?}:\n{}",
        e.message,
        tail(&run.stderr)
    );
    assert!(
        run.stderr.len() <= STDERR_BOUND,
        "{name}: {} bytes on stderr, over {STDERR_BOUND}",
        run.stderr.len()
    );
    assert!(
        peak <= PEAK_RSS_BOUND,
        "{name}: peak RSS {} MiB, over {} MiB",
        peak >> 20,
        PEAK_RSS_BOUND >> 20
    );
    assert!(run.stdout.trim().is_empty(), "{name}: no output on failure");
    if let Some(never) = e.never {
        assert!(!run.stderr.contains(never), "{name} leaked {never:?}");
    }
}

macro_rules! cli_test {
    ($name:ident, $path:ident) => {
        #[test]
        fn $name() {
            check_cli(
                stringify!($name),
                &weft_tests::component_path(weft_tests::$path),
                &expect::$name,
            );
        }
    };
}

mod cli {
    use super::*;
    weft_tests::foreach_hostile!(cli_test);
}

fn limits_for(base: &StepLimits, e: &Expectation) -> StepLimits {
    let mut limits = base.clone();
    if let Some(fuel) = e.fuel {
        limits.fuel = fuel;
    }
    if let Some(memory) = e.memory {
        limits.memory = memory.parse().unwrap();
    }
    if let Some(timeout) = e.timeout {
        limits.timeout = weft::units::parse_duration(timeout).unwrap();
    }
    limits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_survives_every_fixture_on_one_engine() {
    let sandbox = Sandbox::new(&SandboxConfig::default()).unwrap();
    let echo_bytes = std::fs::read(weft_tests::component_path(weft_tests::ECHO)).unwrap();
    let echo = sandbox.compile(&echo_bytes).unwrap();
    let mut fixtures: Vec<(&str, std::path::PathBuf, &Expectation)> = Vec::new();
    macro_rules! push_fixture {
        ($name:ident, $path:ident) => {
            fixtures.push((
                stringify!($name),
                weft_tests::component_path(weft_tests::$path),
                &expect::$name,
            ));
        };
    }
    weft_tests::foreach_hostile!(push_fixture);
    for (name, path, e) in fixtures {
        let component = sandbox.compile(&std::fs::read(&path).unwrap()).unwrap();
        if e.describe {
            let error = sandbox.describe(&component).await.expect_err(name);
            assert!(error.to_string().contains(e.message), "{name}: {error}");
            continue;
        }
        let mut req = StepRequest::local(&sandbox, "run", "{}".into());
        req.limits = limits_for(sandbox.limits(), e);
        let outcome = sandbox.run_step(&component, req).await;
        let error = outcome.result.expect_err(name);
        assert_eq!(error.code(), e.code, "{name}: {error}");
        assert!(error.to_string().contains(e.message), "{name}: {error}");

        let mut req = StepRequest::local(&sandbox, "echo", r#"{"after":"x"}"#.into());
        req.state = Arc::new(MemoryStateStore::default());
        let outcome = sandbox.run_step(&echo, req).await;
        assert_eq!(
            outcome
                .result
                .unwrap_or_else(|e| panic!("echo after {name}: {e}")),
            serde_json::json!({"after": "x"})
        );
    }
}

mod limits;
mod rss;
mod server;
mod state;
mod uploads;
