//! The example integrations under `components/examples/`, end to end
//! against fake third-party services on loopback.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::fake::{Fake, Hit};
use super::{FLOW_DEADLINE, enabled, example, hook, post_json, server};

/// Units in stock per sku at the fake inventory API.
fn stock(sku: &str) -> u64 {
    match sku {
        "widget" => 5,
        _ => 0,
    }
}

/// Inventory, accounting, orders and email APIs in one fake.
fn shop() -> Fake {
    Fake::start(|hit| match (hit.method.as_str(), hit.path.as_str()) {
        ("POST", "/check") => {
            let items = hit.body["items"].as_array().cloned().unwrap_or_default();
            let in_stock = items.iter().all(|i| {
                i["quantity"].as_u64().unwrap_or(u64::MAX) <= stock(i["sku"].as_str().unwrap_or(""))
            });
            (200, json!({ "in_stock": in_stock }))
        }
        ("POST", "/invoices") => (201, json!({ "id": "inv-1" })),
        ("POST", "/orders") => (201, json!({ "id": "ord-1" })),
        ("POST", "/send") => (202, json!({ "queued": true })),
        _ => (404, json!({ "error": "no such endpoint" })),
    })
}

#[test]
fn synchronous_order_confirms_or_back_orders() {
    let shop = shop();
    let server = server();
    let url = &shop.url;
    let id = enabled(
        &server,
        &example("order-sync"),
        json!({ "inventory_url": url, "accounting_url": url, "orders_url": url, "email_url": url }),
        json!({ "accounting_key": "acct-key-1" }),
    );
    let path = format!("/hooks/{id}/order-request");
    let order = json!({
        "order_id": "A-1",
        "customer": "ada@example.com",
        "items": [{ "sku": "widget", "quantity": 2, "price": 12.5 }],
    });
    let confirmed = post_json(&server, &path, &order, &[]);
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    assert_eq!(
        confirmed.json,
        json!({ "status": "confirmed", "order_id": "A-1", "order": "ord-1", "invoice": "inv-1", "amount": 25.0 })
    );
    let invoice = shop
        .hits()
        .into_iter()
        .find(|h| h.path == "/invoices")
        .expect("an invoice");
    assert_eq!(invoice.headers["authorization"], "Bearer acct-key-1");
    assert_eq!(invoice.body["reference"], "INV-A-1");
    assert_eq!(invoice.body["amount"], 25.0);
    let mail = shop
        .hits()
        .into_iter()
        .find(|h| h.path == "/send")
        .expect("an email");
    assert_eq!(mail.body["to"], "ada@example.com");
    assert_eq!(mail.body["text"], "Invoice inv-1 for 25.0");

    let big = json!({
        "order_id": "A-2",
        "customer": "ada@example.com",
        "items": [{ "sku": "widget", "quantity": 50, "price": 12.5 }],
    });
    let backordered = post_json(&server, &path, &big, &[]);
    assert_eq!(backordered.status, 200, "{backordered:?}");
    assert_eq!(
        backordered.json,
        json!({ "status": "back-ordered", "order_id": "A-2" })
    );
    let warehouse: Vec<Hit> = shop
        .hits()
        .into_iter()
        .filter(|h| h.path == "/send" && h.body["to"] == "warehouse@example.com")
        .collect();
    assert_eq!(warehouse.len(), 1, "the warehouse is told once");
    assert_eq!(warehouse[0].body["subject"], "Back-order A-2");
    assert_eq!(
        shop.hits().iter().filter(|h| h.path == "/invoices").count(),
        1,
        "no invoice for a back-order"
    );
}

/// A fake with a webhook registry (`POST/GET /webhooks`,
/// `DELETE /webhooks/{id}`) that answers anything else `200 {"ok"}`.
fn with_webhooks() -> (Fake, Arc<Mutex<BTreeMap<u64, Value>>>) {
    let hooks: Arc<Mutex<BTreeMap<u64, Value>>> = Arc::default();
    let registry = hooks.clone();
    let fake = Fake::start(move |hit| {
        let mut hooks = registry.lock().unwrap();
        match (hit.method.as_str(), hit.path.as_str()) {
            ("POST", "/webhooks") => {
                let id = hooks.keys().last().map_or(1, |k| k + 1);
                hooks.insert(id, hit.body.clone());
                (201, json!({ "id": id }))
            }
            ("GET", "/webhooks") => (200, json!(hooks.values().collect::<Vec<_>>())),
            ("DELETE", path) if path.starts_with("/webhooks/") => {
                match path["/webhooks/".len()..]
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| hooks.remove(&id))
                {
                    Some(_) => (204, Value::Null),
                    None => (404, json!({ "error": "no such webhook" })),
                }
            }
            _ => (200, json!({ "ok": true })),
        }
    });
    (fake, hooks)
}

fn registered_url(hooks: &Mutex<BTreeMap<u64, Value>>, event: &str) -> String {
    let hooks = hooks.lock().unwrap();
    let hook = hooks
        .values()
        .find(|h| h["event"] == event)
        .unwrap_or_else(|| panic!("no {event} webhook in {hooks:?}"));
    hook["url"].as_str().unwrap().to_owned()
}

