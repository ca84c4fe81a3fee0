//! State totals through `weft serve`: a scope past its key quota refuses
//! the write with a clear error (the step fails), and an execution's
//! `execution`-scope state is gone from the data dir once it ends.

use serde_json::json;

use super::server::{enabled_instance, run_with};
use crate::executions::step;
use crate::server::{ServerOptions, TestServer};

const INTEGRATION: &str = r#"
name: stateful
version: 1
flows:
  - name: scratch
    trigger: { type: manual }
    steps:
      - { id: put, component: echo@1.0.0, action: state, input: { scope: execution, op: set, key: scratch, value: 42 } }
      - { id: get, component: echo@1.0.0, action: state, input: { scope: execution, op: get, key: scratch } }
  - name: fill
    trigger: { type: manual }
    steps:
      - { id: put, component: echo@1.0.0, action: state, input: { scope: instance, op: set, key: "{{ trigger.body.key }}", value: 1 } }
"#;

#[test]
fn scopes_are_capped_and_execution_state_ends_with_its_execution() {
    let mut server = TestServer::start(ServerOptions {
        config: Some("[sandbox.limits]\nstate_scope_keys = 3\n".into()),
        ..ServerOptions::with_builtins()
    });
    let api = server.api();
    let pushed = api.push_integration(INTEGRATION);
    assert_eq!(pushed.status, 201, "{pushed:?}");
    let instance = enabled_instance(&api, "stateful@1");

    let (done, _) = run_with(&api, &instance, "scratch", &json!({}));
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(step(&done, "get")["output"], json!(42));
    let execution = done["id"].as_str().unwrap().to_owned();

    for key in ["a", "b", "c"] {
        let (done, _) = run_with(&api, &instance, "fill", &json!({ "key": key }));
        assert_eq!(done["status"], "succeeded", "{key}: {done:#}");
    }
    let (full, _) = run_with(&api, &instance, "fill", &json!({ "key": "d" }));
    assert_eq!(full["status"], "failed", "{full:#}");
    let message = step(&full, "put")["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        message.contains("state scope instance is full: it already holds 3 keys"),
        "{message}"
    );
    // Overwriting an existing key is not a new key.
    let (again, _) = run_with(&api, &instance, "fill", &json!({ "key": "a" }));
    assert_eq!(again["status"], "succeeded", "{again:#}");

    server.stop();
    let db = sled::open(server.data_dir().join("db")).expect("open the data dir");
    let state = db.open_tree("state").unwrap();
    let prefix = format!("e\0{execution}\0");
    let left: Vec<_> = state.scan_prefix(prefix.as_bytes()).keys().collect();
    assert!(left.is_empty(), "execution state left behind: {left:?}");
    let instance_keys = state
        .scan_prefix(format!("i\0{instance}\0").as_bytes())
        .count();
    assert_eq!(instance_keys, 3);
}
