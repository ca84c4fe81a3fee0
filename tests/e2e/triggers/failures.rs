//! What a flow and its caller see when a step fails: the kind of error
//! (`steps.<id>.error`), the generic or declared answer of a failed sync
//! flow, the failure counter and the integration's error flow.

use serde_json::json;

use super::fake::Fake;
use super::{enabled, post_json, server};

/// A flow calling the fake at `trigger.body.path` with `on_error:
/// continue` and answering with what it saw of the error.
const KINDS: &str = r#"
name: kinds
version: 1
config:
  - { key: url, type: string, required: true }
flows:
  - name: call
    trigger: { type: webhook, mode: sync }
    steps:
      - id: call
        component: http@1.0.0
        action: request
        on_error: continue
        input: { method: GET, url: "{{ config.url }}{{ trigger.body.path }}" }
      - id: bad
        component: echo@1.0.0
        action: fail
        on_error: continue
        input: { kind: invalid-input, message: no sku }
      - id: reply
        respond:
          status: 200
          body: { call: "{{ steps.call.error }}", bad: "{{ steps.bad.error }}" }
"#;

#[test]
fn a_flow_sees_the_kind_retryability_and_upstream_status_of_an_error() {
    let fake = Fake::start(|hit| match hit.path.as_str() {
        "/busy" => (503, json!({ "error": "try later" })),
        _ => (404, json!({ "error": "no such thing" })),
    });
    let server = server();
    let id = enabled(&server, KINDS, json!({ "url": fake.url }), json!({}));
    let path = format!("/hooks/{id}/call");

    let busy = post_json(&server, &path, &json!({ "path": "/busy" }), &[]);
    assert_eq!(busy.status, 200, "{busy:?}");
    let call = &busy.json["call"];
    assert_eq!(call["code"], "guest", "{call}");
    assert_eq!(call["kind"], "upstream", "{call}");
    assert_eq!(call["retryable"], true, "{call}");
    assert_eq!(call["status"], 503, "{call}");
    assert!(
        call["message"].as_str().unwrap().contains("HTTP 503"),
        "{call}"
    );
    let bad = &busy.json["bad"];
    assert_eq!(bad["kind"], "invalid-input", "{bad}");
    assert_eq!(bad["retryable"], false, "{bad}");
    assert!(
        bad.get("status").is_none(),
        "no HTTP call, no status: {bad}"
    );

    let missing = post_json(&server, &path, &json!({ "path": "/gone" }), &[]);
    assert_eq!(missing.status, 200, "{missing:?}");
    let call = &missing.json["call"];
    assert_eq!(call["kind"], "fatal", "{call}");
    assert_eq!(call["retryable"], false, "{call}");
    assert_eq!(call["status"], 404, "{call}");
}
