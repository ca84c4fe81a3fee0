//! `POST /v1/executions/{id}/retry` and `weft exec retry`: a failed
//! execution resumes from its failed step as the same execution; the steps
//! that succeeded are not run again and their outputs feed the later ones.

use serde_json::json;

use super::{execution, finished, step};
use crate::server::{ServerOptions, TestServer};

/// `bump` counts its runs in instance state; `gate` fails while the
/// instance's `broken` config is true; `last` uses `bump`'s output.
const INTEGRATION: &str = r#"
name: retrying
version: 1
config:
  - { key: broken, type: boolean, default: true }
flows:
  - name: go
    trigger: { type: manual }
    steps:
      - { id: read, component: echo@1.0.0, action: state, input: { scope: instance, op: get, key: runs } }
      - { id: bump, component: echo@1.0.0, action: state, input: { scope: instance, op: set, key: runs, value: "{{ (steps.read or 0) + 1 }}" } }
      - id: gate
        branch:
          - when: "{{ config.broken }}"
            steps:
              - { id: boom, component: echo@1.0.0, action: fail, input: { kind: fatal, message: "still broken" } }
          - else:
              - { id: fine, component: echo@1.0.0, action: echo, input: { ok: true } }
      - { id: last, component: echo@1.0.0, action: echo, input: { runs_seen: "{{ steps.read }}", body: "{{ trigger.body }}" } }
"#;

/// A server with an enabled instance of [`INTEGRATION`] (tenant `acme`).
fn retrying_instance() -> (TestServer, String) {
    let server = TestServer::start(ServerOptions::with_builtins());
    let api = server.api();
    assert_eq!(api.push_integration(INTEGRATION).status, 201);
    assert_eq!(
        api.post("/v1/tenants", &json!({ "name": "acme" })).status,
        201
    );
    let made = api.post(
        "/v1/instances",
        &json!({ "integration": "retrying@1", "tenant": "acme" }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let instance = made.json["id"].as_str().unwrap().to_owned();
    api.enable(&instance);
    (server, instance)
}

#[test]
fn a_failed_execution_resumes_from_its_failed_step_as_itself() {
    let (server, instance) = retrying_instance();
    let api = server.api();

    let started = api.post(
        &format!("/v1/instances/{instance}/flows/go/run"),
        &json!({ "order": 7 }),
    );
    assert_eq!(started.status, 202, "{started:?}");
    let id = started.json["execution_id"].as_str().unwrap().to_owned();
    let failed = finished(&api, &id);
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert_eq!(failed["retries"], 0);
    let bumped_at = step(&failed, "bump")["started_at"].clone();

    // Fix the cause (today's config applies), then retry through the CLI.
    let fixed = api.patch(
        &format!("/v1/instances/{instance}"),
        &json!({ "config": { "broken": false } }),
    );
    assert_eq!(fixed.status, 200, "{fixed:?}");
    let retried = server.weft(["exec", "retry", &id, "--wait", "--json"]);
    assert_eq!(retried.code, Some(0), "{retried:?}");
    let done = execution(&api, &id);
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(done["retries"], 1);
    assert_eq!(done["resumed"], 0);
    let shown = server.weft(["exec", "show", &id]);
    assert_eq!(shown.code, Some(0), "{shown:?}");
    assert!(
        shown
            .stdout
            .contains("succeeded  (retried 1 time from the failed step)"),
        "{shown:?}"
    );
    // `read` and `bump` did not run again: the same records, and the
    // counter still says one run.
    assert_eq!(step(&done, "bump")["started_at"], bumped_at);
    assert_eq!(step(&done, "read")["output"], json!(null));
    assert_eq!(step(&done, "last")["output"]["runs_seen"], json!(null));
    assert_eq!(step(&done, "last")["output"]["body"], json!({ "order": 7 }));
    assert_eq!(step(&done, "gate.fine")["output"], json!({ "ok": true }));
    let state = api.get(&format!("/v1/instances/{instance}/state"));
    assert_eq!(state.json["entries"]["runs"], "1", "{state:?}");

    // Only a failed execution can be retried.
    let other = api.post(
        &format!("/v1/instances/{instance}/flows/go/run"),
        &json!({}),
    );
    let other_id = other.json["execution_id"].as_str().unwrap().to_owned();
    assert_eq!(finished(&api, &other_id)["status"], "succeeded");

    // Not failed any more: 409 naming the status, for both.
    for target in [&id, &other_id] {
        let again = api.post(&format!("/v1/executions/{target}/retry"), &json!({}));
        assert_eq!(again.status, 409, "{again:?}");
        assert_eq!(
            again.error(),
            format!("execution {target} is succeeded; only a failed execution can be retried")
        );
    }
    let missing = api.post(
        "/v1/executions/01900000-0000-7000-8000-000000000000/retry",
        &json!({}),
    );
    assert_eq!(missing.status, 404, "{missing:?}");
}

/// Eight retries at once: one requeues, the others are told the status
/// it has then. The store's check is the only one, so without its
/// compare-and-swap all eight would answer 202.
#[test]
fn of_concurrent_retries_one_requeues_and_the_others_get_409() {
    let (server, instance) = retrying_instance();
    let api = server.api();
    let started = api.post(
        &format!("/v1/instances/{instance}/flows/go/run"),
        &json!({}),
    );
    let id = started.json["execution_id"].as_str().unwrap().to_owned();
    assert_eq!(finished(&api, &id)["status"], "failed");
    // Fixed, so the retry that wins succeeds and no later one finds the
    // execution failed again.
    let fixed = api.patch(
        &format!("/v1/instances/{instance}"),
        &json!({ "config": { "broken": false } }),
    );
    assert_eq!(fixed.status, 200, "{fixed:?}");

    let barrier = std::sync::Barrier::new(8);
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let api = server.api();
                    barrier.wait();
                    let answer = api.post(&format!("/v1/executions/{id}/retry"), &json!({}));
                    let error = if answer.status == 409 {
                        answer.error().to_owned()
                    } else {
                        String::new()
                    };
                    (answer.status, error)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let accepted = answers.iter().filter(|(status, _)| *status == 202).count();
    assert_eq!(accepted, 1, "{answers:?}");
    for (status, error) in answers.iter().filter(|(status, _)| *status != 202) {
        assert_eq!(*status, 409, "{answers:?}");
        assert!(
            ["queued", "running", "succeeded"]
                .iter()
                .any(|s| error.contains(&format!("is {s};"))),
            "{error}"
        );
    }
    let done = finished(&api, &id);
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(done["retries"], 1, "{done:#}");
}
