//! Flow concurrency (`sequential`, `throttled`), flow-level retries and
//! the sync lane, through the real binary: the `ordered-updates` example
//! against a fake app on loopback ([`app`]) that can hold requests at a
//! gate, so "one at a time" and "at most two" are seen, not timed.

mod app;

use serde_json::json;

use crate::executions::finished;
use crate::server::Api;
use crate::triggers::{FLOW_DEADLINE, enabled, example, post_json, server};
use app::{App, Event};

/// Posts `{id, seq}` to an async webhook flow; returns the execution id.
fn send(
    server: &crate::server::TestServer,
    instance: &str,
    flow: &str,
    id: &str,
    seq: u64,
) -> String {
    let answer = post_json(
        server,
        &format!("/hooks/{instance}/{flow}"),
        &json!({ "id": id, "seq": seq, "data": format!("change {seq}") }),
        &[],
    );
    assert_eq!(answer.status, 202, "{answer:?}");
    answer.execution_id()
}

fn status(api: &Api, id: &str) -> String {
    let got = api.get(&format!("/v1/executions/{id}"));
    assert_eq!(got.status, 200, "{got:?}");
    got.json["status"].as_str().unwrap_or_default().to_owned()
}

fn is_put_begin(e: &Event) -> bool {
    e.phase == "begin" && e.method == "PUT"
}

/// Checks that `events` hold one `PUT` at a time, begun in `order`; an
/// `end` of a request nobody holds any more (cut by a kill) is skipped.
fn assert_one_at_a_time(events: &[Event], order: &[u64]) {
    let mut open: Option<u64> = None;
    let mut begun = Vec::new();
    for e in events.iter().filter(|e| e.method == "PUT") {
        if e.phase == "begin" {
            assert!(
                open.is_none(),
                "PUT {:?} began while {open:?} ran: {events:#?}",
                e.seq
            );
            open = e.seq;
            begun.push(e.seq.unwrap_or_default());
        } else if open == e.seq {
            open = None;
        }
    }
    assert_eq!(begun, order, "{events:#?}");
}

#[test]
fn sequential_updates_run_one_at_a_time_in_arrival_order_across_a_kill9() {
    let app = App::start(false);
    let other_app = App::start(true);
    let mut server = server();
    let yaml = example("ordered-updates");
    let a = enabled(&server, &yaml, json!({ "app_url": app.url }), json!({}));
    let b = enabled(
        &server,
        &yaml,
        json!({ "app_url": other_app.url }),
        json!({}),
    );
    let ids: Vec<String> = (1..=5)
        .map(|seq| send(&server, &a, "update", "rec-1", seq))
        .collect();

    // The first is held at the app's gate; the others wait in the queue.
    app.wait_for(FLOW_DEADLINE, 1, is_put_begin);
    let api = server.api();
    assert_eq!(status(&api, &ids[0]), "running");
    for id in &ids[1..] {
        assert_eq!(status(&api, id), "queued", "{id} overtook the first update");
    }
    // Another instance of the same flow is not held back.
    let b_id = send(&server, &b, "update", "rec-9", 1);
    assert_eq!(finished(&api, &b_id)["status"], "succeeded");

    // Killed with the first one held: after the restart it runs again
    // (from its failed step on), still alone.
    // The mark is taken before the restart: the restarted server may
    // resume the first update before it answers the test's first call.
    let mark = app.events().len();
    server.restart_after_kill9();
    let api = server.api();
    app.wait_for(FLOW_DEADLINE, 2, |e| is_put_begin(e) && e.seq == Some(1));
    for id in &ids[1..] {
        assert_eq!(
            status(&api, id),
            "queued",
            "{id} overtook after the restart"
        );
    }
    app.open();
    for id in &ids {
        assert_eq!(finished(&api, id)["status"], "succeeded");
    }
    let first = finished(&api, &ids[0]);
    assert_eq!(first["resumed"], 1, "{first:#}");
    assert_one_at_a_time(&app.events()[mark..], &[1, 2, 3, 4, 5]);
}

