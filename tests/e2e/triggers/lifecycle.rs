//! Deploy and teardown: a failed deploy leaves the instance
//! `deploy_failed` with the execution shown; webhooks of such an instance
//! answer 404.

use serde_json::json;

use super::{instance, post_json, server};

const FAILING_DEPLOY: &str = r#"
name: fragile
version: 1
flows:
  - name: deploy
    trigger: { type: deploy }
    steps:
      - id: register
        component: echo@1.0.0
        action: fail
        input: { kind: upstream, message: "crm is down" }
  - name: hook
    trigger: { type: webhook }
    steps:
      - id: a
        component: echo@1.0.0
        action: echo
        input: "{{ trigger.body }}"
"#;

#[test]
fn a_failed_deploy_leaves_the_instance_deploy_failed() {
    let server = server();
    let created = instance(&server, FAILING_DEPLOY, json!({}), json!({}));
    let id = created["id"].as_str().unwrap();
    let enabled = server.api().enable(id);
    assert_eq!(enabled.json["status"], "deploy_failed", "{enabled:?}");
    let execution = enabled.json["last_lifecycle_execution"]
        .as_str()
        .expect("the deploy execution")
        .to_owned();

    let shown = server.weft(["instance", "show", id]);
    assert_eq!(shown.code, Some(0), "{shown:?}");
    assert!(shown.stdout.contains("deploy_failed"), "{}", shown.stdout);
    assert!(shown.stdout.contains(&execution), "{}", shown.stdout);

    let refused = post_json(&server, &format!("/hooks/{id}/hook"), &json!({}), &[]);
    assert_eq!(refused.status, 404, "{refused:?}");
}

fn versioned(version: u32) -> String {
    format!(
        r#"
name: evolving
version: {version}
config:
  - {{ key: recorder, type: string, required: true }}
flows:
  - name: deploy
    trigger: {{ type: deploy }}
    steps:
      - id: announce
        component: http@1.0.0
        action: request
        input: {{ method: POST, url: "{{{{ config.recorder }}}}/deploy/{version}", json: {{ instance: "{{{{ instance.id }}}}" }} }}
"#
    )
}

#[test]
fn upgrading_an_active_instance_re_runs_deploy() {
    let recorder = super::fake::Fake::recorder();
    let server = server();
    let id = super::enabled(
        &server,
        &versioned(1),
        json!({ "recorder": recorder.url }),
        json!({}),
    );
    assert!(recorder.hits().iter().any(|h| h.path == "/deploy/1"));
    let pushed = server.api().push_integration(&versioned(2));
    assert_eq!(pushed.status, 201, "{pushed:?}");
    let upgraded = server.api().patch(
        &format!("/v1/instances/{id}"),
        &json!({ "integration": "evolving@2" }),
    );
    assert_eq!(upgraded.status, 200, "{upgraded:?}");
    assert_eq!(upgraded.json["integration"], "evolving@2");
    // Deploy runs after the answer (unless it was quicker than that).
    assert!(
        matches!(
            upgraded.json["status"].as_str(),
            Some("deploying" | "active")
        ),
        "{upgraded:?}"
    );
    let settled = server.api().wait_settled(&id);
    assert_eq!(settled.json["status"], "active", "{settled:?}");
    assert!(
        recorder.hits().iter().any(|h| h.path == "/deploy/2"),
        "deploy of version 2 ran"
    );
    let other = server.api().patch(
        &format!("/v1/instances/{id}"),
        &json!({ "integration": "fragile@1" }),
    );
    assert_eq!(other.status, 422, "{other:?}");
}
