//! The same `echo` call fails under a small fuel budget (from the flag or
//! from `weft.toml`) and passes under the default, and a smaller memory cap
//! stops the memory fixture earlier than the default would.

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
