//! Declared hosts from instance config: a component declaring
//! `{{ config.base_url }}` reaches the host of each instance's `base_url`
//! (within the operator allowlist) and nothing else; an instance without
//! the key reaches nothing.

use serde_json::{Value, json};

use crate::executions::{finished, step};
use crate::server::{ServerOptions, TestServer};
use crate::triggers::fake::Fake;
use crate::triggers::{LOOPBACK_CONFIG, enabled, post_json};

const INTEGRATION: &str = r#"
name: config-host
version: 1
config:
  - { key: base_url, type: string }
flows:
  - name: get
    trigger: { type: webhook }
    steps:
      - id: fetch
        component: fixture-config-host@1.0.0
        action: fetch
        input: { url: "{{ trigger.body.url }}" }
"#;

fn fetch(server: &TestServer, instance: &str, url: &str) -> Value {
    let answer = post_json(
        server,
        &format!("/hooks/{instance}/get"),
        &json!({ "url": url }),
        &[],
    );
    assert_eq!(answer.status, 202, "{answer:?}");
    finished(&server.api(), &answer.execution_id())
}

fn logs(done: &Value) -> String {
    step(done, "fetch")["logs"].to_string()
}

#[test]
fn a_templated_host_is_resolved_from_each_instances_config() {
    let ours = Fake::start(|_| (200, json!({ "ours": true })));
    let other = Fake::start(|_| (200, json!({ "other": true })));
    let server = TestServer::start(ServerOptions {
        config: Some(LOOPBACK_CONFIG.to_owned()),
        ..ServerOptions::with_builtins()
    });
    let bytes = std::fs::read(weft_tests::component_path("fixture-config-host"))
        .expect("read fixture-config-host.wasm");
    let pushed = server.api().push_component(bytes);
    assert!(pushed.status == 201 || pushed.status == 200, "{pushed:?}");
    let described = server.api().get("/v1/components/fixture-config-host/1.0.0");
    assert_eq!(
        described.json["hosts"],
        json!(["{{ config.base_url }}"]),
        "{described:?}"
    );
    let with_url = enabled(
        &server,
        INTEGRATION,
        json!({ "base_url": format!("{}/api", ours.url) }),
        json!({}),
    );

    // The configured host is reached.
    let done = fetch(&server, &with_url, &format!("{}/api/items", ours.url));
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(step(&done, "fetch")["output"]["status"], 200, "{done:#}");
    assert!(ours.hits().iter().any(|h| h.path == "/api/items"));

    // Another loopback host the operator allows is not declared.
    let done = fetch(&server, &with_url, &format!("{}/x", other.url));
    assert_eq!(done["status"], "failed", "{done:#}");
    let other_port = other.url.rsplit(':').next().unwrap();
    assert!(
        logs(&done).contains(&format!(
            "host \\\"127.0.0.1:{other_port}\\\" not declared by component fixture-config-host@1.0.0"
        )),
        "{done:#}"
    );
    assert!(other.hits().is_empty());

    // An instance without base_url reaches nothing, not everything.
    let without = enabled(&server, INTEGRATION, json!({}), json!({}));
    let done = fetch(&server, &without, &format!("{}/api/items", ours.url));
    assert_eq!(done["status"], "failed", "{done:#}");
    assert!(
        logs(&done).contains(
            "not declared by component fixture-config-host@1.0.0 (it declares no hosts; {{ config.base_url }} names no host in this instance's config)"
        ),
        "{done:#}"
    );
    assert_eq!(ours.hits().len(), 1);
}
