//! Queue triggers against a real `nats-server -js` ([`crate::nats`]):
//! every message runs exactly once across a `kill -9` of the host and
//! across redeliveries, instances see only their own subject, a disabled
//! instance consumes nothing, and a broker that is down at start shows in
//! `/readyz` and `/metrics` and is connected to once it comes up.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::{FLOW_DEADLINE, enabled, example};
use crate::nats::{NatsServer, Publisher, free_port};
use crate::server::{ServerOptions, TestServer, poll};
use crate::triggers::fake::Fake;

/// Records each message's `n` in execution state, so the test can read
/// back which message every execution ran.
const QUEUE_YAML: &str = r#"
name: queue-test
version: 1
config:
  - { key: shop, type: string, required: true }
flows:
  - name: orders
    trigger: { type: queue, broker: events, subject: "orders.{{ config.shop }}" }
    steps:
      - id: seen
        component: echo@1.0.0
        action: echo
        input: { n: "{{ trigger.body.n }}", shop: "{{ config.shop }}" }
"#;

fn server(nats: &NatsServer) -> TestServer {
    TestServer::start(ServerOptions {
        config: Some(nats.weft_config()),
        ..ServerOptions::with_all_builtins()
    })
}

/// Execution summaries of `instance` (newest first, up to 500).
fn executions(server: &TestServer, instance: &str) -> Vec<Value> {
    let page = server
        .api()
        .get(&format!("/v1/executions?instance={instance}&limit=500"));
    assert_eq!(page.status, 200, "{page:?}");
    page.json["executions"].as_array().cloned().unwrap()
}

/// Waits until `instance` has `n` executions, all succeeded.
fn wait_succeeded(server: &TestServer, instance: &str, n: usize) {
    let done = poll(FLOW_DEADLINE, || {
        let all = executions(server, instance);
        all.len() == n && all.iter().all(|e| e["status"] == "succeeded")
    });
    let all = executions(server, instance);
    assert!(
        done,
        "{instance}: wanted {n} succeeded executions, have {} ({:?})",
        all.len(),
        all.iter().map(|e| e["status"].clone()).collect::<Vec<_>>()
    );
}

/// `n` of each execution's trigger body, counted: every message must
/// appear exactly once.
fn messages_seen(server: &TestServer, instance: &str) -> BTreeMap<i64, usize> {
    let mut seen = BTreeMap::new();
    for e in executions(server, instance) {
        let id = e["id"].as_str().unwrap();
        let full = server.api().get(&format!("/v1/executions/{id}"));
        assert_eq!(full.json["trigger"]["type"], "queue", "{full:?}");
        let n = full.json["trigger"]["body"]["n"].as_i64().unwrap();
        *seen.entry(n).or_default() += 1;
    }
    seen
}

fn once_each(range: std::ops::Range<i64>) -> BTreeMap<i64, usize> {
    range.map(|n| (n, 1)).collect()
}

#[test]
fn every_message_runs_once_across_a_kill9_and_a_redelivery() {
    let nats = NatsServer::start();
    let publisher = Publisher::connect(&nats);
    publisher.create_stream("ORDERS", &["orders.>"]);
    let mut server = server(&nats);
    let a = enabled(&server, QUEUE_YAML, json!({ "shop": "a" }), json!({}));
    let b = enabled(&server, QUEUE_YAML, json!({ "shop": "b" }), json!({}));

    // Half with a Nats-Msg-Id, half keyed by their stream sequence.
    const N: i64 = 300;
    for n in 0..N {
        let id = format!("order-{n}");
        publisher.publish(
            "orders.a",
            &json!({ "n": n }),
            (n % 2 == 0).then_some(id.as_str()),
        );
    }
    assert!(
        poll(FLOW_DEADLINE, || !executions(&server, &a).is_empty()),
        "no message became an execution: {}",
        server.stderr()
    );
    server.kill9();
    server.restart_after_kill9();
    wait_succeeded(&server, &a, N as usize);
    assert_eq!(messages_seen(&server, &a), once_each(0..N));
    // Nothing crossed over to the other shop's instance.
    assert!(executions(&server, &b).is_empty());

    // The other instance's subject reaches only it.
    for n in 0..3 {
        publisher.publish("orders.b", &json!({ "n": n }), None);
    }
    wait_succeeded(&server, &b, 3);
    assert_eq!(messages_seen(&server, &b), once_each(0..3));
    assert_eq!(executions(&server, &a).len(), N as usize);

    // Every message delivered again (the consumer lost, re-created from
    // the stream's start): each finds its execution, none starts another.
    server.stop();
    let consumer = format!("weft_{a}_orders");
    assert!(
        publisher.consumers("ORDERS").contains(&consumer),
        "{:?}",
        publisher.consumers("ORDERS")
    );
    publisher.delete_consumer("ORDERS", &consumer);
    server.restart();
    let metric = "weft_queue_messages_total{broker=\"events\",outcome=\"duplicate\"}";
    assert!(
        poll(FLOW_DEADLINE, || server.metric(metric) >= Some(N as f64)),
        "redeliveries counted: {:?}",
        server.metric(metric)
    );
    assert!(
        poll(FLOW_DEADLINE, || publisher.pending("ORDERS", &consumer)
            == (0, 0)),
        "redelivered messages are acknowledged: {:?}",
        publisher.pending("ORDERS", &consumer)
    );
    assert_eq!(executions(&server, &a).len(), N as usize);
}

