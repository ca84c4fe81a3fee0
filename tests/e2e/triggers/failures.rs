//! What a flow and its caller see when a step fails: the kind of error
//! (`steps.<id>.error`), the generic or declared answer of a failed sync
//! flow, the failure counter and the integration's error flow.

use serde_json::{Value, json};

use super::fake::Fake;
use super::{FLOW_DEADLINE, enabled, post_json, server};

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

/// Two sync flows calling an upstream that fails: one with the generic
/// answer, one declaring its own.
const ANSWERS: &str = r#"
name: answers
version: 1
config:
  - { key: url, type: string, required: true }
flows:
  - name: plain
    trigger: { type: webhook, mode: sync }
    steps:
      - id: charge
        component: http@1.0.0
        action: request
        input: { method: POST, url: "{{ config.url }}/internal/charge", json: { id: "{{ trigger.body.id }}" } }
  - name: declared
    trigger: { type: webhook, mode: sync }
    on_failure:
      respond:
        status: 502
        headers: { x-failed-step: "{{ error.step }}" }
        body: { order: "{{ trigger.body.id }}", reason: "{{ error.kind }}", upstream: "{{ error.status }}" }
    steps:
      - id: check
        component: echo@1.0.0
        action: echo
        input: { ok: true }
      - id: charge
        component: http@1.0.0
        action: request
        input: { method: POST, url: "{{ config.url }}/internal/charge", json: { id: "{{ trigger.body.id }}" } }
"#;

#[test]
fn a_failed_sync_flow_answers_generically_or_as_declared() {
    let fake = Fake::start(|_| (503, json!({ "error": "db-7.internal is down" })));
    let server = server();
    let id = enabled(&server, ANSWERS, json!({ "url": fake.url }), json!({}));

    let plain = post_json(
        &server,
        &format!("/hooks/{id}/plain"),
        &json!({ "id": "A-1" }),
        &[],
    );
    assert_eq!(plain.status, 500, "{plain:?}");
    let execution = plain.execution_id();
    assert_eq!(
        plain.json,
        json!({ "execution_id": execution, "error": "flow failed" })
    );
    // The full error stays on the execution, for the operator.
    let record = server.api().get(&format!("/v1/executions/{execution}"));
    let error = record.json["error"].as_str().unwrap();
    assert!(error.contains("db-7.internal is down"), "{error}");
    assert!(error.contains("HTTP 503"), "{error}");

    let declared = post_json(
        &server,
        &format!("/hooks/{id}/declared"),
        &json!({ "id": "A-2" }),
        &[],
    );
    assert_eq!(declared.status, 502, "{declared:?}");
    assert_eq!(
        declared.json,
        json!({ "order": "A-2", "reason": "upstream", "upstream": 503 })
    );
    assert_eq!(declared.headers["x-failed-step"], "charge");
    let execution = declared.headers["x-weft-execution-id"].to_str().unwrap();
    let record = crate::executions::finished(&server.api(), execution);
    assert_eq!(record["status"], "failed", "{record}");
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("db-7.internal is down"),
        "{record}"
    );
    // A repeat of the request (same Idempotency-Key) gets the same answer.
    let key = [("idempotency-key", "k-1")];
    let first = post_json(
        &server,
        &format!("/hooks/{id}/declared"),
        &json!({ "id": "A-3" }),
        &key,
    );
    let again = post_json(
        &server,
        &format!("/hooks/{id}/declared"),
        &json!({ "id": "A-3" }),
        &key,
    );
    assert_eq!(first.status, 502, "{first:?}");
    assert_eq!((again.status, &again.json), (502, &first.json), "{again:?}");
}