#[test]
fn two_way_sync_registers_and_removes_its_webhooks() {
    let (crm, crm_hooks) = with_webhooks();
    let (app, app_hooks) = with_webhooks();
    let server = server();
    let id = enabled(
        &server,
        &example("crm-sync"),
        json!({ "crm_url": crm.url, "app_url": app.url }),
        json!({}),
    );
    assert_eq!(
        crm_hooks.lock().unwrap().len(),
        2,
        "account and opportunity webhooks in the CRM"
    );
    assert_eq!(
        app_hooks.lock().unwrap().len(),
        1,
        "a record webhook in the app"
    );
    let account_url = registered_url(&crm_hooks, "account.updated");
    assert!(
        account_url.ends_with(&format!("/hooks/{id}/account")),
        "{account_url}"
    );

    // The CRM calls the registered URLs; the app gets create-or-update.
    let path = |url: &str| url[url.find("/hooks/").unwrap()..].to_owned();
    let sent = post_json(
        &server,
        &path(&account_url),
        &json!({ "id": "a1", "name": "Acme" }),
        &[],
    );
    assert_eq!(sent.status, 202, "{sent:?}");
    let upsert = app
        .wait_for(FLOW_DEADLINE, |h| {
            h.method == "PUT" && h.path == "/accounts/a1"
        })
        .expect("account upserted");
    assert_eq!(upsert.body["name"], "Acme");
    let opportunity_url = registered_url(&crm_hooks, "opportunity.updated");
    post_json(
        &server,
        &path(&opportunity_url),
        &json!({ "id": "o9", "amount": 10 }),
        &[],
    );
    assert!(
        app.wait_for(FLOW_DEADLINE, |h| h.method == "PUT"
            && h.path == "/opportunities/o9")
            .is_some()
    );
    // The app calls its webhook; the CRM gets the update.
    let export_url = registered_url(&app_hooks, "record.updated");
    post_json(
        &server,
        &path(&export_url),
        &json!({ "id": "a1", "name": "Acme Corp" }),
        &[],
    );
    let patched = crm
        .wait_for(FLOW_DEADLINE, |h| {
            h.method == "PATCH" && h.path == "/accounts/a1"
        })
        .expect("crm updated");
    assert_eq!(patched.body["name"], "Acme Corp");

    // Teardown removes every registered webhook.
    let disabled = server.api().disable(&id);
    assert_eq!(disabled.json["status"], "disabled", "{disabled:?}");
    assert!(
        crm_hooks.lock().unwrap().is_empty(),
        "the CRM ends with no webhooks"
    );
    assert!(
        app_hooks.lock().unwrap().is_empty(),
        "the app ends with no webhooks"
    );
    assert_eq!(
        crm.hits().iter().filter(|h| h.method == "DELETE").count(),
        2
    );
}

/// The event-router example's signing secret.
const ROUTER_KEY: &str = "router-signing-key-0123";

#[test]
fn preprocess_dispatches_mixed_events_to_flows() {
    let app = Fake::start(|hit| match hit.path.as_str() {
        "/customers" => (201, json!({ "id": "c1" })),
        "/payments" => (201, json!({ "id": "p1" })),
        _ => (404, json!({})),
    });
    let server = server();
    let id = enabled(
        &server,
        &example("event-router"),
        json!({ "app_url": app.url }),
        json!({ "signing_key": ROUTER_KEY }),
    );
    let path = format!("/hooks/{id}");

    let created = post_json(
        &server,
        &path,
        &json!({ "type": "customer.created", "data": { "name": "Ada" } }),
        &[],
    );
    assert_eq!(created.status, 202, "async flow: {created:?}");
    let customer = app
        .wait_for(FLOW_DEADLINE, |h| h.path == "/customers")
        .expect("customer created");
    assert_eq!(
        customer.body,
        json!({ "name": "Ada" }),
        "the flow saw the payload as its body"
    );

    let event = json!({ "type": "invoice.paid", "data": { "invoice": "i7" } }).to_string();
    let signature = weft::triggers::signature::sign(ROUTER_KEY.as_bytes(), event.as_bytes());
    let paid = hook(
        &server,
        "POST",
        &path,
        &[("X-Signature", &signature)],
        Some((event.into_bytes(), "application/json")),
    );
    assert_eq!(paid.status, 200, "sync flow: {paid:?}");
    assert_eq!(paid.json, json!({ "recorded": "p1" }));

    let unknown = post_json(
        &server,
        &path,
        &json!({ "type": "refund.issued", "data": {} }),
        &[],
    );
    assert_eq!(unknown.status, 422, "{unknown:?}");
    assert!(!unknown.execution_id().is_empty());
    let error = unknown.json["error"].as_str().unwrap();
    assert!(
        error.contains("no webhook flow \"refund-issued\""),
        "{error}"
    );
    assert!(error.contains("customer-created, invoice-paid"), "{error}");

    let text = hook(
        &server,
        "POST",
        &path,
        &[],
        Some((b"not an event".to_vec(), "text/plain")),
    );
    assert_eq!(text.status, 422, "{text:?}");
}