#[test]
fn a_disabled_instance_stops_consuming_and_resumes_when_enabled() {
    let nats = NatsServer::start();
    let publisher = Publisher::connect(&nats);
    publisher.create_stream("ORDERS", &["orders.>"]);
    let server = server(&nats);
    let a = enabled(&server, QUEUE_YAML, json!({ "shop": "a" }), json!({}));
    let b = enabled(&server, QUEUE_YAML, json!({ "shop": "b" }), json!({}));
    publisher.publish("orders.a", &json!({ "n": 0 }), Some("a-0"));
    wait_succeeded(&server, &a, 1);

    let disabled = server.api().disable(&a);
    assert_eq!(disabled.json["status"], "disabled", "{disabled:?}");
    for n in 1..4 {
        publisher.publish("orders.a", &json!({ "n": n }), None);
    }
    // b's message ran after a's three were published: the host was
    // consuming all along, just not for a, whose messages wait in the
    // stream (a pull request the stopped consumer left open may have
    // taken some; they are unacknowledged and come back after ack_wait).
    publisher.publish("orders.b", &json!({ "n": 0 }), None);
    wait_succeeded(&server, &b, 1);
    let consumer = format!("weft_{a}_orders");
    let (waiting, unacked) = publisher.pending("ORDERS", &consumer);
    assert_eq!(waiting + unacked as u64, 3, "{waiting} + {unacked}");
    assert_eq!(executions(&server, &a).len(), 1);

    let enabled = server.api().enable(&a);
    assert_eq!(enabled.json["status"], "active", "{enabled:?}");
    wait_succeeded(&server, &a, 4);
    assert_eq!(messages_seen(&server, &a), once_each(0..4));
}

#[test]
fn a_broker_down_at_start_shows_and_is_used_once_it_is_up() {
    let mut nats = NatsServer::reserved(free_port());
    let server = server(&nats);
    let readyz = server.api_as(None).get("/readyz");
    assert_eq!(readyz.status, 200, "webhooks still work: {readyz:?}");
    assert!(
        readyz.text.contains("broker events: disconnected"),
        "{readyz:?}"
    );
    let connected = "weft_broker_connected{broker=\"events\"}";
    assert_eq!(server.metric(connected), Some(0.0));

    // Uploads are checked against the configured brokers.
    let bad = server
        .api()
        .push_integration(&QUEUE_YAML.replace("broker: events", "broker: evnts"));
    assert_eq!(bad.status, 422, "{bad:?}");
    assert!(
        bad.text
            .contains("flows[0].trigger.broker: unknown broker 'evnts'; did you mean 'events'?"),
        "{bad:?}"
    );

    // Enabled while the broker is down: its consumer waits with backoff.
    let a = enabled(&server, QUEUE_YAML, json!({ "shop": "a" }), json!({}));
    nats.up();
    assert!(
        poll(Duration::from_secs(30), || server.metric(connected)
            == Some(1.0)),
        "{}",
        server.stderr()
    );
    let readyz = server.api_as(None).get("/readyz");
    assert!(
        readyz.text.contains("broker events: connected"),
        "{readyz:?}"
    );
    let publisher = Publisher::connect(&nats);
    publisher.create_stream("ORDERS", &["orders.>"]);
    publisher.publish("orders.a", &json!({ "n": 7 }), Some("late"));
    wait_succeeded(&server, &a, 1);
    assert_eq!(messages_seen(&server, &a), once_each(7..8));

    // Down again, and back.
    nats.down();
    assert!(
        poll(Duration::from_secs(30), || server.metric(connected)
            == Some(0.0)),
        "disconnect not seen"
    );
    nats.up();
    assert!(
        poll(Duration::from_secs(30), || server.metric(connected)
            == Some(1.0)),
        "reconnect not seen"
    );
    Publisher::connect(&nats).publish("orders.a", &json!({ "n": 8 }), Some("later"));
    wait_succeeded(&server, &a, 2);
}

