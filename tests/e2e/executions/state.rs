//! Viewing and resetting an instance's state: `GET/DELETE
//! /v1/instances/{id}/state` (tenant-scoped, in the OpenAPI document) and
//! `weft instance state`.

use serde_json::json;

use super::{finished, start};
use crate::triggers::{enabled, server};

/// A flow keeping a cursor in instance state and a counter in its own.
const STATEFUL: &str = r#"
name: stateful
version: 1
flows:
  - name: remember
    trigger: { type: manual }
    steps:
      - id: cursor
        component: echo@1.0.0
        action: state
        input: { scope: instance, op: set, key: cursor, value: "{{ trigger.body.cursor }}" }
      - id: seen
        component: echo@1.0.0
        action: state
        input: { scope: flow, op: set, key: seen, value: 1 }
      - id: read
        component: echo@1.0.0
        action: state
        input: { scope: instance, op: get, key: previous }
"#;

#[test]
fn instance_state_can_be_viewed_and_reset() {
    let server = server();
    let api = server.api();
    let id = enabled(&server, STATEFUL, json!({}), json!({}));
    let run = start(&api, &id, "remember", &json!({ "cursor": "c-1" }));
    assert_eq!(finished(&api, &run)["status"], "succeeded");

    let path = format!("/v1/instances/{id}/state");
    let shared = api.get(&path);
    assert_eq!(shared.status, 200, "{shared:?}");
    assert_eq!(shared.json["scope"], "instance");
    assert_eq!(shared.json["entries"], json!({ "cursor": "\"c-1\"" }));
    assert!(shared.json["bytes"].as_u64().unwrap() > 0, "{shared:?}");
    let own = api.get(&format!("{path}?flow=remember"));
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(
        (&own.json["scope"], &own.json["flow"], &own.json["entries"]),
        (&json!("flow"), &json!("remember"), &json!({ "seen": "1" }))
    );

    // Bad queries name what is wrong; another tenant sees nothing.
    let unknown = api.get(&format!("{path}?scope=flow&flow=remembr"));
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert!(unknown.error().contains("did you mean"), "{unknown:?}");
    assert_eq!(api.get(&format!("{path}?scope=flow")).status, 400);
    assert_eq!(api.get(&format!("{path}?scope=execution")).status, 400);
    let other = crate::control::tenant_with_token(&api, "bolt");
    let theirs = server.api_as(Some(&other));
    assert_eq!(theirs.get(&path).status, 404);
    assert_eq!(theirs.delete(&format!("{path}?key=cursor")).status, 404);
    assert_eq!(api.get(&path).json["entries"]["cursor"], "\"c-1\"");

    // The CLI shows both scopes and deletes a key, then a whole scope.
    let shown = server.weft(["instance", "state", &id]);
    assert_eq!(shown.code, Some(0), "{shown:?}");
    assert!(
        shown.stdout.contains("cursor") && shown.stdout.contains("\"c-1\""),
        "{shown:?}"
    );
    let flow = server.weft(["instance", "state", &id, "--flow", "remember"]);
    assert!(flow.stdout.contains("seen"), "{flow:?}");
    let deleted = server.weft(["instance", "state", &id, "--delete", "cursor"]);
    assert_eq!(deleted.code, Some(0), "{deleted:?}");
    assert!(deleted.stdout.contains("deleted \"cursor\""), "{deleted:?}");
    assert_eq!(api.get(&path).json["entries"], json!({}));
    let again = server.weft(["instance", "state", &id, "--delete", "cursor"]);
    assert!(again.stdout.contains("no key \"cursor\""), "{again:?}");
    let cleared = server.weft(["instance", "state", &id, "--flow", "remember", "--clear"]);
    assert!(cleared.stdout.contains("deleted 1 keys"), "{cleared:?}");
    assert_eq!(
        api.get(&format!("{path}?flow=remember")).json["entries"],
        json!({})
    );
    let empty = server.weft(["instance", "state", &id]);
    assert!(empty.stdout.contains("is empty"), "{empty:?}");

    let doc = api.get("/v1/openapi.json");
    let route = &doc.json["paths"]["/v1/instances/{id}/state"];
    assert!(
        route["get"].is_object() && route["delete"].is_object(),
        "{route}"
    );
}
