//! Hostile components: each fixture's hostile act ends in its typed error,
//! through the real CLI (exit 1, the error on stderr, no hang) and
//! in-process on one shared engine, where an ordinary step right after
//! each hostile one still succeeds.
//!
//! Every fixture in `components/hostile-*` must have an entry in
//! [`expect`]: `foreach_hostile!` names them all, so a fixture without an
//! expectation does not compile.

use std::path::Path;
use std::sync::Arc;

use weft::sandbox::{MemoryStateStore, Sandbox, SandboxConfig, StepLimits, StepRequest};

use crate::support::weft;

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
}

const fn expect(code: &'static str, message: &'static str) -> Expectation {
    Expectation {
        code,
        message,
        never: None,
        fuel: None,
        memory: None,
        timeout: None,
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
}

fn cli_args(path: &Path, e: &Expectation) -> Vec<String> {
    let path = path.to_string_lossy();
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
    let run = weft(cli_args(path, e));
    assert_eq!(run.code, Some(1), "{name} should fail with exit 1: {run:?}");
    assert!(
        run.stderr.contains(e.message),
        "{name}: stderr should contain {:?}:\n{}",
        e.message,
        run.stderr
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

/// The same `echo` call fails under a small fuel budget (from the flag or
/// from `weft.toml`) and passes under the default, and a smaller memory cap
/// stops the memory fixture earlier than the default would.
mod limits {
    use crate::support::{temp_dir, weft};

    fn echo() -> String {
        weft_tests::component_path(weft_tests::ECHO)
            .display()
            .to_string()
    }

    #[test]
    fn fuel_budget_from_flag_and_config_is_honoured() {
        let echo = echo();
        let ok = weft(["component", "call", &echo, "echo", "--input", "[1,2,3]"]);
        assert_eq!(ok.code, Some(0), "{ok:?}");
        assert!(ok.stdout.contains('3'), "{ok:?}");

        let starved = weft([
            "component",
            "call",
            &echo,
            "echo",
            "--input",
            "[1,2,3]",
            "--fuel",
            "2000",
        ]);
        assert_eq!(starved.code, Some(1), "{starved:?}");
        assert!(
            starved.stderr.contains("out of fuel after 2000 units"),
            "{starved:?}"
        );

        let dir = temp_dir();
        let config = dir.path().join("weft.toml");
        std::fs::write(&config, "[sandbox.limits]\nfuel = 3000\n").unwrap();
        let config = config.display().to_string();
        let from_file = weft(["component", "call", &echo, "echo", "--config", &config]);
        assert_eq!(from_file.code, Some(1), "{from_file:?}");
        assert!(
            from_file.stderr.contains("out of fuel after 3000 units"),
            "{from_file:?}"
        );
    }

    #[test]
    fn memory_cap_is_honoured() {
        let memory = weft_tests::component_path(weft_tests::HOSTILE_MEMORY)
            .display()
            .to_string();
        let small = weft(["component", "call", &memory, "run", "--memory", "4MiB"]);
        assert_eq!(small.code, Some(1));
        assert!(
            small.stderr.contains("memory limit 4 MiB exceeded"),
            "{small:?}"
        );
    }

    #[test]
    fn invalid_limit_values_are_usage_errors() {
        let echo = echo();
        let bad = weft(["component", "call", &echo, "echo", "--memory", "lots"]);
        assert_eq!(bad.code, Some(2), "{bad:?}");
        assert!(bad.stderr.contains("invalid size \"lots\""), "{bad:?}");
        let bad_json = weft(["component", "call", &echo, "echo", "--input", "{nope"]);
        assert_eq!(bad_json.code, Some(1));
        assert!(
            bad_json.stderr.contains("--input is not valid json"),
            "{bad_json:?}"
        );
    }
}
