//! Schedules through the real server: per-instance cron from config,
//! once per due time across a kill -9, and disabling stops them at once.

use std::collections::BTreeSet;

use serde_json::json;

use super::fake::Fake;
use super::{FLOW_DEADLINE, enabled, server};

const TICKER: &str = r#"
name: ticker
version: 1
config:
  - { key: recorder, type: string, required: true }
  - { key: tick, type: cron, required: true }
flows:
  - name: tick
    trigger: { type: schedule, cron: "{{ config.tick }}" }
    steps:
      - id: record
        component: http@1.0.0
        action: request
        input:
          method: POST
          url: "{{ config.recorder }}/tick"
          json: { instance: "{{ instance.id }}", scheduled_at: "{{ trigger.scheduled_at }}" }
"#;

fn ticks(recorder: &Fake, instance: &str) -> Vec<String> {
    recorder
        .hits()
        .into_iter()
        .filter(|h| h.body["instance"] == instance)
        .map(|h| h.body["scheduled_at"].as_str().unwrap().to_owned())
        .collect()
}

fn wait_ticks(recorder: &Fake, instance: &str, n: usize) {
    assert!(
        crate::server::poll(FLOW_DEADLINE, || ticks(recorder, instance).len() >= n),
        "{n} ticks of {instance}: {:?}",
        ticks(recorder, instance)
    );
}

#[test]
fn schedules_fire_once_per_due_time_and_stop_when_disabled() {
    let recorder = Fake::recorder();
    let mut server = server();
    let every2 = enabled(
        &server,
        TICKER,
        json!({ "recorder": recorder.url, "tick": "*/2 * * * * *" }),
        json!({}),
    );
    let every3 = enabled(
        &server,
        TICKER,
        json!({ "recorder": recorder.url, "tick": "*/3 * * * * *" }),
        json!({}),
    );
    let yearly = enabled(
        &server,
        TICKER,
        json!({ "recorder": recorder.url, "tick": "0 0 1 1 *" }),
        json!({}),
    );
    wait_ticks(&recorder, &every2, 2);
    server.restart_after_kill9();
    let before = ticks(&recorder, &every2).len();
    wait_ticks(&recorder, &every2, before + 2);
    wait_ticks(&recorder, &every3, 2);

    for (instance, step) in [(&every2, 2), (&every3, 3)] {
        // One execution per due time. (The recorder itself may see a tick
        // twice: a step cut off by the kill -9 runs again on resume, as
        // steps are at-least-once.)
        let executions = server
            .api()
            .get(&format!("/v1/executions?instance={instance}&limit=500"))
            .json;
        let scheduled: Vec<String> = executions["executions"]
            .as_array()
            .unwrap_or_else(|| panic!("executions list: {executions}"))
            .iter()
            .map(|e| {
                let id = e["id"].as_str().unwrap();
                let full = server.api().get(&format!("/v1/executions/{id}")).json;
                full["trigger"]["scheduled_at"].as_str().unwrap().to_owned()
            })
            .collect();
        let unique: BTreeSet<&String> = scheduled.iter().collect();
        assert_eq!(
            unique.len(),
            scheduled.len(),
            "no due time fired twice: {scheduled:?}"
        );
        let times = ticks(&recorder, instance);
        for t in &times {
            let secs: u32 = t[17..19].parse().unwrap();
            assert_eq!(secs % step, 0, "{t} is a due time of */{step}");
        }
    }
    assert!(ticks(&recorder, &yearly).is_empty());

    // Disabling stops the schedule at once.
    let disabled = server.api().disable(&every2);
    assert_eq!(disabled.json["status"], "disabled");
    let stopped_at = ticks(&recorder, &every2).len();
    let seen3 = ticks(&recorder, &every3).len();
    wait_ticks(&recorder, &every3, seen3 + 2);
    assert!(
        ticks(&recorder, &every2).len() <= stopped_at + 1,
        "at most a run already submitted"
    );
}
