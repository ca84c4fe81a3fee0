//! Three nodes on one database under webhook load spread round robin over
//! all three; one is killed with `kill -9` while requests are in flight,
//! then restarted. Every acknowledged (202) execution must end
//! `succeeded`, and no step may run twice except the one a killed node
//! had in flight: the flow's steps call a loopback counter (the fake app)
//! with their execution id and step as `Idempotency-Key`, so the app's
//! hits say how often each step ran.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::node_with;
use crate::executions::finished;
use crate::server::{ServerOptions, poll};
use crate::triggers::LOOPBACK_CONFIG;
use crate::triggers::fake::Fake;

const WORK: &str = r#"
name: work
version: 1
config:
  - { key: app, type: string }
flows:
  - name: steps
    trigger: { type: webhook }
    steps:
      - id: first
        component: http@1.0.0
        action: request
        input:
          method: POST
          url: "{{ config.app }}/first"
          headers: { Idempotency-Key: "{{ execution.id }}/first" }
          json: { n: "{{ trigger.body.n }}" }
      - id: nap
        component: echo@1.0.0
        action: sleep
        input: { ms: 1000 }
      - id: second
        component: http@1.0.0
        action: request
        input:
          method: POST
          url: "{{ config.app }}/second"
          headers: { Idempotency-Key: "{{ execution.id }}/second" }
          json: { n: "{{ trigger.body.n }}" }
"#;

/// Client threads posting webhooks.
const CLIENTS: usize = 4;

/// What the load threads saw.
#[derive(Default)]
struct Seen {
    /// Execution ids answered 202, with the node (0, 1, 2) that answered.
    acknowledged: Vec<(String, usize)>,
    /// Requests that got no answer or another status (the killed node's).
    unanswered: usize,
}

/// Posts to the nodes in `urls` round robin until `stop`.
fn load(
    hook: String,
    urls: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    offset: usize,
) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut n = offset;
    while !stop.load(Ordering::Relaxed) {
        let target = n % 3;
        let base = urls.lock().unwrap()[target].clone();
        let answer = client
            .post(format!("{base}{hook}"))
            .json(&json!({ "n": n }))
            .send()
            .ok()
            .filter(|r| r.status().as_u16() == 202)
            .and_then(|r| r.json::<serde_json::Value>().ok());
        let mut seen = seen.lock().unwrap();
        match answer.and_then(|a| a["execution_id"].as_str().map(str::to_owned)) {
            Some(id) => seen.acknowledged.push((id, target)),
            None => seen.unanswered += 1,
        }
        n += CLIENTS;
    }
}

#[test]
fn three_nodes_lose_no_acknowledged_webhook_and_repeat_no_finished_step_across_a_kill9() {
    let url = crate::pg::database();
    let app = Fake::recorder();
    let options = || ServerOptions {
        config: Some(format!("{LOOPBACK_CONFIG}\n[engine]\nper_tenant = 12\n")),
        ..ServerOptions::with_all_builtins()
    };
    let a = node_with(&url, options());
    let b = node_with(&url, options());
    let mut c = node_with(&url, options());
    assert_eq!(a.api().push_integration(WORK).status, 201);
    assert_eq!(
        a.api().post("/v1/tenants", &json!({"name": "acme"})).status,
        201
    );
    let made = b.api().post(
        "/v1/instances",
        &json!({"integration": "work@1", "tenant": "acme", "config": {"app": app.url}}),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let instance = made.json["id"].as_str().unwrap().to_owned();
    assert_eq!(c.api().enable(&instance).json["status"], "active");

    let urls = Arc::new(Mutex::new(vec![
        a.url().to_owned(),
        b.url().to_owned(),
        c.url().to_owned(),
    ]));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|offset| {
            let (urls, seen, stop) = (urls.clone(), seen.clone(), stop.clone());
            let hook = format!("/hooks/{instance}/steps");
            std::thread::spawn(move || load(hook, urls, seen, stop, offset))
        })
        .collect();
    let acknowledged = |node: Option<usize>| {
        let seen = seen.lock().unwrap();
        seen.acknowledged
            .iter()
            .filter(|(_, n)| node.is_none_or(|node| *n == node))
            .count()
    };
    let deadline = Duration::from_secs(60);
    assert!(
        poll(deadline, || acknowledged(Some(2)) >= 10),
        "C acknowledged too little"
    );
    // C dies with requests in flight and executions running: it started
    // more than it finished (each naps a second, so the kill below lands
    // well inside one).
    let running = |node: &crate::server::TestServer| {
        let started = node.metric("weft_queue_wait_seconds_count").unwrap_or(0.0);
        let ended = node
            .metric("weft_executions_total{status=\"succeeded\"}")
            .unwrap_or(0.0);
        started - ended
    };
    assert!(
        poll(deadline, || running(&c) >= 1.0),
        "C never ran an execution"
    );
    c.kill9();
    let before = acknowledged(None);
    assert!(
        poll(deadline, || acknowledged(None) >= before + 20),
        "A and B stopped acknowledging without C"
    );
    c.restart_after_kill9();
    urls.lock().unwrap()[2] = c.url().to_owned();
    let restarted = acknowledged(Some(2));
    assert!(
        poll(deadline, || acknowledged(Some(2)) >= restarted + 10),
        "C did not acknowledge after its restart"
    );
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }

    let seen = seen.lock().unwrap();
    let mut resumed = 0;
    let hits = || {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for hit in app.hits() {
            if let Some(key) = hit.headers.get("idempotency-key") {
                *counts.entry(key.clone()).or_default() += 1;
            }
        }
        counts
    };
    for (id, _) in &seen.acknowledged {
        let done = finished(&b.api(), id);
        assert_eq!(done["status"], "succeeded", "{done:#}");
    }
    let counts = hits();
    let mut taken_over = 0;
    for (id, _) in &seen.acknowledged {
        let ran: Vec<usize> = ["first", "second"]
            .iter()
            .map(|step| counts.get(&format!("{id}/{step}")).copied().unwrap_or(0))
            .collect();
        assert!(
            ran.iter().all(|n| *n >= 1),
            "a step of {id} never ran: {ran:?}"
        );
        let repeated = ran.iter().filter(|n| **n > 1).count();
        let record = a.api().get(&format!("/v1/executions/{id}")).json;
        if record["resumed"].as_u64().unwrap_or(0) >= 1 {
            taken_over += 1;
        }
        if repeated == 0 {
            continue;
        }
        // Only the step a dead node had in flight runs again, once.
        assert!(
            repeated == 1 && ran.iter().all(|n| *n <= 2),
            "{id} repeated finished steps: {ran:?}"
        );
        assert!(
            record["resumed"].as_u64().unwrap_or(0) >= 1,
            "{id} ran a step twice without being resumed: {ran:?} {record:#}"
        );
        resumed += 1;
    }
    eprintln!(
        "{} acknowledged, {} unanswered, {taken_over} resumed after the kill, {resumed} of them with a repeated step",
        seen.acknowledged.len(),
        seen.unanswered
    );
    // Each execution naps for a second: C was running some when it died.
    assert!(taken_over >= 1, "the kill cut no execution short");
    // Executions with a repeated step were held by C: at most its share.
    assert!(resumed <= 12, "{resumed} executions repeated a step");
}
