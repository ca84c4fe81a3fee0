//! kill -9 during a step and with executions still queued, and the
//! per-tenant cap: what a crash or one tenant's flood must not do; and
//! the order in which the executor asks for earlier records to be durable.

use std::time::Duration;

use serde_json::json;
use weft::storage::{Queue as _, QueueEntry, SledStore, Storage as _};

use super::{execution, finished, instance, server, start, step, time};
use crate::server::poll;

#[test]
fn a_run_killed_mid_step_resumes_after_its_last_finished_step() {
    let mut server = server(None);
    let api = server.api();
    let id = instance(&api, "acme", None, true);
    let body = json!({ "tag": "crash", "ms": 4000 });
    let exec = start(&api, &id, "counted", &body);

    // Wait until the counter was written (steps `read` and `write` are
    // durable) and the nap is under way, then kill the host mid-nap.
    let mut before = json!(null);
    let napping = poll(Duration::from_secs(60), || {
        before = execution(&api, &exec);
        before["status"] == "running"
            && before["steps"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["path"] == "write"))
    });
    assert!(napping, "step `write` never finished: {before:#}");
    assert_eq!(
        before["steps"].as_array().unwrap().len(),
        2,
        "killed during the nap"
    );
    server.restart_after_kill9();
    let api = server.api();

    let after = finished(&api, &exec);
    assert_eq!(after["status"], "succeeded", "{after:#}");
    assert_eq!(after["resumed"], 1, "picked up once after the crash");
    assert_eq!(after["trigger"]["body"], body, "trigger payload kept");
    // The steps before the crash were not run again: their records are
    // the ones written before the kill, and the counter went up once.
    for path in ["read", "write"] {
        assert_eq!(step(&after, path), step(&before, path), "{path} repeated");
    }
    assert_eq!(step(&after, "read")["output"], json!(null));
    assert_eq!(step(&after, "check")["output"], 1, "{after:#}");
    assert_eq!(after["output"], 1);
    let paths: Vec<&str> = after["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["read", "write", "nap", "check"]);
    assert!(
        step(&after, "nap")["output"]["slept_ms"].as_u64().unwrap() >= 4000,
        "the interrupted nap ran again in full: {after:#}"
    );
}

#[test]
fn executions_queued_at_a_crash_all_run_after_restart() {
    let mut server = server(Some("[engine]\nworkers = 1\n"));
    let api = server.api();
    let id = instance(&api, "acme", None, true);
    let ids: Vec<String> = (0..4)
        .map(|n| start(&api, &id, "nap", &json!({ "ms": 1500, "n": n })))
        .collect();
    // With one worker the first runs and the others wait.
    let mut statuses = Vec::new();
    let one_running = poll(Duration::from_secs(60), || {
        statuses = ids
            .iter()
            .map(|e| execution(&api, e)["status"].as_str().unwrap().to_owned())
            .collect();
        statuses[0] == "running"
    });
    assert!(one_running, "{statuses:?}");
    assert!(statuses[1..].iter().all(|s| s == "queued"), "{statuses:?}");
    server.restart_after_kill9();
    let api = server.api();

    for (n, exec) in ids.iter().enumerate() {
        let done = finished(&api, exec);
        assert_eq!(done["status"], "succeeded", "{done:#}");
        assert_eq!(done["trigger"]["body"]["n"], n, "payload kept");
        assert_eq!(step(&done, "done")["output"], json!({ "n": n }));
    }
    assert_eq!(execution(&api, &ids[0])["resumed"], 1);
    assert_eq!(
        execution(&api, &ids[3])["resumed"],
        0,
        "never started before"
    );
}

#[test]
fn a_queue_entry_left_without_its_execution_is_dropped_at_restart() {
    // A new execution without an idempotency key is two sled writes, its
    // queue entry first: a crash between them leaves an entry with no
    // execution, which a restart must drop, not run or keep forever.
    let mut server = server(None);
    let id = instance(&server.api(), "acme", None, true);
    server.stop();
    {
        let store = SledStore::open(&server.data_dir()).expect("open the stopped server's store");
        store
            .enqueue(&QueueEntry::new("orphaned-entry", "acme", &id, "nap"))
            .expect("enqueue");
        store.flush().expect("flush");
    }
    server.restart();
    let api = server.api();
    let depth = r#"weft_queue_depth{tenant="acme"}"#;
    let drained = poll(Duration::from_secs(30), || {
        server.metric(depth) == Some(0.0)
    });
    assert!(
        drained,
        "the orphaned entry stayed queued: {:?}",
        server.metric(depth)
    );
    assert_eq!(api.get("/v1/executions/orphaned-entry").status, 404);
    // The queue goes on: a new execution runs.
    let exec = start(&api, &id, "nap", &json!({ "ms": 1 }));
    assert_eq!(finished(&api, &exec)["status"], "succeeded");
    // Gone from disk too, not just held by a lease.
    server.stop();
    let store = SledStore::open(&server.data_dir()).expect("reopen the store");
    assert_eq!(store.depth().expect("depth"), 0);
}

