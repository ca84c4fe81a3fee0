//! Deleting what can be deleted, through the real server and CLI:
//! integration versions no instance uses, instances that are disabled or
//! were never enabled (with their state, schedules and idempotency keys,
//! while their executions stay), and tenants without instances (their
//! tokens revoked).

use serde_json::{Value, json};

use super::tenant_with_token;
use crate::executions::finished;
use crate::server::{OPERATOR_TOKEN, ServerOptions, TestServer};

const KEEP_V1: &str = r#"
name: keep
version: 1
flows:
  - name: fill
    trigger: { type: manual }
    steps:
      - { id: put, component: echo@1.0.0, action: state, input: { scope: instance, op: set, key: k, value: 1 } }
      - { id: own, component: echo@1.0.0, action: state, input: { scope: flow, op: set, key: k, value: 2 } }
  - name: tick
    trigger: { type: schedule, cron: "0 3 * * *" }
    steps:
      - { id: e, component: echo@1.0.0, action: echo, input: {} }
"#;

fn json_of(run: &crate::support::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not json ({e}): {run:?}"))
}

/// Runs `fill` on `instance` with an Idempotency-Key; returns the execution id.
fn fill(server: &TestServer, instance: &str) -> String {
    let answer = reqwest::blocking::Client::new()
        .post(format!(
            "{}/v1/instances/{instance}/flows/fill/run",
            server.url()
        ))
        .bearer_auth(OPERATOR_TOKEN)
        .header("idempotency-key", "once")
        .json(&json!({}))
        .send()
        .expect("run fill");
    assert_eq!(answer.status().as_u16(), 202);
    let body: Value = answer.json().unwrap();
    let id = body["execution_id"].as_str().unwrap().to_owned();
    let done = finished(&server.api(), &id);
    assert_eq!(done["status"], "succeeded", "{done:#}");
    id
}

#[test]
fn versions_instances_and_tenants_are_deleted_only_when_unused() {
    let mut server = TestServer::start(ServerOptions::with_builtins());
    let api = server.api();
    let token = tenant_with_token(&api, "acme");
    let file = server.scratch().join("keep.yaml");
    std::fs::write(&file, KEEP_V1).unwrap();
    let pushed = server.weft(["integration".as_ref(), "push".as_ref(), file.as_os_str()]);
    assert_eq!(pushed.code, Some(0), "{pushed:?}");
    // An accidental version 99, then an instance created without a version:
    // it takes the newest.
    std::fs::write(&file, KEEP_V1.replace("version: 1", "version: 99")).unwrap();
    let pushed = server.weft(["integration".as_ref(), "push".as_ref(), file.as_os_str()]);
    assert_eq!(pushed.code, Some(0), "{pushed:?}");
    let made = server.weft_as(&token, ["instance", "create", "keep", "--json"]);
    assert_eq!(made.code, Some(0), "{made:?}");
    let made = json_of(&made);
    assert_eq!(made["integration"], "keep@99");
    let mistake = made["id"].as_str().unwrap().to_owned();

    // 99 is in use: refused naming the instance; 1 is not.
    let rm = server.weft(["integration", "rm", "keep@99"]);
    assert_eq!(rm.code, Some(1), "{rm:?}");
    assert!(
        rm.stderr.contains(&format!(
            "integration keep@99 is used by instance(s) {mistake}"
        )),
        "{rm:?}"
    );
    assert!(rm.stderr.contains("(409)"), "{rm:?}");
    // A never-enabled instance goes; then 99 can go.
    let rm = server.weft_as(&token, ["instance", "rm", &mistake]);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    assert_eq!(rm.stdout.trim(), format!("deleted instance {mistake}"));
    assert_eq!(api.get(&format!("/v1/instances/{mistake}")).status, 404);
    let rm = server.weft(["integration", "rm", "keep@99"]);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    assert_eq!(api.get("/v1/integrations/keep/99").status, 404);
    assert_eq!(api.get("/v1/integrations/keep").json["version"], 1);

    // An active instance is refused naming its status; disabled, it goes
    // with its state and idempotency keys, and its execution stays.
    let made = api.post(
        "/v1/instances",
        &json!({ "integration": "keep", "tenant": "acme" }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    assert_eq!(made.json["integration"], "keep@1");
    let id = made.json["id"].as_str().unwrap().to_owned();
    api.enable(&id);
    let execution = fill(&server, &id);
    let refused = api.delete(&format!("/v1/instances/{id}"));
    assert_eq!(refused.status, 409, "{refused:?}");
    assert!(refused.error().contains("is active"), "{refused:?}");
    // Another tenant cannot see it to delete it.
    let bolt = tenant_with_token(&api, "bolt");
    let theirs = server
        .api_as(Some(&bolt))
        .delete(&format!("/v1/instances/{id}"));
    assert_eq!(theirs.status, 404, "{theirs:?}");
    api.disable(&id);

    // The tenant has an instance: refused, naming it.
    let rm = server.weft(["tenant", "rm", "acme"]);
    assert_eq!(rm.code, Some(1), "{rm:?}");
    assert!(rm.stderr.contains(&id), "{rm:?}");

    let deleted = server
        .api_as(Some(&token))
        .delete(&format!("/v1/instances/{id}"));
    assert_eq!(deleted.status, 204, "{deleted:?}");
    let kept = api.get(&format!("/v1/executions/{execution}"));
    assert_eq!(
        kept.status, 200,
        "executions stay until retention: {kept:?}"
    );

    // Now the tenant goes, and its token stops working.
    let rm = server.weft(["tenant", "rm", "acme"]);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    assert_eq!(api.get("/v1/tenants").json.as_array().unwrap().len(), 1);
    let revoked = server.api_as(Some(&token)).get("/v1/instances");
    assert_eq!(revoked.status, 401, "{revoked:?}");
    // Tenant tokens cannot delete versions or tenants.
    let denied = server.api_as(Some(&bolt)).delete("/v1/integrations/keep/1");
    assert_eq!(denied.status, 403, "{denied:?}");

    server.stop();
    let db = sled::open(server.data_dir().join("db")).expect("open the data dir");
    for (tree, prefix) in [
        ("state", format!("i\0{id}\0")),
        ("state", format!("f\0{id}\0")),
        ("state_usage", format!("i\0{id}\0")),
        ("execution_keys", format!("{id}\0")),
        ("schedules_by_flow", format!("{id}\0")),
        ("instances_by_tenant", format!("acme\0{id}")),
    ] {
        let left = db
            .open_tree(tree)
            .unwrap()
            .scan_prefix(prefix.as_bytes())
            .count();
        assert_eq!(left, 0, "{tree} still holds {prefix:?}");
    }
}