#[test]
fn on_failure_is_checked_at_upload() {
    let server = server();
    let api = server.api();
    let bad = ANSWERS
        .replace("{{ error.kind }}", "{{ eror.kind }}")
        .replace("status: 502", "status: 1000");
    let answer = api.push_integration(&bad);
    assert_eq!(answer.status, 422, "{answer:?}");
    let details = answer.json["details"].to_string();
    assert!(
        details.contains(
            "flows[1].on_failure.respond.status: http status must be between 100 and 599"
        ),
        "{details}"
    );
    assert!(
        details.contains("flows[1].on_failure.respond.body.reason: unknown variable 'eror'"),
        "{details}"
    );
    let not_sync = ANSWERS.replace(
        "- name: declared\n    trigger: { type: webhook, mode: sync }",
        "- name: declared\n    trigger: { type: webhook }",
    );
    let answer = api.push_integration(&not_sync);
    assert_eq!(answer.status, 422, "{answer:?}");
    assert!(
        answer.json["details"]
            .to_string()
            .contains("flows[1].on_failure.respond: 'respond' only works in a flow triggered by a sync webhook"),
        "{answer:?}"
    );
    // `error` is only defined in on_failure.
    let stray = ANSWERS.replace(
        "json: { id: \"{{ trigger.body.id }}\" } }\n  - name: declared",
        "json: { id: \"{{ error.step }}\" } }\n  - name: declared",
    );
    let answer = api.push_integration(&stray);
    assert_eq!(answer.status, 422, "{answer:?}");
    assert!(
        answer.json["details"]
            .to_string()
            .contains("unknown variable 'error'"),
        "{answer:?}"
    );
}

/// A sync flow that fails at its `charge` step, and an error flow that
/// reports each failure to `/alerts` (which fails too).
const ALERTS: &str = r#"
name: alerts
version: 1
config:
  - { key: url, type: string, required: true }
flows:
  - name: order
    trigger: { type: webhook, mode: sync }
    steps:
      - id: check
        component: echo@1.0.0
        action: echo
        input: { ok: true }
      - id: charge
        component: http@1.0.0
        action: request
        input: { method: POST, url: "{{ config.url }}/charge", json: {} }
  - name: alert
    trigger: { type: error }
    steps:
      - id: report
        component: http@1.0.0
        action: request
        input: { method: POST, url: "{{ config.url }}/alerts", json: "{{ trigger.body }}" }
"#;

/// Executions of `flow` of `instance`, newest first.
fn executions_of(server: &crate::server::TestServer, instance: &str, flow: &str) -> Vec<Value> {
    let listed = server
        .api()
        .get(&format!("/v1/executions?instance={instance}&flow={flow}"));
    assert_eq!(listed.status, 200, "{listed:?}");
    listed.json["executions"].as_array().cloned().unwrap()
}

#[test]
fn a_failed_execution_is_counted_and_starts_the_error_flow_once() {
    let fake = Fake::start(|hit| match hit.path.as_str() {
        "/charge" => (402, json!({ "error": "card declined" })),
        _ => (500, json!({ "error": "pager down" })),
    });
    let server = server();
    let id = enabled(&server, ALERTS, json!({ "url": fake.url }), json!({}));
    let path = format!("/hooks/{id}/order");
    let metric = |flow: &str| {
        server.metric(&format!(
            r#"weft_executions_failed_total{{tenant="acme",integration="alerts",flow="{flow}"}}"#
        ))
    };
    assert_eq!(metric("order"), None);

    let failed = post_json(&server, &path, &json!({}), &[]);
    assert_eq!(failed.status, 500, "{failed:?}");
    let execution = failed.execution_id();
    let alert = fake
        .wait_for(FLOW_DEADLINE, |h| h.path == "/alerts")
        .expect("the error flow reported the failure");
    assert_eq!(
        alert.body["execution_id"],
        execution.as_str(),
        "{:?}",
        alert.body
    );
    assert_eq!(alert.body["flow"], "order");
    assert_eq!(alert.body["failed_step"], "charge");
    let error = alert.body["error"].as_str().unwrap();
    assert!(
        error.contains("step 'charge' failed") && error.contains("402"),
        "{error}"
    );
    assert_eq!(metric("order"), Some(1.0));

    // The error flow failed too: counted, but it starts no error flow.
    let first = executions_of(&server, &id, "alert");
    assert_eq!(first.len(), 1, "{first:?}");
    let alert_id = first[0]["id"].as_str().unwrap();
    let alert_run = crate::executions::finished(&server.api(), alert_id);
    assert_eq!(alert_run["status"], "failed", "{alert_run}");
    assert_eq!(alert_run["trigger"]["type"], "error");

    let again = post_json(&server, &path, &json!({}), &[]);
    assert_eq!(again.status, 500, "{again:?}");
    let both = executions_of(&server, &id, "alert");
    assert_eq!(
        both.len(),
        2,
        "one error flow per failure of another flow: {both:?}"
    );
    for run in &both {
        crate::executions::finished(&server.api(), run["id"].as_str().unwrap());
    }
    assert_eq!(metric("order"), Some(2.0));
    assert_eq!(metric("alert"), Some(2.0));
    assert_eq!(executions_of(&server, &id, "alert").len(), 2);
}