#[test]
fn one_tenants_flood_does_not_delay_another_tenant() {
    let server = server(Some("[engine]\nworkers = 4\nper_tenant = 2\n"));
    let api = server.api();
    let a = instance(&api, "acme", None, true);
    let b = instance(&api, "bolt", None, true);
    let flood: Vec<String> = (0..8)
        .map(|n| start(&api, &a, "nap", &json!({ "ms": 2000, "n": n })))
        .collect();
    let quick = start(&api, &b, "quick", &json!({ "n": 1 }));

    let quick = finished(&api, &quick);
    assert_eq!(quick["status"], "succeeded", "{quick:#}");
    let flood: Vec<_> = flood.iter().map(|e| finished(&api, e)).collect();
    assert!(flood.iter().all(|e| e["status"] == "succeeded"));

    // Acme never ran more than two at once: its third started only after
    // one of its first two ended.
    let mut starts: Vec<_> = flood.iter().map(|e| time(e, "started_at")).collect();
    starts.sort();
    let first_end = flood.iter().map(|e| time(e, "finished_at")).min().unwrap();
    assert!(starts[2] >= first_end, "acme exceeded its cap");
    // Bolt's execution did not wait for acme's queue: it ended before
    // acme's third execution (the first to wait for a slot) started.
    let quick_end = time(&quick, "finished_at");
    assert!(
        quick_end < starts[2],
        "bolt finished {quick_end}, acme's third started {}",
        starts[2]
    );
    let waited = time(&quick, "started_at") - time(&quick, "created_at");
    let nap = step(&flood[0], "nap")["duration_ms"].as_f64().unwrap();
    assert!(
        (waited.num_milliseconds() as f64) < nap,
        "bolt waited {waited} for a worker, longer than one of acme's steps ({nap} ms)"
    );
}

/// What the executor tells its observer, in order.
#[derive(Default)]
struct Order(std::sync::Mutex<Vec<String>>);

impl Order {
    fn push(&self, event: String) {
        self.0.lock().unwrap().push(event);
    }
}

impl weft::flow::ExecutionObserver for Order {
    fn step_finished<'a>(
        &'a self,
        record: &'a weft::model::StepRecord,
    ) -> futures::future::BoxFuture<'a, ()> {
        self.push(format!("finished {}", record.path));
        Box::pin(std::future::ready(()))
    }

    fn before_action(&self) -> futures::future::BoxFuture<'_, ()> {
        self.push("before component call".into());
        Box::pin(std::future::ready(()))
    }

    fn responded(&self, _: &weft::model::FlowResponse, _: &weft::model::FlowResponse) {
        self.push("responded".into());
    }
}

/// The executor's side of "a finished step is durable before the next
/// component call": the engine's observer makes earlier records durable
/// in `before_action`, so it must come before every component call,
/// after the previous step's record, and not before a host-only
/// `respond` (which answers without waiting for a flush). The response is
/// told before the next step starts, or, when no step follows, comes with
/// the result only (the end stores it in the same write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earlier_records_are_made_durable_before_each_component_call_only() {
    use std::sync::Arc;
    use weft::flow::{Executor, FlowRun, InstanceInfo};
    use weft::sandbox::{ComponentSource, LoadedComponent, MemoryStateStore, Sandbox};

    struct Echo(LoadedComponent);
    impl ComponentSource for Echo {
        fn resolve(&self, reference: &str) -> Option<LoadedComponent> {
            (reference == "echo@1.0.0").then(|| self.0.clone())
        }
    }
    let yaml = r#"
name: order
version: 1
flows:
  - name: f
    trigger: { type: manual }
    steps:
      - { id: one, component: echo@1.0.0, action: echo, input: { n: 1 } }
      - { id: two, component: echo@1.0.0, action: echo, input: "{{ steps.one }}" }
      - id: reply
        respond: { status: 200, body: "{{ steps.two }}" }
      - { id: three, component: echo@1.0.0, action: echo, input: { n: 3 } }
"#;
    let sandbox = Arc::new(Sandbox::new(&Default::default()).unwrap());
    let bytes = std::fs::read(weft_tests::component_path(weft_tests::ECHO)).unwrap();
    let echo = sandbox.compile(&bytes).unwrap();
    let executor = Executor::new(
        sandbox,
        Arc::new(Echo(echo)),
        Arc::new(MemoryStateStore::default()),
    );
    let run = |yaml: &str| FlowRun {
        execution_id: "e".into(),
        flow: weft::integration::parse(yaml)
            .unwrap()
            .flow("f")
            .unwrap()
            .clone(),
        instance: InstanceInfo::default(),
        trigger: json!({}),
        config: Default::default(),
        completed: Default::default(),
    };
    let order = Order::default();
    let result = executor.run(&run(yaml), &order).await;
    assert!(result.error.is_none(), "{result:?}");
    assert_eq!(result.response.unwrap().body, json!({ "n": 1 }));
    // What both runs do up to the `respond` step.
    let up_to_reply = [
        "before component call",
        "finished one",
        "before component call",
        "finished two",
        "finished reply",
    ];
    assert_eq!(
        *order.0.lock().unwrap(),
        [
            &up_to_reply[..],
            &["responded", "before component call", "finished three"],
        ]
        .concat()
    );

    // The same flow ending with its `respond`.
    let last = yaml.replace(
        "      - { id: three, component: echo@1.0.0, action: echo, input: { n: 3 } }\n",
        "",
    );
    assert_ne!(last, yaml);
    let order = Order::default();
    let result = executor.run(&run(&last), &order).await;
    assert_eq!(result.response.unwrap().body, json!({ "n": 1 }));
    let live = result.live.expect("a live answer");
    assert_eq!(live.response.as_ref().unwrap().body, json!({ "n": 1 }));
    assert_eq!(*order.0.lock().unwrap(), up_to_reply);
}
