//! Durable executions through the real server: crash recovery (kill -9
//! mid-step and with executions still queued), the per-tenant cap,
//! redaction, the executions API (filters, cursor, replay, authorization,
//! bad values), the manual trigger route, the `weft exec` CLI and metrics.

mod api;
mod durability;
mod retry;
mod show;
mod state;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::server::{Api, ServerOptions, TestServer, poll};

/// How long an execution may take to end in these tests (debug builds on
/// two shared cores).
pub const FINISH_DEADLINE: Duration = Duration::from_secs(120);

/// The integration these tests run: a state counter around a nap (to
/// prove steps are not repeated on resume), a nap, a quick echo, a failure,
/// a flow using a secret, and a webhook flow (not startable by hand).
pub const INTEGRATION: &str = r#"
name: durable
version: 1
config:
  - { key: api_key, type: secret }
flows:
  - name: counted
    trigger: { type: manual }
    steps:
      - id: read
        component: echo@1.0.0
        action: state
        input: { scope: instance, op: get, key: "runs-{{ trigger.body.tag }}" }
      - id: write
        component: echo@1.0.0
        action: state
        input:
          scope: instance
          op: set
          key: "runs-{{ trigger.body.tag }}"
          value: "{{ (steps.read or 0) + 1 }}"
      - id: nap
        component: echo@1.0.0
        action: sleep
        input: { ms: "{{ trigger.body.ms }}" }
      - id: check
        component: echo@1.0.0
        action: state
        input: { scope: instance, op: get, key: "runs-{{ trigger.body.tag }}" }
  - name: nap
    trigger: { type: manual }
    steps:
      - id: nap
        component: echo@1.0.0
        action: sleep
        input: { ms: "{{ trigger.body.ms }}" }
      - id: done
        component: echo@1.0.0
        action: echo
        input: { n: "{{ trigger.body.n }}" }
  - name: quick
    trigger: { type: manual }
    steps:
      - id: hello
        component: echo@1.0.0
        action: echo
        input: { n: "{{ trigger.body.n }}" }
  - name: boom
    trigger: { type: manual }
    steps:
      - id: fail
        component: echo@1.0.0
        action: fail
        input: { kind: fatal, message: "boom {{ trigger.body.n }}" }
  - name: secretive
    trigger: { type: manual }
    steps:
      - id: use
        component: echo@1.0.0
        action: echo
        input:
          key: "{{ config.api_key }}"
          header: "Bearer {{ config.api_key }}"
      - id: leak
        component: echo@1.0.0
        action: fail
        on_error: continue
        input: { kind: fatal, message: "rejected key {{ config.api_key }}" }
      - id: again
        component: echo@1.0.0
        action: echo
        input: { seen: "{{ steps.use.key }}", err: "{{ steps.leak.error.message }}" }
  - name: hook
    trigger: { type: webhook }
    steps:
      - id: hello
        component: echo@1.0.0
        action: echo
        input: {}
"#;

/// A server with echo built in, `config` as its `weft.toml`, and the test
/// integration stored.
pub fn server(config: Option<&str>) -> TestServer {
    let server = TestServer::start(ServerOptions {
        config: config.map(str::to_owned),
        ..ServerOptions::with_builtins()
    });
    let pushed = server.api().push_integration(INTEGRATION);
    assert_eq!(pushed.status, 201, "{pushed:?}");
    server
}

/// Creates tenant `tenant` (if new) and an instance of the test
/// integration for it; enables it when `enable`. Returns the instance id.
pub fn instance(api: &Api, tenant: &str, secret: Option<&str>, enable: bool) -> String {
    let created = api.post("/v1/tenants", &json!({ "name": tenant }));
    assert!(
        created.status == 201 || created.status == 409,
        "{created:?}"
    );
    let secrets = match secret {
        Some(s) => json!({ "api_key": s }),
        None => json!({}),
    };
    let made = api.post(
        "/v1/instances",
        &json!({ "integration": "durable@1", "tenant": tenant, "secrets": secrets }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let id = made.json["id"].as_str().unwrap().to_owned();
    if enable {
        let enabled = api.enable(&id);
        assert_eq!(enabled.json["status"], "active", "{enabled:?}");
    }
    id
}

/// Starts `flow` of `instance` with `body`; returns the execution id.
pub fn start(api: &Api, instance: &str, flow: &str, body: &Value) -> String {
    let started = api.post(&format!("/v1/instances/{instance}/flows/{flow}/run"), body);
    assert_eq!(started.status, 202, "{started:?}");
    started.json["execution_id"]
        .as_str()
        .expect("execution_id")
        .to_owned()
}

/// `GET /v1/executions/{id}`, which must answer 200.
pub fn execution(api: &Api, id: &str) -> Value {
    let got = api.get(&format!("/v1/executions/{id}"));
    assert_eq!(got.status, 200, "{got:?}");
    got.json
}

/// Polls until the execution ended; returns it.
pub fn finished(api: &Api, id: &str) -> Value {
    let mut last = Value::Null;
    let ended = poll(FINISH_DEADLINE, || {
        last = execution(api, id);
        matches!(last["status"].as_str(), Some("succeeded" | "failed"))
    });
    assert!(ended, "execution {id} did not end: {last:#}");
    last
}

/// The step record at `path`.
pub fn step<'a>(execution: &'a Value, path: &str) -> &'a Value {
    execution["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["path"] == path)
        .unwrap_or_else(|| panic!("no step {path} in {execution:#}"))
}

/// A timestamp field of a record.
pub fn time(record: &Value, field: &str) -> DateTime<Utc> {
    let text = record[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {record:#}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{field} {text:?}: {e}"))
        .with_timezone(&Utc)
}
