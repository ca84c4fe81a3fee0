//! Webhooks: sync and async answers, failures, timeouts, durability,
//! idempotency, HMAC, callbacks, and the 400/401/404/413 refusals.

use serde_json::{Value, json};

use super::fake::Fake;
use super::{FLOW_DEADLINE, enabled, hook, post_json, server};

/// Flows over echo and http covering each webhook mode; `record` steps
/// POST to the recorder so the test sees each run end.
const HOOKS: &str = r#"
name: hooks
version: 1
config:
  - { key: recorder, type: string, required: true }
  - { key: signing_key, type: secret, required: true }
flows:
  - name: async
    trigger: { type: webhook }
    steps:
      - id: nap
        component: echo@1.0.0
        action: sleep
        input: { ms: "{{ (trigger.query.nap or 0) | int }}" }
      - id: record
        component: http@1.0.0
        action: request
        input:
          method: POST
          url: "{{ config.recorder }}/async"
          json: { execution: "{{ execution.id }}", body: "{{ trigger.body }}", key: "{{ trigger.headers['idempotency-key'] }}" }
  - name: sync
    trigger: { type: webhook, mode: sync, timeout: 30s }
    steps:
      - id: echo
        component: echo@1.0.0
        action: echo
        input:
          body: "{{ trigger.body }}"
          method: "{{ trigger.method }}"
          query: "{{ trigger.query }}"
          custom: "{{ trigger.headers['x-custom'] }}"
  - name: respond
    trigger: { type: webhook, mode: sync }
    steps:
      - id: reply
        respond:
          status: 201
          headers: { x-reply: "yes" }
          body: { hello: "{{ trigger.body.name }}" }
  - name: respond_early
    trigger: { type: webhook, mode: sync }
    steps:
      - id: reply
        respond: { status: 201, body: { hello: "{{ trigger.body.name }}" } }
      - id: nap
        component: echo@1.0.0
        action: sleep
        input: { ms: 3000 }
  - name: failing
    trigger: { type: webhook, mode: sync }
    steps:
      - id: boom
        component: echo@1.0.0
        action: fail
        input: { kind: fatal, message: card declined }
  - name: slow
    trigger: { type: webhook, mode: sync, timeout: 500ms }
    steps:
      - id: nap
        component: echo@1.0.0
        action: sleep
        input: { ms: 2000 }
      - id: record
        component: http@1.0.0
        action: request
        input: { method: POST, url: "{{ config.recorder }}/slow", json: { execution: "{{ execution.id }}" } }
  - name: signed
    trigger:
      type: webhook
      auth: { hmac_sha256: { header: X-Signature, secret: "{{ config.signing_key }}" } }
    steps:
      - id: record
        component: http@1.0.0
        action: request
        input: { method: POST, url: "{{ config.recorder }}/signed", json: "{{ trigger.body }}" }
"#;

const KEY: &str = "s3cret-signing-key";

fn setup(recorder: &Fake) -> (crate::server::TestServer, String) {
    let server = server();
    let id = enabled(
        &server,
        HOOKS,
        json!({ "recorder": recorder.url }),
        json!({ "signing_key": KEY }),
    );
    (server, id)
}

fn recorded_execution(recorder: &Fake, path: &str, id: &str) -> bool {
    recorder
        .wait_for(FLOW_DEADLINE, |h| {
            h.path == path && h.body["execution"] == id
        })
        .is_some()
}

