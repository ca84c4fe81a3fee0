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
    let enabled = server
        .api()
        .post(&format!("/v1/instances/{id}/enable"), &json!({}));
    assert_eq!(enabled.status, 200, "{enabled:?}");
    assert_eq!(enabled.json["status"], "deploy_failed");
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
