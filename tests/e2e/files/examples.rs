//! `components/examples/file-import` and `file-export` on their schedules
//! (a per-second cron), against moto and a fake app API.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::moto::{BUCKET, Moto};
use crate::server::poll;
use crate::triggers::fake::Fake;
use crate::triggers::{FLOW_DEADLINE, enabled, example, server};

/// The instances' secret access key: it must show nowhere.
const SECRET: &str = "s3-secret-key-do-not-show-0123";

/// The instance config and secrets for a bucket at `moto`.
fn store(moto: &Moto, mut config: Value) -> (Value, Value) {
    config["s3_endpoint"] = json!(moto.url);
    config["s3_bucket"] = json!(BUCKET);
    let secrets = json!({ "s3_access_key_id": "AKIDWEFTTEST", "s3_secret_access_key": SECRET });
    (config, secrets)
}

/// A fake app whose `POST /records` creates one record per
/// `Idempotency-Key` (a repeated key answers the first record again).
fn app() -> (Fake, Arc<Mutex<BTreeMap<String, Value>>>) {
    let records: Arc<Mutex<BTreeMap<String, Value>>> = Arc::default();
    let stored = records.clone();
    let fake = Fake::start(move |hit| match (hit.method.as_str(), hit.path.as_str()) {
        ("POST", "/records") => {
            let Some(key) = hit.headers.get("idempotency-key") else {
                return (400, json!({ "error": "idempotency-key required" }));
            };
            let mut records = stored.lock().unwrap();
            let created = !records.contains_key(key);
            records
                .entry(key.clone())
                .or_insert_with(|| hit.body.clone());
            (if created { 201 } else { 200 }, json!({ "ok": true }))
        }
        _ => (404, json!({ "error": "no such endpoint" })),
    });
    (fake, records)
}

/// Succeeded executions of `flow` of instance `id`.
fn succeeded(server: &crate::server::TestServer, id: &str, flow: &str) -> usize {
    let listed = server.api().get(&format!(
        "/v1/executions?instance={id}&flow={flow}&status=succeeded&limit=100"
    ));
    listed.json["executions"].as_array().map_or(0, Vec::len)
}

/// How many files the most recently started succeeded run of `import`
/// listed (`None` before any).
fn newest_listing(server: &crate::server::TestServer, id: &str) -> Option<u64> {
    let listed = server.api().get(&format!(
        "/v1/executions?instance={id}&flow=import&status=succeeded&limit=100"
    ));
    // Execution ids are UUIDv7: the greatest started last.
    let newest = listed.json["executions"]
        .as_array()?
        .iter()
        .filter_map(|e| e["id"].as_str())
        .max()?
        .to_owned();
    let shown = server.api().get(&format!("/v1/executions/{newest}"));
    shown.json["steps"]
        .as_array()?
        .iter()
        .find(|s| s["path"] == "list")?["output"]["count"]
        .as_u64()
}

#[test]
fn file_import_posts_each_row_once_and_archives_each_file() {
    let moto = Moto::start();
    moto.put(
        "incoming/orders-1.csv",
        "id,customer,total\n1,\"Lovelace, Ada\",12.50\n2,Bob,3\n3,\"Say \"\"hi\"\"\",7\n",
    );
    moto.put(
        "incoming/orders-2.csv",
        "id,customer,total\n4,Eve,1\n5,Mallory,2\n",
    );
    moto.put("elsewhere/not-mine.csv", "id\n99\n");
    let (app, records) = app();
    let server = server();
    let (config, secrets) = store(
        &moto,
        json!({ "app_url": app.url, "import_cron": "*/2 * * * * *" }),
    );
    let id = enabled(&server, &example("file-import"), config, secrets);

    assert!(
        poll(FLOW_DEADLINE, || moto.keys("incoming/").is_empty()
            && moto.keys("processed/").len() == 2),
        "both files moved: incoming {:?}, processed {:?}",
        moto.keys("incoming/"),
        moto.keys("processed/")
    );
    assert_eq!(
        moto.get("processed/orders-2.csv").as_deref(),
        Some("id,customer,total\n4,Eve,1\n5,Mallory,2\n"),
        "moved unchanged"
    );
    assert_eq!(moto.keys("elsewhere/"), ["elsewhere/not-mine.csv"]);
    let rows: Vec<Value> = records.lock().unwrap().values().cloned().collect();
    let mut customers: Vec<&str> = rows
        .iter()
        .map(|r| r["customer"].as_str().unwrap())
        .collect();
    customers.sort();
    assert_eq!(
        customers,
        ["Bob", "Eve", "Lovelace, Ada", "Mallory", "Say \"hi\""],
        "every row once, quoting undone: {rows:?}"
    );
    assert!(
        rows.contains(&json!({ "id": "1", "customer": "Lovelace, Ada", "total": "12.50" })),
        "{rows:?}"
    );

    // Later runs list nothing and import nothing. (A run that started
    // before the files were moved may still post a row again: with the
    // same Idempotency-Key, so the app keeps one record.)
    assert!(
        poll(FLOW_DEADLINE, || newest_listing(&server, &id) == Some(0)),
        "a later run that found no files"
    );
    let runs = succeeded(&server, &id, "import");
    assert!(
        poll(FLOW_DEADLINE, || succeeded(&server, &id, "import")
            >= runs + 2),
        "two more scheduled runs"
    );
    assert_eq!(newest_listing(&server, &id), Some(0));
    assert_eq!(records.lock().unwrap().len(), 5, "a rerun imports nothing");

    // A new file is imported on the next run, once.
    moto.put("incoming/orders-3.csv", "id,customer,total\n6,Trent,9\n");
    assert!(
        poll(FLOW_DEADLINE, || moto.keys("processed/").len() == 3),
        "the new file moved"
    );
    let all = records.lock().unwrap().clone();
    assert_eq!(all.len(), 6, "{all:?}");
    assert!(
        all.keys()
            .any(|k| k.starts_with("incoming/orders-3.csv:") && k.ends_with(":0")),
        "keyed by file, version and line: {all:?}"
    );

    // The secret is in no execution record and not in the server log;
    // the recorded step inputs show the credentials as ***. A file shows
    // as moved in the bucket a moment before its run records the archive
    // step, so the three archive records are awaited, not counted once.
    let archived = || {
        let listed = server
            .api()
            .get(&format!("/v1/executions?instance={id}&limit=100"));
        let executions = listed.json["executions"].as_array().expect("executions");
        let mut moved = 0;
        for execution in executions {
            let exec_id = execution["id"].as_str().unwrap();
            let shown = server.api().get(&format!("/v1/executions/{exec_id}"));
            assert!(!shown.text.contains(SECRET), "secret in {}", shown.text);
            assert!(
                !shown.text.contains("AKIDWEFTTEST"),
                "key id in {}",
                shown.text
            );
            for step in shown.json["steps"].as_array().into_iter().flatten() {
                let path = step["path"].as_str().unwrap_or("");
                if path == "list" || path.ends_with(".archive") {
                    assert_eq!(step["input"]["secret_access_key"], "***", "{step}");
                    assert_eq!(step["input"]["access_key_id"], "***", "{step}");
                }
                if path.ends_with(".archive") && step["status"] == "succeeded" {
                    moved += 1;
                }
            }
        }
        moved
    };
    assert!(
        poll(FLOW_DEADLINE, || archived() >= 3),
        "archive steps seen: {}",
        archived()
    );
    assert!(
        !server.stderr().contains(SECRET),
        "secret in the server log"
    );
    assert!(
        !server.stdout().contains(SECRET),
        "secret in the server log"
    );
}