/// Issue 10 item 2: the shared endpoint checks the chosen flow's own
/// `auth` against the original request (raw body and headers) before that
/// flow's execution exists; unsigned, wrongly signed or signed-for-another-
/// body requests answer 401 and the flow never runs.
#[test]
fn preprocess_enforces_the_target_flows_signature() {
    let app = Fake::start(|hit| match hit.path.as_str() {
        "/payments" => (201, json!({ "id": "p1" })),
        _ => (404, json!({})),
    });
    let server = server();
    let id = enabled(
        &server,
        &example("event-router"),
        json!({ "app_url": app.url }),
        json!({ "signing_key": ROUTER_KEY }),
    );
    let path = format!("/hooks/{id}");
    let event = json!({ "type": "invoice.paid", "data": { "invoice": "forged" } }).to_string();
    let sign = |body: &str| weft::triggers::signature::sign(ROUTER_KEY.as_bytes(), body.as_bytes());
    let other = sign(r#"{"type":"invoice.paid","data":{"invoice":"other"}}"#);
    let under_wrong_key =
        weft::triggers::signature::sign(b"not-the-signing-key!", event.as_bytes());
    for (what, headers) in [
        ("unsigned", vec![]),
        (
            "signature of another body",
            vec![("X-Signature", other.as_str())],
        ),
        ("wrong key", vec![("X-Signature", under_wrong_key.as_str())]),
    ] {
        let refused = hook(
            &server,
            "POST",
            &path,
            &headers,
            Some((event.clone().into_bytes(), "application/json")),
        );
        assert_eq!(refused.status, 401, "{what}: {refused:?}");
        assert!(
            refused.json["error"]
                .as_str()
                .unwrap_or("")
                .contains("\"x-signature\""),
            "{what}: {refused:?}"
        );
    }
    let listed = server.api().get(&format!("/v1/executions?instance={id}"));
    let flows: Vec<Value> = listed.json["executions"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed:?}"))
        .iter()
        .map(|e| e["flow"].clone())
        .collect();
    assert_eq!(
        flows,
        vec![json!("route"); 3],
        "only the preprocess runs: {flows:?}"
    );
    assert!(app.hits().is_empty(), "the signed flow never ran");

    // Signed over the same raw body, the same request goes through.
    let good = sign(&event);
    let paid = hook(
        &server,
        "POST",
        &path,
        &[("X-Signature", &good)],
        Some((event.into_bytes(), "application/json")),
    );
    assert_eq!(paid.status, 200, "{paid:?}");
    assert_eq!(paid.json, json!({ "recorded": "p1" }));
}

#[test]
fn scheduled_import_moves_its_cursor_without_duplicates() {
    let records: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(
        (1..=3)
            .map(|i| json!({ "id": i, "name": format!("r{i}") }))
            .collect(),
    ));
    let source_records = records.clone();
    let source = Fake::start(move |hit| {
        let since: u64 = hit
            .query
            .strip_prefix("since=")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let all = source_records.lock().unwrap();
        let new: Vec<&Value> = all
            .iter()
            .filter(|r| r["id"].as_u64().unwrap() > since)
            .collect();
        let cursor = all
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .max()
            .unwrap_or(since)
            .max(since);
        (200, json!({ "records": new, "cursor": cursor }))
    });
    let app = Fake::recorder();
    let mut server = server();
    enabled(
        &server,
        &example("scheduled-import"),
        json!({ "source_url": source.url, "app_url": app.url, "import_cron": "*/2 * * * * *" }),
        json!({}),
    );
    for i in 1..=3 {
        assert!(
            app.wait_for(FLOW_DEADLINE, |h| h.path == format!("/records/{i}"))
                .is_some(),
            "record {i} imported"
        );
    }
    // A run that starts from cursor 3 means the run importing record 3 has
    // stored its cursor and ended: restarting earlier could cut that run
    // off between its import and its cursor step, and its (at-least-once)
    // resume would import record 3 again.
    assert!(
        source
            .wait_for(FLOW_DEADLINE, |h| h.query == "since=3")
            .is_some(),
        "a run from cursor 3"
    );
    server.restart();
    records
        .lock()
        .unwrap()
        .extend((4..=5).map(|i| json!({ "id": i, "name": format!("r{i}") })));
    for i in 4..=5 {
        assert!(
            app.wait_for(FLOW_DEADLINE, |h| h.path == format!("/records/{i}"))
                .is_some(),
            "record {i} imported"
        );
    }
    // Two more runs after the last record: still nothing repeated.
    let polls = source.hits().len();
    assert!(super::super::server::poll(FLOW_DEADLINE, || source
        .hits()
        .len()
        >= polls + 2));
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for hit in app.hits() {
        *counts.entry(hit.path).or_default() += 1;
    }
    assert!(
        counts.values().all(|&n| n == 1),
        "each record imported once: {counts:?}"
    );
    assert_eq!(counts.len(), 5);
}
