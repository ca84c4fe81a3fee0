//! Enable and disable are durable: the routes answer 202 once
//! `deploying`/`disabling` is stored, and the status follows the lifecycle
//! execution's end — across a `kill -9` in the middle of a deploy or
//! teardown step, past the request timeout, and when the client goes away.
//! The deploy and teardown steps call a [`HeldFake`] that holds the
//! request until the test releases it.

use std::io::Write as _;

use serde_json::{Value, json};

use super::fake::{Fake, HeldFake};
use super::{FLOW_DEADLINE, LOOPBACK_CONFIG, instance, post_json};
use crate::server::{OPERATOR_TOKEN, ServerOptions, TestServer};

/// Deploy calls `deploy_url`, teardown calls `teardown_url`.
const GATED: &str = r#"
name: gated
version: 1
config:
  - { key: deploy_url, type: string, required: true }
  - { key: teardown_url, type: string, required: true }
flows:
  - name: deploy
    trigger: { type: deploy }
    steps:
      - id: register
        component: http@1.0.0
        action: request
        input: { method: POST, url: "{{ config.deploy_url }}/deploy", json: { instance: "{{ instance.id }}" } }
  - name: teardown
    trigger: { type: teardown }
    steps:
      - id: unregister
        component: http@1.0.0
        action: request
        input: { method: POST, url: "{{ config.teardown_url }}/teardown", json: { instance: "{{ instance.id }}" } }
  - name: hook
    trigger: { type: webhook }
    steps:
      - { id: a, component: echo@1.0.0, action: echo, input: "{{ trigger.body }}" }
"#;

fn server_with(extra: &str) -> TestServer {
    TestServer::start(ServerOptions {
        config: Some(format!("{LOOPBACK_CONFIG}\n{extra}")),
        ..ServerOptions::with_all_builtins()
    })
}

fn gated(server: &TestServer, deploy: &str, teardown: &str) -> String {
    instance(
        server,
        GATED,
        json!({ "deploy_url": deploy, "teardown_url": teardown }),
        json!({}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn status(server: &TestServer, id: &str) -> Value {
    server.api().get(&format!("/v1/instances/{id}")).json["status"].clone()
}

/// Asserts a 202 naming the running lifecycle execution; returns its id.
fn accepted(answer: &crate::server::Resp, status: &str) -> String {
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(answer.json["status"], status, "{answer:?}");
    let execution = answer.json["execution_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no execution_id in {answer:?}"))
        .to_owned();
    assert_eq!(
        answer.headers["location"],
        format!("/v1/executions/{execution}").as_str()
    );
    execution
}

#[test]
fn enable_survives_kill9_during_a_deploy_step() {
    let held = HeldFake::start();
    let recorder = Fake::recorder();
    let mut server = server_with("");
    let id = gated(&server, &held.url, &recorder.url);
    let api = server.api();

    let answer = api.post(&format!("/v1/instances/{id}/enable"), &json!({}));
    let execution = accepted(&answer, "deploying");
    assert!(
        held.wait_arrivals("/deploy", 1, FLOW_DEADLINE),
        "the deploy step called out"
    );
    assert_eq!(status(&server, &id), "deploying");
    // Wrong state while deploying: 409 naming it, nothing started.
    for action in ["enable", "disable"] {
        let refused = api.post(&format!("/v1/instances/{id}/{action}"), &json!({}));
        assert_eq!(refused.status, 409, "{action}: {refused:?}");
        assert!(refused.error().contains("deploying"), "{refused:?}");
    }
    let hook = post_json(&server, &format!("/hooks/{id}/hook"), &json!({}), &[]);
    assert_eq!(hook.status, 404, "no webhooks while deploying: {hook:?}");

    server.kill9();
    held.release();
    server.restart_after_kill9();

    let settled = server.api().wait_settled(&id);
    assert_eq!(settled.json["status"], "active", "{settled:?}");
    assert_eq!(settled.json["last_lifecycle_execution"], execution.as_str());
    let record = server
        .api()
        .get(&format!("/v1/executions/{execution}"))
        .json;
    assert_eq!(record["status"], "succeeded", "{record:#}");
    assert_eq!(record["resumed"], 1, "resumed after the kill: {record:#}");
    let hook = post_json(&server, &format!("/hooks/{id}/hook"), &json!({}), &[]);
    assert_eq!(hook.status, 202, "active now: {hook:?}");
    // Enabling an active instance is the wrong state.
    let again = server
        .api()
        .post(&format!("/v1/instances/{id}/enable"), &json!({}));
    assert_eq!(again.status, 409, "{again:?}");
}

#[test]
fn disable_survives_kill9_during_a_teardown_step() {
    let held = HeldFake::start();
    let recorder = Fake::recorder();
    let mut server = server_with("");
    let id = gated(&server, &recorder.url, &held.url);
    assert_eq!(server.api().enable(&id).json["status"], "active");

    let answer = server
        .api()
        .post(&format!("/v1/instances/{id}/disable"), &json!({}));
    let execution = accepted(&answer, "disabling");
    assert!(
        held.wait_arrivals("/teardown", 1, FLOW_DEADLINE),
        "the teardown step called out"
    );
    // Hooks stop as soon as the instance is disabling.
    let hook = post_json(&server, &format!("/hooks/{id}/hook"), &json!({}), &[]);
    assert_eq!(hook.status, 404, "{hook:?}");

    server.kill9();
    held.release();
    server.restart_after_kill9();

    let settled = server.api().wait_settled(&id);
    assert_eq!(settled.json["status"], "disabled", "{settled:?}");
    assert_eq!(settled.json["last_lifecycle_execution"], execution.as_str());
    let record = server
        .api()
        .get(&format!("/v1/executions/{execution}"))
        .json;
    assert_eq!(record["status"], "succeeded", "{record:#}");
    // Disabling a disabled instance is the wrong state.
    let again = server
        .api()
        .post(&format!("/v1/instances/{id}/disable"), &json!({}));
    assert_eq!(again.status, 409, "{again:?}");
}

/// Sends `POST path` on a raw connection and closes it as soon as the
/// server has taken the request (`wait` returns), without reading the
/// answer.
fn post_and_hang_up(server: &TestServer, path: &str, wait: impl FnOnce()) {
    let address = server.url().trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {OPERATOR_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    )
    .expect("send");
    wait();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    drop(stream);
}

#[test]
fn the_transition_outlives_the_request_and_the_client() {
    let held = HeldFake::start();
    let recorder = Fake::recorder();
    // A deploy step slower than the request timeout.
    let server = server_with("[server]\nrequest_timeout = \"1s\"\n");

    // The answer comes at once, not after the deploy flow (which would
    // be a 408 past the request timeout).
    let timed = gated(&server, &held.url, &recorder.url);
    let answer = server
        .api()
        .post(&format!("/v1/instances/{timed}/enable"), &json!({}));
    accepted(&answer, "deploying");

    // A client that hangs up while the deploy step runs.
    let gone = gated(&server, &held.url, &recorder.url);
    post_and_hang_up(&server, &format!("/v1/instances/{gone}/enable"), || {
        assert!(
            held.wait_arrivals("/deploy", 2, FLOW_DEADLINE),
            "both deploy steps called out"
        );
    });
    assert_eq!(status(&server, &timed), "deploying");
    assert_eq!(status(&server, &gone), "deploying");

    held.release();
    for id in [&timed, &gone] {
        let settled = server.api().wait_settled(id);
        assert_eq!(settled.json["status"], "active", "{settled:?}");
    }
}
