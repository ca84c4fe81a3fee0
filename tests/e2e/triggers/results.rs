//! A sync webhook caller whose flow outlives its `timeout` reads the result
//! later from the 202's `result_url`, with no bearer token: 202 while the
//! flow runs, its stored (redacted) answer once it ended, 404 for a token
//! it does not know.

use serde_json::json;

use super::{FLOW_DEADLINE, enabled, hook};
use crate::server::{ServerOptions, TestServer, poll};

const INTEGRATION: &str = r#"
name: slowpoke
version: 1
config:
  - { key: api_key, type: secret, required: true }
flows:
  - name: slow
    trigger: { type: webhook, mode: sync, timeout: 1s }
    steps:
      - { id: nap, component: echo@1.0.0, action: sleep, input: { ms: 4000 } }
      - id: reply
        respond: { status: 201, body: { done: true, key: "{{ config.api_key }}", got: "{{ trigger.body }}" } }
"#;

#[test]
fn a_timed_out_sync_caller_reads_its_result_from_the_result_url() {
    let server = TestServer::start(ServerOptions::with_builtins());
    let id = enabled(
        &server,
        INTEGRATION,
        json!({}),
        json!({ "api_key": "sk-result-7f3a" }),
    );
    let body = Some((br#"{"order": 9}"#.to_vec(), "application/json"));
    let slow = hook(&server, "POST", &format!("/hooks/{id}/slow"), &[], body);
    assert_eq!(slow.status, 202, "{slow:?}");
    let execution = slow.execution_id();
    let url = slow.json["result_url"]
        .as_str()
        .expect("result_url")
        .to_owned();
    assert!(url.starts_with("/hooks/results/"), "{slow:?}");
    assert_eq!(slow.headers["x-weft-result-url"], url.as_str());
    // 256 random bits, base64url: nothing of the execution id in it.
    let token = url.trim_start_matches("/hooks/results/");
    assert_eq!(token.len(), 43, "{token}");
    assert!(!token.contains(&execution[..8]));

    // While it runs: 202 with the execution id and status (no token sent).
    let early = hook(&server, "GET", &url, &[], None);
    assert_eq!(early.status, 202, "{early:?}");
    assert_eq!(early.json["execution_id"], execution.as_str());

    // Once it ended: the flow's stored answer, secrets redacted.
    let mut last = None;
    let ended = poll(FLOW_DEADLINE, || {
        let answer = hook(&server, "GET", &url, &[], None);
        let done = answer.status == 201;
        last = Some(answer);
        done
    });
    let answer = last.expect("an answer");
    assert!(ended, "never finished: {answer:?}");
    assert_eq!(
        answer.json,
        json!({ "done": true, "key": "***", "got": { "order": 9 } })
    );
    assert_eq!(answer.headers["x-weft-execution-id"], execution.as_str());

    // A token it does not know (or a tampered one): 404.
    let unknown = hook(
        &server,
        "GET",
        "/hooks/results/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &[],
        None,
    );
    assert_eq!(unknown.status, 404, "{unknown:?}");
    let mut tampered = token.to_owned();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let tampered = hook(
        &server,
        "GET",
        &format!("/hooks/results/{tampered}"),
        &[],
        None,
    );
    assert_eq!(tampered.status, 404, "{tampered:?}");
}
