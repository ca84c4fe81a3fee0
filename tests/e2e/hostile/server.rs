//! Hostile components through `weft serve`: each fixture that used to make
//! the host hold what the guest liked (floods of empty log lines, logs
//! across streams, a 48 MiB error, 1.6 GiB of state) or whose failure was
//! not recorded (output that is not JSON or not UTF-8) ends in a failed
//! step recorded on its execution with its typed error; the records stay
//! small, the server's peak RSS stays under the bound, and it keeps
//! serving. An upload whose `describe()` declares too many actions, or
//! floods the log, is refused with 422.

use serde_json::{Value, json};

use super::rss::PEAK_RSS_BOUND;
use crate::executions::{finished, step};
use crate::server::{Api, ServerOptions, TestServer, poll};

const INTEGRATION: &str = r#"
name: hostile
version: 1
flows:
  - { name: json, trigger: { type: manual }, steps: [{ id: run, component: hostile-json@1.0.0, action: run, input: {} }] }
  - { name: utf8, trigger: { type: manual }, steps: [{ id: run, component: hostile-utf8@1.0.0, action: run, input: {} }] }
  - { name: error, trigger: { type: manual }, steps: [{ id: run, component: hostile-error@1.0.0, action: run, input: {} }] }
  - { name: lines, trigger: { type: manual }, steps: [{ id: run, component: hostile-log-lines@1.0.0, action: run, input: {} }] }
  - { name: stdio, trigger: { type: manual }, steps: [{ id: run, component: hostile-stdio@1.0.0, action: run, input: {} }] }
  - { name: state, trigger: { type: manual }, steps: [{ id: run, component: hostile-state@1.0.0, action: run, input: {} }] }
  - { name: ok, trigger: { type: manual }, steps: [{ id: run, component: echo@1.0.0, action: echo, input: { n: 1 } }] }
"#;

/// Largest execution record (as the API serves it) any of these may
/// leave: the 1 MiB log budget plus JSON around it.
const RECORD_BOUND: usize = 2 << 20;

fn push(api: &Api, path: &str) -> crate::server::Resp {
    api.push_component(std::fs::read(weft_tests::component_path(path)).expect("read fixture"))
}

/// Creates tenant `hostile` and an enabled instance of `integration`.
pub fn enabled_instance(api: &Api, integration: &str) -> String {
    let created = api.post("/v1/tenants", &json!({ "name": "hostile" }));
    assert_eq!(created.status, 201, "{created:?}");
    let made = api.post(
        "/v1/instances",
        &json!({ "integration": integration, "tenant": "hostile" }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let id = made.json["id"].as_str().unwrap().to_owned();
    let enabled = api.post(&format!("/v1/instances/{id}/enable"), &json!({}));
    assert!(matches!(enabled.status, 200 | 202), "{enabled:?}");
    let active = poll(std::time::Duration::from_secs(60), || {
        api.get(&format!("/v1/instances/{id}")).json["status"] == "active"
    });
    assert!(active, "instance {id} never became active");
    id
}

/// Runs `flow` with `body` to its end; returns the execution and the size
/// of its record as served.
pub fn run_with(api: &Api, instance: &str, flow: &str, body: &Value) -> (Value, usize) {
    let started = api.post(&format!("/v1/instances/{instance}/flows/{flow}/run"), body);
    assert_eq!(started.status, 202, "{started:?}");
    let id = started.json["execution_id"].as_str().unwrap().to_owned();
    let done = finished(api, &id);
    let size = api.get(&format!("/v1/executions/{id}")).text.len();
    (done, size)
}

fn run(api: &Api, instance: &str, flow: &str) -> (Value, usize) {
    run_with(api, instance, flow, &json!({}))
}

/// Peak resident memory of `pid` (`VmHWM` in `/proc/PID/status`), bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM value");
    kib * 1024
}

#[test]
fn hostile_steps_are_recorded_bounded_and_the_server_keeps_serving() {
    let server = TestServer::start(ServerOptions::with_builtins());
    let api = server.api();

    let refused = push(&api, weft_tests::HOSTILE_DESCRIBE);
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(
        refused
            .error()
            .contains("declares 10000 actions; the limit is 256"),
        "{refused:?}"
    );
    let flood = push(&api, weft_tests::HOSTILE_DESCRIBE_LOG);
    assert_eq!(flood.status, 422, "{flood:?}");
    assert!(
        flood
            .error()
            .contains("describe() failed: log limit 1 MiB exceeded"),
        "{flood:?}"
    );
    for fixture in [
        weft_tests::HOSTILE_JSON,
        weft_tests::HOSTILE_UTF8,
        weft_tests::HOSTILE_ERROR,
        weft_tests::HOSTILE_LOG_LINES,
        weft_tests::HOSTILE_STDIO,
        weft_tests::HOSTILE_STATE,
    ] {
        let pushed = push(&api, fixture);
        assert_eq!(pushed.status, 201, "{fixture}: {pushed:?}");
    }
    let pushed = api.push_integration(INTEGRATION);
    assert_eq!(pushed.status, 201, "{pushed:?}");
    let instance = enabled_instance(&api, "hostile@1");

    for (flow, code, message) in [
        ("json", "invalid_output", "component returned invalid json"),
        ("utf8", "host", "utf-8"),
        ("error", "guest", "bytes cut]"),
        ("lines", "log_limit", "log limit 1 MiB exceeded"),
        ("stdio", "log_limit", "log limit 1 MiB exceeded"),
        (
            "state",
            "guest",
            "this step may write 4 MiB of state in all",
        ),
    ] {
        let (done, size) = run(&api, &instance, flow);
        assert_eq!(done["status"], "failed", "{flow}: {done:#}");
        let record = step(&done, "run");
        assert_eq!(record["status"], "failed", "{flow}: {record:#}");
        let error = &record["error"];
        assert_eq!(error["code"], code, "{flow}: {error:#}");
        assert_eq!(error["detail"]["kind"], code, "{flow}: {error:#}");
        let text = error["message"].as_str().unwrap_or("");
        assert!(text.contains(message), "{flow}: {text:.2000}");
        assert!(text.len() <= 17 * 1024, "{flow}: message of {}", text.len());
        assert!(size <= RECORD_BOUND, "{flow}: record of {size} bytes");
        if code == "log_limit" {
            let last = record["logs"].as_array().and_then(|l| l.last());
            assert_eq!(last.map(|l| &l["source"]), Some(&json!("host")), "{flow}");
        }

        // Still serving: an ordinary execution right after succeeds.
        let (ok, _) = run(&api, &instance, "ok");
        assert_eq!(ok["status"], "succeeded", "after {flow}: {ok:#}");
        assert_eq!(step(&ok, "run")["output"], json!({ "n": 1 }));
    }

    let peak = peak_rss(server.pid().expect("server runs"));
    assert!(
        peak <= PEAK_RSS_BOUND,
        "server peak RSS {} MiB, over {} MiB",
        peak >> 20,
        PEAK_RSS_BOUND >> 20
    );
}
