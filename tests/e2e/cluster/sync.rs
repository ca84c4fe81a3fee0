//! A sync webhook whose receiving node has no free worker is run by
//! another node, and the receiving node still answers it with the flow's
//! response (learnt from the database), well within the sync timeout,
//! instead of the timeout's 202.

use std::time::{Duration, Instant};

use serde_json::json;

use super::node_with;
use crate::server::{ServerOptions, TestServer, poll};
use crate::triggers::post_json;

const BUSY: &str = r#"
name: busy
version: 1
config:
  - { key: api_key, type: secret }
flows:
  - name: nap
    trigger: { type: webhook }
    steps:
      - { id: nap, component: echo@1.0.0, action: sleep, input: { ms: 40000 } }
  - name: echo
    trigger: { type: webhook, mode: sync, timeout: 25s }
    steps:
      - id: echo
        component: echo@1.0.0
        action: echo
        input: { body: "{{ trigger.body }}", key: "{{ config.api_key }}" }
      - id: reply
        respond:
          status: 200
          body: { echoed: "{{ steps.echo }}" }
"#;

/// Executions `node` started (its `weft_queue_wait_seconds` count).
fn started(node: &TestServer) -> f64 {
    node.metric("weft_queue_wait_seconds_count").unwrap_or(0.0)
}

/// Executions `node` ran to success.
fn succeeded(node: &TestServer) -> f64 {
    node.metric(r#"weft_executions_total{status="succeeded"}"#)
        .unwrap_or(0.0)
}

#[test]
fn a_sync_webhook_run_by_another_node_is_answered_by_the_receiving_node() {
    let url = crate::pg::database();
    // A has one worker; B has the default sixteen.
    let a = node_with(
        &url,
        ServerOptions {
            config: Some("[engine]\nworkers = 1\nper_tenant = 8\n".into()),
            ..ServerOptions::with_builtins()
        },
    );
    let b = node_with(
        &url,
        ServerOptions {
            config: Some("[engine]\nper_tenant = 8\n".into()),
            ..ServerOptions::with_builtins()
        },
    );
    assert_eq!(a.api().push_integration(BUSY).status, 201);
    assert_eq!(
        a.api().post("/v1/tenants", &json!({"name": "acme"})).status,
        201
    );
    let made = a.api().post(
        "/v1/instances",
        &json!({"integration": "busy@1", "tenant": "acme", "secrets": {"api_key": "s3cret"}}),
    );
    let id = made.json["id"].as_str().unwrap().to_owned();
    assert_eq!(a.api().enable(&id).json["status"], "active");

    // Fill A's one worker with a long nap (A claims its own submit at
    // once; should B have been quicker, A takes the next one).
    for _ in 0..3 {
        let total = started(&a) + started(&b);
        let nap = post_json(&a, &format!("/hooks/{id}/nap"), &json!({}), &[]);
        assert_eq!(nap.status, 202, "{nap:?}");
        assert!(
            poll(Duration::from_secs(30), || started(&a) + started(&b)
                > total),
            "no node started the nap"
        );
        if started(&a) >= 1.0 {
            break;
        }
    }
    assert_eq!(started(&a), 1.0, "A never took a nap");

    let began = Instant::now();
    let answer = post_json(&a, &format!("/hooks/{id}/echo"), &json!({"hi": 1}), &[]);
    let took = began.elapsed();
    assert_eq!(answer.status, 200, "{answer:?} after {took:?}");
    assert_eq!(
        answer.json["echoed"]["body"],
        json!({"hi": 1}),
        "{answer:?}"
    );
    // B ran it (A's worker still naps): the answer is the stored response,
    // with the secret redacted.
    assert_eq!(succeeded(&a), 0.0, "A ran something");
    assert_eq!(succeeded(&b), 1.0, "B did not run the sync execution");
    assert_ne!(answer.json["echoed"]["key"], "s3cret", "{answer:?}");
    assert!(took < Duration::from_secs(25), "answered after {took:?}");
}