#[test]
fn sync_async_failure_timeout_and_refusals() {
    let recorder = Fake::recorder();
    let (server, id) = setup(&recorder);

    // Sync: the last step's output, with method, query and headers.
    let sync = hook(
        &server,
        "PUT",
        &format!("/hooks/{id}/sync?a=1&a=2&b=x"),
        &[("X-Custom", "hi")],
        Some((br#"{"n": 7}"#.to_vec(), "application/json")),
    );
    assert_eq!(sync.status, 200, "{sync:?}");
    assert_eq!(
        sync.json,
        json!({ "body": { "n": 7 }, "method": "PUT", "query": { "a": ["1", "2"], "b": "x" }, "custom": "hi" })
    );
    assert!(sync.headers.contains_key("x-weft-execution-id"));
    // GET with no body; a text body stays text.
    let get = hook(&server, "GET", &format!("/hooks/{id}/sync"), &[], None);
    assert_eq!(get.json["method"], "GET", "{get:?}");
    assert_eq!(get.json["body"], Value::Null);
    let text = hook(
        &server,
        "POST",
        &format!("/hooks/{id}/sync"),
        &[],
        Some((b"plain words".to_vec(), "text/plain")),
    );
    assert_eq!(text.json["body"], "plain words", "{text:?}");

    // A respond step sets status, headers and body.
    let responded = post_json(
        &server,
        &format!("/hooks/{id}/respond"),
        &json!({ "name": "ada" }),
        &[],
    );
    assert_eq!(responded.status, 201, "{responded:?}");
    assert_eq!(responded.json, json!({ "hello": "ada" }));
    assert_eq!(responded.headers["x-reply"], "yes");

    // A failed flow: 500 with the execution id and a generic error; the
    // step's error stays on the execution.
    let failed = post_json(&server, &format!("/hooks/{id}/failing"), &json!({}), &[]);
    assert_eq!(failed.status, 500, "{failed:?}");
    assert_eq!(failed.json["error"], "flow failed", "{failed:?}");
    assert!(
        !failed.json.to_string().contains("card declined"),
        "{failed:?}"
    );
    let record = server
        .api()
        .get(&format!("/v1/executions/{}", failed.execution_id()));
    assert!(
        record.json["error"]
            .as_str()
            .unwrap()
            .contains("card declined"),
        "{record:?}"
    );

    // Past the timeout: 202 with the id, and the run goes on to the end.
    let slow = post_json(&server, &format!("/hooks/{id}/slow"), &json!({}), &[]);
    assert_eq!(slow.status, 202, "{slow:?}");
    let slow_id = slow.execution_id();
    assert_eq!(
        slow.headers["location"],
        format!("/v1/executions/{slow_id}").as_str()
    );
    assert!(
        recorded_execution(&recorder, "/slow", &slow_id),
        "the timed-out run finished"
    );

    // Async: 202 + Location, then the run.
    let accepted = post_json(
        &server,
        &format!("/hooks/{id}/async"),
        &json!({ "x": 1 }),
        &[],
    );
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let exec = accepted.execution_id();
    assert_eq!(
        accepted.headers["location"],
        format!("/v1/executions/{exec}").as_str()
    );
    assert!(recorded_execution(&recorder, "/async", &exec));

    // Refusals.
    let malformed = hook(
        &server,
        "POST",
        &format!("/hooks/{id}/sync"),
        &[],
        Some((b"{oops".to_vec(), "application/json")),
    );
    assert_eq!(malformed.status, 400, "{malformed:?}");
    assert!(
        malformed.json["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON body: key must be a string"),
        "{malformed:?}"
    );
    let big = hook(
        &server,
        "POST",
        &format!("/hooks/{id}/async"),
        &[],
        Some((vec![b'a'; 7 << 20], "text/plain")),
    );
    assert_eq!(big.status, 413, "{big:?}");
    assert_eq!(
        post_json(&server, &format!("/hooks/{id}/nope"), &json!({}), &[]).status,
        404
    );
    assert_eq!(
        post_json(
            &server,
            "/hooks/01900000-0000-7000-8000-000000000000/sync",
            &json!({}),
            &[]
        )
        .status,
        404
    );
    let no_pre = post_json(&server, &format!("/hooks/{id}"), &json!({}), &[]);
    assert_eq!(no_pre.status, 404);
    assert!(
        no_pre.json["error"]
            .as_str()
            .unwrap()
            .contains("no preprocess flow"),
        "{no_pre:?}"
    );
    let bad_callback = post_json(
        &server,
        &format!("/hooks/{id}/async"),
        &json!({}),
        &[("X-Weft-Callback", "ftp://x")],
    );
    assert_eq!(bad_callback.status, 400, "{bad_callback:?}");

    // A disabled instance answers 404 and runs nothing.
    let disabled = server.api().disable(&id);
    assert_eq!(disabled.json["status"], "disabled", "{disabled:?}");
    let gone = post_json(
        &server,
        &format!("/hooks/{id}/async"),
        &json!({ "after": "disable" }),
        &[],
    );
    assert_eq!(gone.status, 404, "{gone:?}");
    assert!(
        recorder
            .hits()
            .iter()
            .all(|h| h.body["body"]["after"] != "disable")
    );
}

#[test]
fn idempotency_keys_return_the_first_execution() {
    let recorder = Fake::recorder();
    let (server, id) = setup(&recorder);
    let key = [("Idempotency-Key", "order-42")];
    let first = post_json(
        &server,
        &format!("/hooks/{id}/async"),
        &json!({ "n": 1 }),
        &key,
    );
    let second = post_json(
        &server,
        &format!("/hooks/{id}/async"),
        &json!({ "n": 2 }),
        &key,
    );
    assert_eq!(first.status, 202);
    assert_eq!(second.status, 202);
    assert_eq!(first.execution_id(), second.execution_id());
    // The repeat says so, as the manual run route does.
    assert!(first.headers.get("idempotent-replayed").is_none());
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert!(recorded_execution(
        &recorder,
        "/async",
        &first.execution_id()
    ));
    // A later request without a key runs and is recorded; by then the
    // repeat would have been too, had it started anything.
    let marker = post_json(
        &server,
        &format!("/hooks/{id}/async?nap=300"),
        &json!({ "n": 3 }),
        &[],
    );
    assert!(recorded_execution(
        &recorder,
        "/async",
        &marker.execution_id()
    ));
    let runs = recorder
        .hits()
        .into_iter()
        .filter(|h| h.body["key"] == "order-42")
        .count();
    assert_eq!(runs, 1, "one execution for the key");

    // Sync: the repeat answers the stored output.
    let a = post_json(
        &server,
        &format!("/hooks/{id}/sync"),
        &json!({ "v": "first" }),
        &[("Idempotency-Key", "s-1")],
    );
    let b = post_json(
        &server,
        &format!("/hooks/{id}/sync"),
        &json!({ "v": "second" }),
        &[("Idempotency-Key", "s-1")],
    );
    assert_eq!(a.status, 200);
    assert_eq!(b.json, a.json, "the first execution's output");
    assert_eq!(
        a.headers["x-weft-execution-id"],
        b.headers["x-weft-execution-id"]
    );
}

#[test]
fn hmac_signatures_are_checked_before_anything_runs() {
    let recorder = Fake::recorder();
    let (server, id) = setup(&recorder);
    let path = format!("/hooks/{id}/signed");
    let body = |n: &str| json!({ "n": n }).to_string().into_bytes();
    let sig = |b: &[u8]| weft::triggers::signature::sign(KEY.as_bytes(), b);

    let missing = hook(
        &server,
        "POST",
        &path,
        &[],
        Some((body("missing"), "application/json")),
    );
    assert_eq!(missing.status, 401, "{missing:?}");
    assert!(
        missing.json["error"]
            .as_str()
            .unwrap()
            .contains("missing signature header \"x-signature\""),
        "{missing:?}"
    );
    let wrong = sig(&body("other"));
    let bad = hook(
        &server,
        "POST",
        &path,
        &[("X-Signature", &wrong)],
        Some((body("bad"), "application/json")),
    );
    assert_eq!(bad.status, 401, "{bad:?}");
    let garbage = hook(
        &server,
        "POST",
        &path,
        &[("X-Signature", "zz")],
        Some((body("garbage"), "application/json")),
    );
    assert_eq!(garbage.status, 401, "{garbage:?}");

    let good_sig = format!("sha256={}", sig(&body("good")));
    let good = hook(
        &server,
        "POST",
        &path,
        &[("X-Signature", &good_sig)],
        Some((body("good"), "application/json")),
    );
    assert_eq!(good.status, 202, "{good:?}");
    let plain_sig = sig(&body("plain"));
    let plain = hook(
        &server,
        "POST",
        &path,
        &[("X-Signature", &plain_sig)],
        Some((body("plain"), "application/json")),
    );
    assert_eq!(plain.status, 202, "{plain:?}");
    assert!(
        recorder
            .wait_for(FLOW_DEADLINE, |h| h.body["n"] == "good")
            .is_some()
    );
    assert!(
        recorder
            .wait_for(FLOW_DEADLINE, |h| h.body["n"] == "plain")
            .is_some()
    );
    let seen: Vec<Value> = recorder
        .hits()
        .into_iter()
        .map(|h| h.body["n"].clone())
        .collect();
    assert!(
        !seen.contains(&json!("missing"))
            && !seen.contains(&json!("bad"))
            && !seen.contains(&json!("garbage")),
        "{seen:?}"
    );
}

#[test]
fn callbacks_are_delivered_to_allowed_hosts_only() {
    let recorder = Fake::recorder();
    let receiver = Fake::recorder();
    let (server, id) = setup(&recorder);
    let url = format!("{}/done?token=t1", receiver.url);
    let accepted = post_json(
        &server,
        &format!("/hooks/{id}/async"),
        &json!({ "cb": 1 }),
        &[("X-Weft-Callback", &url)],
    );
    assert_eq!(accepted.status, 202);
    let exec = accepted.execution_id();
    let delivered = receiver
        .wait_for(FLOW_DEADLINE, |h| h.path == "/done")
        .expect("the callback arrives");
    assert_eq!(delivered.query, "token=t1");
    assert_eq!(delivered.body["execution_id"], exec.as_str());
    assert_eq!(delivered.body["status"], "succeeded");
    assert_eq!(delivered.body["output"]["status"], 200, "{delivered:?}");
    assert!(server.wait_for_stderr(&exec, FLOW_DEADLINE));
    assert!(
        server.wait_for_stderr("delivered: HTTP 200 (attempt 1 of 3)", FLOW_DEADLINE),
        "{}",
        server.stderr()
    );

    // 127.0.0.2 is loopback but not in the allowlist: refused, never sent.
    let port = receiver.url.rsplit(':').next().unwrap();
    let refused_url = format!("http://127.0.0.2:{port}/nope");
    let refused = post_json(
        &server,
        &format!("/hooks/{id}/async"),
        &json!({ "cb": 2 }),
        &[("X-Weft-Callback", &refused_url)],
    );
    assert_eq!(refused.status, 202);
    assert!(
        server.wait_for_stderr(
            &format!("refused: host \"127.0.0.2:{port}\" is not allowed"),
            FLOW_DEADLINE
        ),
        "{}",
        server.stderr()
    );
    assert!(receiver.hits().iter().all(|h| h.path != "/nope"));
}

#[test]
fn an_acknowledged_webhook_survives_kill_9() {
    let recorder = Fake::recorder();
    let (mut server, id) = setup(&recorder);
    let accepted = post_json(
        &server,
        &format!("/hooks/{id}/async?nap=1500"),
        &json!({ "durable": true }),
        &[],
    );
    assert_eq!(accepted.status, 202);
    let exec = accepted.execution_id();
    server.restart_after_kill9();
    assert!(
        recorded_execution(&recorder, "/async", &exec),
        "the acknowledged execution completes after the restart"
    );
}

#[test]
fn a_sync_answer_is_on_disk_before_it_is_sent() {
    // A new sync execution is not flushed at its submit; the answer waits
    // for a flush that covers it. `respond_early` answers before any step
    // is persisted and then naps, so that flush is the answer's own: kill
    // -9 right after the last answer (well within sled's own 10 ms
    // background flush) and every answered execution must still exist.
    let recorder = Fake::recorder();
    let (mut server, id) = setup(&recorder);
    let answered: Vec<String> = (0..3)
        .map(|n| {
            let responded = post_json(
                &server,
                &format!("/hooks/{id}/respond_early"),
                &json!({ "name": format!("caller-{n}") }),
                &[],
            );
            assert_eq!(responded.status, 201, "{responded:?}");
            responded.headers["x-weft-execution-id"]
                .to_str()
                .expect("execution id header")
                .to_owned()
        })
        .collect();
    server.restart_after_kill9();
    let api = server.api();
    for exec in &answered {
        let stored = api.get(&format!("/v1/executions/{exec}"));
        assert_eq!(
            stored.status, 200,
            "answered execution {exec} lost: {stored:?}"
        );
        assert_eq!(stored.json["flow"], "respond_early", "{stored:?}");
    }
}
