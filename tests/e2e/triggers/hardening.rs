//! Hostile webhook callers and weak instance settings (issue 10): signing
//! secrets too short to prove anything, `HEAD` requests, sync flows that
//! wait longer than the API's request timeout, and outbound grants after a
//! restart.

use serde_json::{Value, json};

use super::fake::Fake;
use super::{LOOPBACK_CONFIG, enabled, hook, post_json, server};
use crate::server::{ServerOptions, TestServer};

/// A signed async flow over echo, and a sync flow that sleeps
/// `trigger.query.ms` inside a 3 s timeout.
const SIGNED: &str = r#"
name: signed
version: 1
config:
  - { key: signing_key, type: secret, required: true }
flows:
  - name: signed
    trigger:
      type: webhook
      auth: { hmac_sha256: { header: X-Signature, secret: "{{ config.signing_key }}" } }
    steps:
      - id: a
        component: echo@1.0.0
        action: echo
        input: { body: "{{ trigger.body }}" }
  - name: nap
    trigger: { type: webhook, mode: sync, timeout: 3s }
    steps:
      - id: nap
        component: echo@1.0.0
        action: sleep
        input: { ms: "{{ trigger.query.ms | int }}" }
      - id: done
        component: echo@1.0.0
        action: echo
        input: { slept: "{{ trigger.query.ms | int }}" }
"#;

const KEY: &str = "a-long-enough-signing-key";

fn executions(server: &TestServer, id: &str) -> Vec<Value> {
    let listed = server.api().get(&format!("/v1/executions?instance={id}"));
    listed.json["executions"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed:?}"))
        .clone()
}

/// Issue 10 item 6: an empty or short signing secret is refused at create
/// and at update (422 naming the secret), so `HMAC(key="", body)` can never
/// be accepted; the stored secret is kept when an update is refused.
#[test]
fn short_signing_secrets_are_refused_at_create_and_update() {
    let server = server();
    let api = server.api();
    assert_eq!(api.push_integration(SIGNED).status, 201);
    assert_eq!(
        api.post("/v1/tenants", &json!({ "name": "acme" })).status,
        201
    );
    for weak in ["", "fifteen-bytes!!"] {
        let refused = api.post(
            "/v1/instances",
            &json!({ "integration": "signed@1", "tenant": "acme", "secrets": { "signing_key": weak } }),
        );
        assert_eq!(refused.status, 422, "{weak:?}: {refused:?}");
        assert!(
            refused.error().contains("secrets.signing_key"),
            "{weak:?}: {refused:?}"
        );
        assert!(refused.error().contains("at least 16"), "{refused:?}");
    }
    assert_eq!(api.get("/v1/instances").json, json!([]), "nothing created");

    let id = enabled(&server, SIGNED, json!({}), json!({ "signing_key": KEY }));
    let emptied = api.patch(
        &format!("/v1/instances/{id}"),
        &json!({ "secrets": { "signing_key": "" } }),
    );
    assert_eq!(emptied.status, 422, "{emptied:?}");
    assert!(
        emptied.error().contains("secrets.signing_key"),
        "{emptied:?}"
    );

    // The old secret still guards the flow: a signature under the empty
    // key is refused, one under the real key accepted.
    let body = br#"{"n": 1}"#.to_vec();
    let forged = weft::triggers::signature::sign(b"", &body);
    let path = format!("/hooks/{id}/signed");
    let refused = hook(
        &server,
        "POST",
        &path,
        &[("X-Signature", &forged)],
        Some((body.clone(), "application/json")),
    );
    assert_eq!(refused.status, 401, "{refused:?}");
    let good = weft::triggers::signature::sign(KEY.as_bytes(), &body);
    let accepted = hook(
        &server,
        "POST",
        &path,
        &[("X-Signature", &good)],
        Some((body, "application/json")),
    );
    assert_eq!(accepted.status, 202, "{accepted:?}");
}

