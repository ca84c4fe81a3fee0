//! One tenant's load cannot starve another: its steps get a share of the
//! sandbox's instance slots and wait for a free one (instead of failing
//! with the pool's "maximum concurrent limit" error), and its queue of
//! executions is bounded (429 with `Retry-After` past it, nothing stored).

use serde_json::{Value, json};

use super::fake::HeldFake;
use super::{FLOW_DEADLINE, LOOPBACK_CONFIG, post_json};
use crate::server::{ServerOptions, TestServer, poll};

const FLOOD: &str = r#"
name: flood
version: 1
config:
  - { key: gate, type: string, default: "http://127.0.0.1:9" }
flows:
  - name: fan
    trigger: { type: webhook }
    steps:
      - id: each
        for_each: "{{ trigger.body.items }}"
        concurrency: 16
        steps:
          - { id: nap, component: echo@1.0.0, action: sleep, input: { ms: "{{ item }}" } }
  - name: quick
    trigger: { type: webhook, mode: sync, timeout: 60s }
    steps:
      - { id: a, component: echo@1.0.0, action: echo, input: { ok: true } }
  - name: slow
    trigger: { type: webhook }
    steps:
      - { id: call, component: http@1.0.0, action: request, input: { method: POST, url: "{{ config.gate }}/slow" } }
  - name: slow_by_hand
    trigger: { type: manual }
    steps:
      - { id: call, component: http@1.0.0, action: request, input: { method: POST, url: "{{ config.gate }}/slow" } }
"#;

fn server_with(extra: &str) -> TestServer {
    let server = TestServer::start(ServerOptions {
        config: Some(format!("{LOOPBACK_CONFIG}\n{extra}")),
        ..ServerOptions::with_all_builtins()
    });
    let pushed = server.api().push_integration(FLOOD);
    assert_eq!(pushed.status, 201, "{pushed:?}");
    server
}

