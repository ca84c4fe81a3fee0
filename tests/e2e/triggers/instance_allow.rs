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

/// A sync flow fetching `config.target` with `fixture-fetch`, which
/// declares only `127.0.0.1` and `localhost`.
const FETCH: &str = r#"
name: fetcher
version: 1
config:
  - { key: target, type: url, required: true }
flows:
  - name: fetch
    trigger: { type: webhook, mode: sync }
    steps:
      - id: call
        component: fixture-fetch@1.0.0
        action: fetch
        input: { url: "{{ config.target }}" }
"#;

/// Issue 10 item 1: a tenant token can neither create an instance with
/// `outbound_allow` nor patch it (403 naming the field, nothing changed);
/// the operator can, and its additions still never reach a host the
/// component does not declare (declared ∩ (operator ∪ additions)).
#[test]
fn only_the_operator_sets_outbound_allow_and_it_never_widens_past_declared() {
    let server = TestServer::start(ServerOptions {
        config: Some(CONFIG.to_owned()),
        ..ServerOptions::with_all_builtins()
    });
    let fake = Fake::start(|_| (200, json!({ "pong": true })));
    let api = server.api();
    let fixture = std::fs::read(weft_tests::component_path(weft_tests::FIXTURE_FETCH)).unwrap();
    assert_eq!(api.push_component(fixture).status, 201);
    assert_eq!(api.push_integration(FETCH).status, 201);
    let token = crate::control::tenant_with_token(&api, "acme");
    let tenant = server.api_as(Some(&token));

    for allow in [json!(["*"]), json!([])] {
        let refused = tenant.post(
            "/v1/instances",
            &json!({ "integration": "fetcher@1", "config": { "target": fake.url }, "outbound_allow": allow }),
        );
        assert_eq!(refused.status, 403, "{refused:?}");
        assert!(refused.error().contains("outbound_allow"), "{refused:?}");
    }
    assert_eq!(
        tenant.get("/v1/instances").json,
        json!([]),
        "nothing created"
    );

    let created = tenant.post(
        "/v1/instances",
        &json!({ "integration": "fetcher@1", "config": { "target": fake.url } }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/instances/{id}");
    let patched = tenant.patch(&path, &json!({ "outbound_allow": ["*"] }));
    assert_eq!(patched.status, 403, "{patched:?}");
    assert!(patched.error().contains("outbound_allow"), "{patched:?}");
    assert_eq!(tenant.get(&path).json["outbound_allow"], json!([]));

    // Without an addition the declared host is still not operator-allowed.
    enable(&server, &id);
    let refused = post_json(&server, &format!("/hooks/{id}/fetch"), &json!({}), &[]);
    assert_eq!(refused.status, 500, "{refused:?}");
    assert!(fake.hits().is_empty());

    // The operator adds "*"; a tenant may still change its own config, and
    // that keeps the operator's addition.
    let opened = api.patch(&path, &json!({ "outbound_allow": ["*"] }));
    assert_eq!(opened.status, 200, "{opened:?}");
    let kept = tenant.patch(&path, &json!({ "config": { "target": fake.url } }));
    assert_eq!(kept.status, 200, "{kept:?}");
    assert_eq!(kept.json["outbound_allow"], json!(["*"]));
    let answer = post_json(&server, &format!("/hooks/{id}/fetch"), &json!({}), &[]);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(fake.hits().len(), 1);

    // "*" does not widen past what fixture-fetch declares: 127.0.0.2 is
    // loopback (refused before any connection either way), but the first
    // refusal is the undeclared host.
    let port = fake.url.rsplit(':').next().unwrap();
    let other = format!("http://127.0.0.2:{port}/");
    let moved = api.patch(&path, &json!({ "config": { "target": other } }));
    assert_eq!(moved.status, 200, "{moved:?}");
    let refused = post_json(&server, &format!("/hooks/{id}/fetch"), &json!({}), &[]);
    assert_eq!(refused.status, 500, "{refused:?}");
    let record = api.get(&format!("/v1/executions/{}", refused.execution_id()));
    let logs = record.json["steps"][0]["logs"].to_string();
    assert!(
        logs.contains("not declared by component fixture-fetch@1.0.0"),
        "{logs}"
    );
    assert_eq!(fake.hits().len(), 1, "the refused request never left");
}
