//! What a newcomer meets first at the command line: output into a closed
//! pipe, `weft component call`'s checks of the action and input, the
//! `--settings` flag and its help, `make run PORT=`, and the generated
//! operator token's banner.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::server::{ServerOptions, TestServer};
use crate::support::{CLI_DEADLINE, run_with_deadline, temp_dir, weft, weft_bin};

fn echo() -> String {
    weft_tests::component_path(weft_tests::ECHO)
        .display()
        .to_string()
}

/// `weft … | head` where head has already gone: the write hits a closed
/// pipe. The command ends quietly (no panic, no exit 101).
#[test]
fn printing_into_a_closed_pipe_exits_quietly() {
    let http = weft_tests::component_path(weft_tests::HTTP);
    for args in [
        vec!["component", "describe", http.to_str().unwrap()],
        vec!["component", "describe", http.to_str().unwrap(), "--json"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut child = Command::new(weft_bin())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + CLI_DEADLINE;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(std::time::Instant::now() < deadline, "{args:?} hangs");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_ne!(status.code(), Some(101), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn call_suggests_the_nearest_action() {
    let run = weft(["component", "call", &echo(), "fial", "--input", "{}"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("component echo@1.0.0 has no action 'fial'; did you mean 'fail'?"),
        "{run:?}"
    );
}

#[test]
fn call_names_every_missing_field_and_wants_an_object() {
    let echo = echo();
    let missing = weft(["component", "call", &echo, "fail", "--input", "{}"]);
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("invalid input for action 'fail': missing required fields 'kind', 'message'"),
        "{missing:?}"
    );
    assert!(!missing.stderr.contains("line 1 column"), "{missing:?}");

    let array = weft(["component", "call", &echo, "fail", "--input", "[1]"]);
    assert_eq!(array.code, Some(1), "{array:?}");
    assert!(
        array
            .stderr
            .contains("invalid input for action 'fail': expected an object, got an array"),
        "{array:?}"
    );

    let omitted = weft(["component", "call", &echo, "fail"]);
    assert_eq!(omitted.code, Some(1), "{omitted:?}");
    assert!(
        omitted.stderr.contains(
            "action 'fail' needs input: give --input with the required fields 'kind', 'message'"
        ),
        "{omitted:?}"
    );

    // Deeper problems are the component's to report (through the SDK):
    // with the path, without serde's position.
    let orders = weft_tests::component_path(weft_tests::ORDERS_EXAMPLE);
    let nested = weft([
        "component",
        "call",
        orders.to_str().unwrap(),
        "total",
        "--input",
        r#"{"items":[{}]}"#,
    ]);
    assert_eq!(nested.code, Some(1), "{nested:?}");
    assert!(
        nested
            .stderr
            .contains("invalid input at 'items[0]': missing field `sku`\n"),
        "{nested:?}"
    );
    assert!(!nested.stderr.contains("line 1 column"), "{nested:?}");

    // An action whose schema needs nothing still runs without --input.
    let echoed = weft(["component", "call", &echo, "echo"]);
    assert_eq!(echoed.code, Some(0), "{echoed:?}");
}

#[test]
fn settings_is_the_operator_file_everywhere_and_help_hides_unset_env() {
    for command in [
        &["serve", "--help"][..],
        &["component", "call", "--help"],
        &["component", "describe", "--help"],
        &["component", "push", "--help"],
        &["run", "--help"],
    ] {
        let mut cmd = Command::new(weft_bin());
        cmd.args(command).env_remove("WEFT_CONFIG");
        let help = run_with_deadline(cmd, CLI_DEADLINE);
        assert_eq!(help.code, Some(0), "{help:?}");
        assert!(
            help.stdout.contains("--settings <FILE>"),
            "{command:?}: {}",
            help.stdout
        );
        assert!(!help.stdout.contains("=]"), "{command:?}: {}", help.stdout);
    }
    // On `weft run`, --config is instance config; elsewhere it is a hidden
    // alias of --settings.
    let run_help = weft(["run", "--help"]);
    assert!(
        run_help.stdout.contains("--config <KEY=VALUE>"),
        "{run_help:?}"
    );
    let call_help = weft(["component", "call", "--help"]);
    assert!(!call_help.stdout.contains("--config <"), "{call_help:?}");

    let dir = temp_dir();
    let settings = dir.path().join("weft.toml");
    std::fs::write(&settings, "[sandbox.limits]\nfuel = 3000\n").unwrap();
    for flag in ["--settings", "--config"] {
        let run = weft([
            "component",
            "call",
            &echo(),
            "echo",
            flag,
            settings.to_str().unwrap(),
        ]);
        assert_eq!(run.code, Some(1), "{flag}: {run:?}");
        assert!(
            run.stderr.contains("out of fuel after 3000 units"),
            "{flag}: {run:?}"
        );
    }
}

#[test]
fn make_run_takes_port_and_listen() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    for (var, listen) in [
        ("PORT=9191", "127.0.0.1:9191"),
        ("LISTEN=0.0.0.0:7070", "0.0.0.0:7070"),
    ] {
        let mut make = Command::new("make");
        make.args(["--dry-run", "run", var]).current_dir(root);
        let run = run_with_deadline(make, CLI_DEADLINE);
        assert_eq!(run.code, Some(0), "{run:?}");
        assert!(
            run.stdout
                .contains(&format!("weft serve --listen {listen} ")),
            "{var}: {}",
            run.stdout
        );
    }
}

#[test]
fn the_generated_token_stands_out_and_says_how_to_recover() {
    let server = TestServer::start(ServerOptions {
        no_operator_token: true,
        ..ServerOptions::default()
    });
    assert!(
        server.wait_for_stderr("revoke the lost one", Duration::from_secs(30)),
        "{}",
        server.stderr()
    );
    let stderr = server.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim().starts_with("export WEFT_TOKEN="))
        .expect("the token line");
    let rule = "=".repeat(76);
    let above = lines[..at].iter().rposition(|l| *l == rule);
    let below = lines[at..].iter().position(|l| *l == rule);
    assert!(above.is_some() && below.is_some(), "framed: {stderr}");
    assert!(stderr.contains("WEFT_OPERATOR_TOKEN"), "{stderr}");
    assert!(stderr.contains("weft token create"), "{stderr}");
}

/// `weft exec ls --limit N` ends with the command for the next page (same
/// filters and limit, `--cursor`), and following it pages through all.
#[test]
fn exec_ls_pages_with_the_cursor_its_hint_gives() {
    use crate::executions::{finished, instance, server, start};

    let server = server(None);
    let api = server.api();
    let id = instance(&api, "acme", None, true);
    let started: Vec<String> = (0..5)
        .map(|n| start(&api, &id, "quick", &serde_json::json!({ "n": n })))
        .collect();
    for e in &started {
        finished(&api, e);
    }

    let mut args: Vec<String> = ["exec", "ls", "--flow", "quick", "--limit", "2"]
        .map(String::from)
        .to_vec();
    let mut seen = Vec::new();
    for page in 0.. {
        assert!(page < 5, "paging does not end: {seen:?}");
        let ls = server.weft(&args);
        assert_eq!(ls.code, Some(0), "{ls:?}");
        let rows: Vec<&str> = ls
            .stdout
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with('('))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(rows.len() <= 2, "--limit 2 shows at most 2: {ls:?}");
        seen.extend(rows.iter().map(|r| (*r).to_owned()));
        let Some(hint) = ls.stdout.lines().find_map(|l| l.strip_prefix("(more: ")) else {
            break;
        };
        let next = hint.trim_end_matches(')');
        assert!(
            next.starts_with("weft exec ls --flow quick --limit 2 --cursor "),
            "{ls:?}"
        );
        args = next.split_whitespace().skip(1).map(String::from).collect();
    }
    let mut newest_first = started.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let bad = server.weft(["exec", "ls", "--limit", "501"]);
    assert_eq!(bad.code, Some(2), "{bad:?}");
}