/// An active instance of `flood@1` for `tenant`; returns its id.
fn active(server: &TestServer, tenant: &str, config: Value) -> String {
    let api = server.api();
    let made = api.post("/v1/tenants", &json!({ "name": tenant }));
    assert!(made.status == 201 || made.status == 409, "{made:?}");
    let created = api.post(
        "/v1/instances",
        &json!({ "integration": "flood@1", "tenant": tenant, "config": config }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert_eq!(api.enable(&id).json["status"], "active");
    id
}

fn executions_of(server: &TestServer, instance: &str) -> Vec<Value> {
    let page = server
        .api()
        .get(&format!("/v1/executions?instance={instance}&limit=500"));
    assert_eq!(page.status, 200, "{page:?}");
    page.json["executions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_flooding_tenant_waits_for_its_share_of_instances() {
    // A pool of 8 instances, 4 per tenant; the flood wants 48 at once.
    let server = server_with("[sandbox.pool]\ninstances = 8\nper_tenant = 4\n");
    let a = active(&server, "hoarder", json!({}));
    let b = active(&server, "bystander", json!({}));

    let items = vec![300; 16];
    let mut flood = Vec::new();
    for _ in 0..3 {
        let answer = post_json(
            &server,
            &format!("/hooks/{a}/fan"),
            &json!({ "items": items }),
            &[],
        );
        assert_eq!(answer.status, 202, "{answer:?}");
        flood.push(answer.execution_id());
    }
    // The bystander's sync flow answers while the flood runs.
    for _ in 0..3 {
        let answer = post_json(&server, &format!("/hooks/{b}/quick"), &json!({}), &[]);
        assert_eq!(answer.status, 200, "the bystander's hook: {answer:?}");
        assert_eq!(answer.json["ok"], true, "{answer:?}");
    }
    // The flood's own items waited for slots instead of failing.
    let api = server.api();
    for id in &flood {
        let mut last = Value::Null;
        let ended = poll(FLOW_DEADLINE, || {
            last = api.get(&format!("/v1/executions/{id}")).json;
            matches!(last["status"].as_str(), Some("succeeded" | "failed"))
        });
        assert!(ended, "flood execution {id} did not end: {last:#}");
        assert_eq!(last["status"], "succeeded", "{last:#}");
        let naps = last["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["step"] == "nap")
            .count();
        assert_eq!(naps, 16, "{last:#}");
    }
    assert!(
        !server.stderr().contains("maximum concurrent limit"),
        "no step hit the pool's limit"
    );
}

#[test]
fn a_tenant_past_its_queue_bound_gets_429_and_nothing_is_stored() {
    let held = HeldFake::start();
    let server = server_with("[engine]\nper_tenant = 1\nmax_queued_per_tenant = 3\n");
    let a = active(&server, "flooder", json!({ "gate": held.url }));
    let b = active(&server, "patient", json!({ "gate": held.url }));
    let hook =
        |instance: &str| post_json(&server, &format!("/hooks/{instance}/slow"), &json!({}), &[]);

    // One runs (held at its step), three wait: the bound.
    let first_key = "order-1";
    let first = post_json(
        &server,
        &format!("/hooks/{a}/slow"),
        &json!({}),
        &[("idempotency-key", first_key)],
    );
    assert_eq!(first.status, 202, "{first:?}");
    assert!(
        held.wait_arrivals("/slow", 1, FLOW_DEADLINE),
        "the first one runs"
    );
    for _ in 0..3 {
        let queued = hook(&a);
        assert_eq!(queued.status, 202, "{queued:?}");
    }
    // Past it: webhooks, manual runs and replays are refused.
    let api = server.api();
    let refused = [
        hook(&a).status,
        api.post(
            &format!("/v1/instances/{a}/flows/slow_by_hand/run"),
            &json!({}),
        )
        .status,
    ];
    assert_eq!(refused, [429, 429]);
    let replay = api.post(
        &format!("/v1/executions/{}/replay", first.execution_id()),
        &json!({}),
    );
    assert_eq!(replay.status, 429, "{replay:?}");
    assert_eq!(replay.headers["retry-after"], "5", "{replay:?}");
    assert!(
        replay.error().contains("max_queued_per_tenant"),
        "{replay:?}"
    );
    let webhook = hook(&a);
    assert_eq!(webhook.status, 429, "{webhook:?}");
    assert!(webhook.headers.contains_key("retry-after"), "{webhook:?}");
    // A retry of an acknowledged request (same Idempotency-Key) gets its
    // execution, full queue or not; a new key is refused.
    let keyed = |key: &str| {
        post_json(
            &server,
            &format!("/hooks/{a}/slow"),
            &json!({}),
            &[("idempotency-key", key)],
        )
    };
    let again = keyed(first_key);
    assert_eq!(again.status, 202, "{again:?}");
    assert_eq!(again.execution_id(), first.execution_id());
    assert_eq!(again.headers["idempotent-replayed"], "true", "{again:?}");
    assert_eq!(keyed("never-seen").status, 429);
    assert_eq!(
        executions_of(&server, &a).len(),
        4,
        "nothing stored past the bound"
    );
    // Another tenant has its own bound.
    assert_eq!(hook(&b).status, 202);
    assert_eq!(server.metric("weft_executions_refused_total"), Some(5.0));
    // By tenant: the flooder's full queue and its refusals, the other's
    // one queued execution and none refused.
    assert_eq!(
        server.metric("weft_queue_rejected_total{tenant=\"flooder\"}"),
        Some(5.0)
    );
    assert_eq!(
        server.metric("weft_queue_rejected_total{tenant=\"patient\"}"),
        None
    );
    assert_eq!(
        server.metric("weft_queue_depth{tenant=\"flooder\"}"),
        Some(3.0)
    );

    // A caller who waits is not refused for the async backlog: the sync
    // lane has a bound of its own (and runs first once the slot frees).
    std::thread::scope(|scope| {
        let sync =
            scope.spawn(|| post_json(&server, &format!("/hooks/{a}/quick"), &json!({}), &[]));
        let queued = poll(FLOW_DEADLINE, || {
            server.metric("weft_queue_depth{tenant=\"flooder\"}") == Some(4.0)
        });
        // Once the queue drains, the tenant is accepted again.
        held.release();
        let answer = sync.join().expect("sync caller");
        assert!(
            queued,
            "the sync webhook was not queued beside the full async queue: {answer:?}"
        );
        assert_eq!(answer.status, 200, "{answer:?}");
    });
    let drained = poll(FLOW_DEADLINE, || {
        executions_of(&server, &a)
            .iter()
            .all(|e| e["status"] == "succeeded")
    });
    assert!(drained, "{:#?}", executions_of(&server, &a));
    let again = hook(&a);
    assert_eq!(again.status, 202, "{again:?}");
}

#[test]
fn a_step_waits_for_a_slot_within_its_own_deadline() {
    // One slot, a 2s deadline, two items of 1.2s at once: the second
    // waits 1.2s for the slot and has 0.8s left, so it runs out of time
    // (the typed deadline error), never "maximum concurrent limit".
    let server = server_with("[sandbox.pool]\ninstances = 1\n[sandbox.limits]\ntimeout = \"2s\"\n");
    let a = active(&server, "patient", json!({}));
    let answer = post_json(
        &server,
        &format!("/hooks/{a}/fan"),
        &json!({ "items": [1200, 1200] }),
        &[],
    );
    assert_eq!(answer.status, 202, "{answer:?}");
    let id = answer.execution_id();
    let api = server.api();
    let mut last = Value::Null;
    let ended = poll(FLOW_DEADLINE, || {
        last = api.get(&format!("/v1/executions/{id}")).json;
        matches!(last["status"].as_str(), Some("succeeded" | "failed"))
    });
    assert!(ended, "{last:#}");
    let step = |path: &str| {
        last["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("no step {path} in {last:#}"))
    };
    let (first, second) = (step("each[0].nap"), step("each[1].nap"));
    let (waited, ran) = if first["status"] == "succeeded" {
        (second, first)
    } else {
        (first, second)
    };
    assert_eq!(ran["status"], "succeeded", "{last:#}");
    assert_eq!(waited["status"], "failed", "{last:#}");
    assert_eq!(waited["error"]["code"], "deadline", "{waited:#}");
    assert_eq!(
        waited["error"]["message"], "deadline 2s exceeded",
        "{waited:#}"
    );
}
