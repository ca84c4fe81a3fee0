//! `weft exec show`: the human view shows each action step's input; step
//! logs carry timestamps, in time order; a retried step keeps every
//! attempt's lines; the outbound line names the request path (not the
//! query, which may carry credentials).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{finished, step};
use crate::server::{ServerOptions, TestServer};
use crate::triggers::fake::Fake;
use crate::triggers::{LOOPBACK_CONFIG, enabled, post_json};

const INTEGRATION: &str = r#"
name: shown
version: 1
config:
  - { key: upstream, type: string, required: true }
flows:
  - name: f
    trigger: { type: webhook }
    steps:
      - id: talk
        component: echo@1.0.0
        action: log
        input: { lines: 2 }
      - id: call
        component: http@1.0.0
        action: request
        retry: { attempts: 2, backoff: constant, initial: 10ms }
        input: { url: "{{ config.upstream }}/orders/42?key=q-Secret-9", expected_status: [200] }
"#;

#[test]
fn exec_show_has_inputs_timestamped_logs_of_every_attempt_and_paths() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let upstream = Fake::start(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            (503, json!({ "busy": true }))
        } else {
            (200, json!({ "ok": true }))
        }
    });
    let server = TestServer::start(ServerOptions {
        config: Some(LOOPBACK_CONFIG.to_owned()),
        ..ServerOptions::with_all_builtins()
    });
    assert_eq!(server.api().push_integration(INTEGRATION).status, 201);
    let id = enabled(
        &server,
        INTEGRATION,
        json!({ "upstream": upstream.url }),
        json!({}),
    );
    let answer = post_json(&server, &format!("/hooks/{id}/f"), &json!({}), &[]);
    assert_eq!(answer.status, 202, "{answer:?}");
    let exec = answer.execution_id();
    let done = finished(&server.api(), &exec);
    assert_eq!(done["status"], "succeeded", "{done:#}");

    // The record: every line timestamped, in time order; both attempts'
    // outbound lines kept, with the path and without the query.
    let call = step(&done, "call");
    assert_eq!(call["attempts"], 2, "{done:#}");
    let messages: Vec<&str> = call["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    let target = format!("outbound GET {}/orders/42", upstream.url);
    assert!(
        messages[0].starts_with(&format!("{target}: 503 after")),
        "{messages:#?}"
    );
    assert!(
        messages[1].starts_with("attempt 1 of 2 failed: "),
        "{messages:#?}"
    );
    assert!(
        messages[2].starts_with(&format!("{target}: 200 after")),
        "{messages:#?}"
    );
    for record in [step(&done, "talk"), call] {
        let times: Vec<DateTime<Utc>> = record["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["at"].as_str().expect("at").parse().expect("a timestamp"))
            .collect();
        assert!(!times.is_empty(), "{record:#}");
        assert!(times.is_sorted(), "{record:#}");
    }

    // The human view.
    let shown = server.weft(["exec", "show", &exec]);
    assert_eq!(shown.code, Some(0), "{shown:?}");
    let out = &shown.stdout;
    assert!(out.contains(r#"input: {"lines":2}"#), "{out}");
    assert!(
        out.contains(&format!(
            r#"input: {{"expected_status":[200],"url":"{}/orders/42?key=q-Secret-9"}}"#,
            upstream.url
        )),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.contains("log line 0"))
        .unwrap_or_else(|| panic!("no guest log line in {out}"));
    let stamp = line
        .trim_start()
        .strip_prefix("log: ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_default();
    assert!(
        stamp.len() == 12 && chrono::NaiveTime::parse_from_str(stamp, "%H:%M:%S%.3f").is_ok(),
        "{line}"
    );
    assert!(line.ends_with("info log: log line 0"), "{line}");
    assert!(
        out.contains(&format!("debug host: {target}: 503 after")),
        "{out}"
    );
    assert!(
        out.contains(&format!("debug host: {target}: 200 after")),
        "{out}"
    );
    // The host's outbound lines leave the query out.
    assert!(
        out.lines()
            .filter(|l| l.contains("outbound GET"))
            .all(|l| !l.contains("key=")),
        "{out}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
