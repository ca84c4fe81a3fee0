//! Per-instance outbound additions: an instance may add host patterns to
//! the operator allowlist (still within what its components declare and
//! after the address checks); bad patterns are refused at creation.

use serde_json::{Value, json};

use super::fake::Fake;
use super::{hook, post_json};
use crate::server::{ServerOptions, TestServer};

/// The loopback range is allowed as an address, but no host is on the
/// operator allowlist: only an instance's additions let requests out.
const CONFIG: &str = r#"
[sandbox.outbound]
allow_cidrs = ["127.0.0.1/32"]
"#;

const INTEGRATION: &str = r#"
name: ping
version: 1
config:
  - { key: base, type: url, required: true }
flows:
  - name: ping
    trigger: { type: webhook, mode: sync }
    steps:
      - id: call
        component: http@1.0.0
        action: request
        input: { method: GET, url: "{{ config.base }}/ping" }
      - id: reply
        respond: { status: 200, body: { upstream: "{{ steps.call.status }}" } }
"#;

fn create(server: &TestServer, base: &str, allow: Value) -> crate::server::Resp {
    server.api().post(
        "/v1/instances",
        &json!({ "integration": "ping@1", "tenant": "acme", "config": { "base": base }, "outbound_allow": allow }),
    )
}

fn enable(server: &TestServer, id: &str) {
    let enabled = server.api().enable(id);
    assert_eq!(enabled.json["status"], "active", "{enabled:?}");
}

#[test]
fn instance_additions_open_hosts_the_operator_did_not_list() {
    let server = TestServer::start(ServerOptions {
        config: Some(CONFIG.to_owned()),
        ..ServerOptions::with_all_builtins()
    });
    let fake = Fake::start(|_| (200, json!({ "pong": true })));
    let api = server.api();
    assert_eq!(api.push_integration(INTEGRATION).status, 201);
    assert_eq!(
        api.post("/v1/tenants", &json!({ "name": "acme" })).status,
        201
    );

    let bad = create(&server, &fake.url, json!(["https://x/y"]));
    assert_eq!(bad.status, 422, "{bad:?}");
    assert!(bad.text.contains("outbound_allow[0]"), "{bad:?}");

    let allowed = create(&server, &fake.url, json!(["127.0.0.1"]));
    assert_eq!(allowed.status, 201, "{allowed:?}");
    assert_eq!(allowed.json["outbound_allow"], json!(["127.0.0.1"]));
    let allowed = allowed.json["id"].as_str().unwrap().to_owned();
    enable(&server, &allowed);
    let answer = post_json(&server, &format!("/hooks/{allowed}/ping"), &json!({}), &[]);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json["upstream"], 200);
    assert_eq!(fake.hits().len(), 1);

    let plain = create(&server, &fake.url, json!([]));
    let plain = plain.json["id"].as_str().unwrap().to_owned();
    enable(&server, &plain);
    let refused = hook(&server, "POST", &format!("/hooks/{plain}/ping"), &[], None);
    assert_eq!(refused.status, 500, "{refused:?}");
    let execution = refused.execution_id();
    let record = api.get(&format!("/v1/executions/{execution}"));
    let logs = record.json["steps"][0]["logs"].to_string();
    assert!(logs.contains("not in the operator allowlist"), "{logs}");
    assert_eq!(fake.hits().len(), 1, "the refused request never left");
}
