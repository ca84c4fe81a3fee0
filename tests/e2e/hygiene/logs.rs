//! The server log after retries, failures, template errors and callbacks
//! holds no secret in any form, and the callback URL only as scheme, host
//! and path; the callback's outcome is shown by the API and the CLI.

use serde_json::json;

use super::{assert_clean, instance, server};
use crate::executions::finished;
use crate::triggers::fake::Fake;
use crate::triggers::{FLOW_DEADLINE, post_json};

const CALLBACK_PASSWORD: &str = "cb-Pass-5e4d3c2b1a";
const CALLBACK_TOKEN: &str = "cb-Token-a1b2c3d4e5";

#[test]
fn nothing_a_step_produces_reaches_the_server_log_unredacted() {
    let receiver = Fake::recorder();
    let server = server("");
    let id = instance(&server, json!({}));
    let port = receiver.url.rsplit(':').next().unwrap();
    let callback = format!(
        "http://hook-user:{CALLBACK_PASSWORD}@127.0.0.1:{port}/cb/done?token={CALLBACK_TOKEN}"
    );
    let answer = post_json(
        &server,
        &format!("/hooks/{id}/noisy"),
        &json!({ "n": 1 }),
        &[("x-weft-callback", &callback)],
    );
    assert_eq!(answer.status, 202, "{answer:?}");
    let exec = answer.execution_id();

    let api = server.api();
    let done = finished(&api, &exec);
    assert_eq!(done["status"], "failed", "{done:#}");
    let retried = crate::executions::step(&done, "retried");
    assert_eq!(retried["attempts"], 3, "{done:#}");
    assert_eq!(
        crate::executions::step(&done, "templated")["error"]["code"],
        "template"
    );
    // The callback is delivered, and its outcome shown.
    let hit = receiver
        .wait_for(FLOW_DEADLINE, |h| h.path == "/cb/done")
        .expect("callback delivered");
    assert_eq!(hit.body["execution_id"], exec);
    let callback_secrets = [CALLBACK_PASSWORD, CALLBACK_TOKEN];
    // The callback's log line is the last one this run writes.
    assert!(
        server.wait_for_stderr("/cb/done", FLOW_DEADLINE),
        "the callback is logged with its path: {}",
        server.stderr()
    );
    let stderr = server.stderr();
    assert!(stderr.contains("retrying step"), "{stderr}");
    assert_clean("the server log", &stderr, &callback_secrets);

    let mut shown = json!(null);
    let recorded = crate::server::poll(FLOW_DEADLINE, || {
        shown = api.get(&format!("/v1/executions/{exec}")).json;
        shown["callback_outcome"].is_string()
    });
    assert!(recorded, "no callback_outcome: {shown:#}");
    assert!(
        shown["callback_outcome"]
            .as_str()
            .unwrap()
            .starts_with("delivered: HTTP 200 (attempt 1 of 3)"),
        "{shown:#}"
    );
    assert_eq!(
        shown["callback"],
        format!("http://127.0.0.1:{port}/cb/done"),
        "scheme, host and path only"
    );
    let cli = server.weft(["exec", "show", &exec]);
    assert_eq!(cli.code, Some(1), "a failed execution: {cli:?}");
    assert!(
        cli.stdout.contains(&format!(
            "callback     http://127.0.0.1:{port}/cb/done: delivered: HTTP 200 (attempt 1 of 3)"
        )),
        "{}",
        cli.stdout
    );
    assert_clean(
        "the execution record",
        &shown.to_string(),
        &callback_secrets,
    );
    assert_clean("weft exec show", &cli.stdout, &callback_secrets);
    assert_clean("the callback body", &hit.body.to_string(), &[]);
}