#[test]
fn a_throttled_flow_runs_at_most_its_limit_at_once() {
    let app = App::start(false);
    let server = server();
    let a = enabled(
        &server,
        &example("ordered-updates"),
        json!({ "app_url": app.url }),
        json!({}),
    );
    let ids: Vec<String> = (1..=5)
        .map(|seq| send(&server, &a, "bulk", &format!("r{seq}"), seq))
        .collect();
    app.wait_for(FLOW_DEADLINE, 2, is_put_begin);
    let api = server.api();
    let statuses: Vec<String> = ids.iter().map(|id| status(&api, id)).collect();
    let running = statuses.iter().filter(|s| *s == "running").count();
    assert_eq!(running, 2, "limit 2 (the tenant's cap is 4): {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| *s == "queued").count(),
        3,
        "{statuses:?}"
    );
    app.open();
    for id in &ids {
        assert_eq!(finished(&api, id)["status"], "succeeded");
    }
    assert_eq!(app.max_in_flight(), 2, "{:#?}", app.events());
}

#[test]
fn a_flow_retry_reruns_from_the_failed_step_and_holds_later_updates_back() {
    let app = App::start(true);
    app.fail_next(2);
    let server = server();
    let a = enabled(
        &server,
        &example("ordered-updates"),
        json!({ "app_url": app.url }),
        json!({}),
    );
    let first = send(&server, &a, "update", "rec-1", 1);
    let second = send(&server, &a, "update", "rec-1", 2);
    let api = server.api();
    let done = finished(&api, &first);
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let attempts = done["attempts"].as_array().expect("attempts").clone();
    assert_eq!(attempts.len(), 2, "{done:#}");
    for attempt in &attempts {
        assert_eq!(attempt["failed_step"], "deliver");
        assert!(
            attempt["error"].as_str().unwrap().contains("HTTP 503"),
            "{attempt}"
        );
        assert!(attempt["retry_at"].as_str() > attempt["failed_at"].as_str());
    }
    let later = finished(&api, &second);
    assert_eq!(later["status"], "succeeded");
    assert!(later.get("attempts").is_none(), "{later:#}");

    // `lookup` ran once per execution; the update behind waited for every
    // attempt of the first.
    let events = app.events();
    let lookups = events
        .iter()
        .filter(|e| e.method == "GET" && e.phase == "begin");
    assert_eq!(lookups.count(), 2, "{events:#?}");
    let puts: Vec<(Option<u64>, u16)> = events
        .iter()
        .filter(|e| e.method == "PUT" && e.phase == "end")
        .map(|e| (e.seq, e.status))
        .collect();
    assert_eq!(
        puts,
        [
            (Some(1), 503),
            (Some(1), 503),
            (Some(1), 200),
            (Some(2), 200)
        ]
    );

    let shown = server.weft(["exec", "show", &first]);
    assert_eq!(shown.code, Some(0), "{shown:?}");
    assert!(shown.stdout.contains("attempts     3"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("step deliver failed"),
        "{}",
        shown.stdout
    );

    // A failure that is not retryable (400) ends the execution at once.
    let bad = send(&server, &a, "update", "bad-1", 3);
    let failed = finished(&api, &bad);
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert!(failed.get("attempts").is_none(), "{failed:#}");
}

/// A slow async flow and a quick sync one, on one instance.
const LANES: &str = r#"
name: lanes
version: 1
flows:
  - name: slow
    trigger: { type: webhook }
    steps:
      - { id: nap, component: echo@1.0.0, action: sleep, input: { ms: 300 } }
  - name: quick
    trigger: { type: webhook, mode: sync, timeout: 3s }
    steps:
      - { id: echo, component: echo@1.0.0, action: echo, input: "{{ trigger.body }}" }
      - { id: reply, respond: { status: 200, body: { echoed: "{{ steps.echo }}" } } }
"#;

#[test]
fn a_sync_webhook_is_answered_ahead_of_its_tenants_async_backlog() {
    let server = server();
    let id = enabled(&server, LANES, json!({}), json!({}));
    // 60 naps of 300 ms at the tenant's cap of 4: a backlog of about 4.5 s,
    // longer than the sync flow's 3 s timeout.
    for seq in 0..60 {
        send(&server, &id, "slow", "nap", seq);
    }
    let answer = post_json(
        &server,
        &format!("/hooks/{id}/quick"),
        &json!({ "n": 1 }),
        &[],
    );
    assert_eq!(
        answer.status, 200,
        "the sync call waited behind the backlog: {answer:?}"
    );
    assert_eq!(answer.json, json!({ "echoed": { "n": 1 } }));
    let queued = server.api().get(&format!(
        "/v1/executions?instance={id}&flow=slow&status=queued&limit=500"
    ));
    let waiting = queued.json["executions"].as_array().map_or(0, Vec::len);
    assert!(
        waiting > 0,
        "the backlog had drained, so this proved nothing: {queued:?}"
    );
}