/// Issue 10 item 13: `HEAD` on a webhook answers 405 with `Allow` and
/// starts nothing (axum would otherwise route it to the GET handler).
#[test]
fn head_requests_run_nothing() {
    let server = server();
    let id = enabled(&server, SIGNED, json!({}), json!({ "signing_key": KEY }));
    for path in [format!("/hooks/{id}/nap?ms=0"), format!("/hooks/{id}")] {
        let head = hook(&server, "HEAD", &path, &[], None);
        assert_eq!(head.status, 405, "{path}: {head:?}");
        let allow = head.headers["allow"].to_str().unwrap();
        assert!(allow.contains("POST") && allow.contains("GET"), "{allow}");
        assert!(!allow.contains("HEAD"), "{allow}");
    }
    assert_eq!(executions(&server, &id), Vec::<Value>::new());
    // GET itself still runs the flow.
    let get = hook(&server, "GET", &format!("/hooks/{id}/nap?ms=0"), &[], None);
    assert_eq!(get.status, 200, "{get:?}");
    assert_eq!(executions(&server, &id).len(), 1);
}

/// Issue 10 item 14: with `[server] request_timeout = "1s"`, a sync flow
/// with `timeout: 3s` still answers: its output when it finishes within
/// its own timeout, else 202 with the execution id — never a bare 408.
#[test]
fn sync_flows_outlive_the_api_request_timeout() {
    let server = TestServer::start(ServerOptions {
        config: Some(format!(
            "{LOOPBACK_CONFIG}\n[server]\nrequest_timeout = \"1s\"\n"
        )),
        ..ServerOptions::with_all_builtins()
    });
    let id = enabled(&server, SIGNED, json!({}), json!({ "signing_key": KEY }));
    let done = post_json(
        &server,
        &format!("/hooks/{id}/nap?ms=1500"),
        &json!({}),
        &[],
    );
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.json, json!({ "slept": 1500 }));

    let late = post_json(
        &server,
        &format!("/hooks/{id}/nap?ms=4000"),
        &json!({}),
        &[],
    );
    assert_eq!(late.status, 202, "{late:?}");
    let execution = late.execution_id();
    let record = server.api().get(&format!("/v1/executions/{execution}"));
    assert_eq!(record.status, 200, "{record:?}");

    // The API routes keep their timeout.
    assert_eq!(server.api().get("/healthz").status, 200);
}

/// A sync flow fetching `config.target` with `fixture-fetch`.
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

/// Issue 10, "also close": after a restart, a component loaded from the
/// artifact cache gets its outbound grant from the manifest stored at
/// upload. `fixture-fetch`'s `describe()` needs 24 MiB, so under a 16 MiB
/// memory limit a fresh `describe()` fails (and would grant nothing),
/// while its steps still run.
#[test]
fn restarted_components_keep_the_stored_manifest_as_their_grant() {
    let mut server = server();
    let fake = Fake::start(|_| (200, json!({ "pong": true })));
    let fixture = std::fs::read(weft_tests::component_path(weft_tests::FIXTURE_FETCH)).unwrap();
    assert_eq!(server.api().push_component(fixture).status, 201);
    let id = enabled(&server, FETCH, json!({ "target": fake.url }), json!({}));
    let path = format!("/hooks/{id}/fetch");
    let before = post_json(&server, &path, &json!({}), &[]);
    assert_eq!(before.status, 200, "{before:?}");

    server.set_config(&format!(
        "{LOOPBACK_CONFIG}\n[sandbox.limits]\nmemory = \"16MiB\"\n"
    ));
    server.restart();
    let shown = server.api().get("/v1/components/fixture-fetch/1.0.0");
    assert_eq!(
        shown.json["hosts"],
        json!(["127.0.0.1", "localhost"]),
        "{shown:?}"
    );
    let after = post_json(&server, &path, &json!({}), &[]);
    assert_eq!(after.status, 200, "{after:?}");
    assert_eq!(after.json["status"], 200, "{after:?}");
    assert_eq!(fake.hits().len(), 2);
}