#[test]
fn example_queue_orders_posts_each_shops_orders_once() {
    let nats = NatsServer::start();
    let publisher = Publisher::connect(&nats);
    publisher.create_stream("ORDERS", &["orders.>"]);
    let app = Fake::recorder();
    let server = server(&nats);
    let yaml = example("queue-orders");
    let berlin = enabled(
        &server,
        &yaml,
        json!({ "shop": "berlin", "app_url": app.url }),
        json!({}),
    );
    let paris = enabled(
        &server,
        &yaml,
        json!({ "shop": "paris", "app_url": app.url }),
        json!({}),
    );
    let order = |id: &str| json!({ "order_id": id, "items": [{ "sku": "a", "quantity": 2, "price": 1.5 }] });
    publisher.publish("orders.acme.berlin.created", &order("b-1"), Some("b-1"));
    publisher.publish("orders.acme.berlin.created", &order("b-2"), Some("b-2"));
    publisher.publish("orders.acme.paris.created", &order("p-1"), Some("p-1"));
    wait_succeeded(&server, &berlin, 2);
    wait_succeeded(&server, &paris, 1);
    let mut posted: Vec<(String, String, f64)> = app
        .hits()
        .iter()
        .map(|h| {
            (
                h.body["shop"].as_str().unwrap().to_owned(),
                h.body["order_id"].as_str().unwrap().to_owned(),
                h.body["total"].as_f64().unwrap(),
            )
        })
        .collect();
    posted.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(
        posted,
        [
            ("berlin".to_owned(), "b-1".to_owned(), 3.0),
            ("berlin".to_owned(), "b-2".to_owned(), 3.0),
            ("paris".to_owned(), "p-1".to_owned(), 3.0),
        ]
    );
}

#[test]
fn a_full_tenant_queue_hands_messages_back_until_there_is_room() {
    let nats = NatsServer::start();
    let publisher = Publisher::connect(&nats);
    publisher.create_stream("ORDERS", &["orders.>"]);
    // One worker, one queued execution per tenant: while one message's
    // execution sleeps and the next waits, a third finds the queue full.
    let config = format!(
        "{}\n[engine]\nworkers = 1\nmax_queued_per_tenant = 1\n",
        nats.weft_config()
    );
    let server = TestServer::start(ServerOptions {
        config: Some(config),
        ..ServerOptions::with_all_builtins()
    });
    let yaml = QUEUE_YAML.replace(
        "action: echo\n        input: { n: \"{{ trigger.body.n }}\", shop: \"{{ config.shop }}\" }",
        "action: sleep\n        input: { ms: 300 }",
    );
    assert!(yaml.contains("action: sleep"), "{yaml}");
    let a = enabled(&server, &yaml, json!({ "shop": "a" }), json!({}));
    for n in 0..4 {
        publisher.publish("orders.a", &json!({ "n": n }), None);
    }
    wait_succeeded(&server, &a, 4);
    assert_eq!(messages_seen(&server, &a), once_each(0..4));
    let deferred = "weft_queue_messages_total{broker=\"events\",outcome=\"deferred\"}";
    assert!(
        server.metric(deferred) >= Some(1.0),
        "no message was handed back: {:?}",
        server.metric(deferred)
    );
}