/// kill -9 of the host in the middle of an import: the run resumes after
/// the restart, re-sends at most the interrupted row under the same
/// Idempotency-Key, and every row ends up in the app once, the file moved.
#[test]
fn file_import_survives_a_kill_mid_run() {
    let moto = Moto::start();
    let csv: String = std::iter::once("id,customer\n".to_owned())
        .chain((1..=20).map(|i| format!("{i},c{i}\n")))
        .collect();
    moto.put("incoming/big.csv", &csv);
    let (app, records) = app();
    let mut server = server();
    let (config, secrets) = store(
        &moto,
        json!({ "app_url": app.url, "import_cron": "*/2 * * * * *" }),
    );
    enabled(&server, &example("file-import"), config, secrets);
    assert!(
        poll(FLOW_DEADLINE, || app.hits().len() >= 3),
        "the import started"
    );
    server.restart_after_kill9();
    assert!(
        poll(FLOW_DEADLINE, || moto.keys("processed/")
            == ["processed/big.csv"]),
        "the file moved after the restart: {:?}",
        moto.keys("")
    );
    let records = records.lock().unwrap().clone();
    let mut ids: Vec<u64> = records
        .values()
        .map(|r| r["id"].as_str().unwrap().parse().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=20).collect::<Vec<_>>(),
        "every row once: {records:?}"
    );
    assert!(moto.keys("incoming/").is_empty());
}

#[test]
fn file_export_uploads_a_csv_report_under_reports() {
    let moto = Moto::start();
    let orders = json!({ "orders": [
        { "id": 1, "customer": "Lovelace, Ada", "total": 12.5, "status": "paid", "note": "not exported" },
        { "id": 2, "customer": "Bob \"B\"", "total": 3 },
    ] });
    let app = Fake::start(move |hit| match hit.path.as_str() {
        "/orders" => (200, orders.clone()),
        _ => (404, json!({ "error": "no such endpoint" })),
    });
    let server = server();
    let (config, secrets) = store(
        &moto,
        json!({ "app_url": app.url, "report_cron": "*/2 * * * * *" }),
    );
    let id = enabled(&server, &example("file-export"), config, secrets);

    assert!(
        poll(FLOW_DEADLINE, || !moto.keys("reports/").is_empty()),
        "a report uploaded"
    );
    let query = app
        .wait_for(FLOW_DEADLINE, |h| h.path == "/orders")
        .expect("orders queried")
        .query;
    let date = query.strip_prefix("date=").expect("date query");
    assert_eq!(date.len(), 10, "{query}");
    let key = format!("reports/orders-{date}.csv");
    let keys = moto.keys("reports/");
    assert!(keys.contains(&key), "{key} in {keys:?}");
    assert_eq!(
        moto.get(&key).as_deref(),
        Some("id,customer,total,status\n1,\"Lovelace, Ada\",12.5,paid\n2,\"Bob \"\"B\"\"\",3,\n"),
        "{key}"
    );
    // Reruns the same day overwrite that day's report.
    let runs = succeeded(&server, &id, "nightly-report");
    assert!(
        poll(FLOW_DEADLINE, || succeeded(&server, &id, "nightly-report")
            > runs),
        "another run"
    );
    assert!(moto.keys("reports/").len() <= 2, "one report per day");
    let disabled = server.api().disable(&id);
    assert_eq!(disabled.json["status"], "disabled", "{disabled:?}");
}
