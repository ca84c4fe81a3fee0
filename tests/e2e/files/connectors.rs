//! The `files` and `transform` connectors tested the way a component
//! author tests theirs: `weft component call` on the built `.wasm`.
//! `files` runs against moto with signature checks on, so every request
//! the guest signs is verified by the store.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::moto::{BUCKET, Moto};
use crate::support::{Run, temp_dir, weft};
use crate::triggers::LOOPBACK_CONFIG;

/// `weft component call COMPONENT ACTION --input @FILE` with the input
/// written next to `settings` (an argument could not hold a large one)
/// and loopback allowed by `settings`.
fn call(component: &str, action: &str, input: &Value, settings: &std::path::Path) -> Run {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let wasm = weft_tests::component_path(component);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let file = settings.with_file_name(format!("input-{n}.json"));
    std::fs::write(&file, input.to_string()).expect("write the input");
    weft([
        "component".as_ref(),
        "call".as_ref(),
        wasm.as_os_str(),
        action.as_ref(),
        "--input".as_ref(),
        format!("@{}", file.display()).as_ref(),
        "--settings".as_ref(),
        settings.as_os_str(),
    ])
}

/// The output of a call that must succeed.
fn ok(run: Run) -> Value {
    assert_eq!(run.code, Some(0), "{run:?}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

/// A failed call's error text (stderr), asserting exit 1.
fn failed(run: Run) -> String {
    assert_eq!(run.code, Some(1), "{run:?}");
    run.stderr
}

#[test]
fn files_actions_are_signed_and_checked_by_the_store() {
    let moto = Moto::start();
    let (key_id, secret) = moto.require_signatures();
    let dir = temp_dir();
    let settings = dir.path().join("weft.toml");
    std::fs::write(&settings, LOOPBACK_CONFIG).unwrap();
    let store = |extra: Value| {
        let mut input = json!({
            "endpoint": moto.url, "bucket": BUCKET,
            "access_key_id": key_id, "secret_access_key": secret,
        });
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        input
    };
    let files = |action: &str, extra: Value| call("files", action, &store(extra), &settings);

    let csv = "id,name\n1,\"Lovelace, Ada\"\n";
    let put = ok(files(
        "put",
        json!({ "key": "incoming/a.csv", "content": csv, "content_type": "text/csv" }),
    ));
    assert_eq!(put["size"], csv.len());
    let binary = ok(files(
        "put",
        json!({ "key": "incoming/b.bin", "content": "AAEC/w==", "encoding": "base64" }),
    ));
    assert_eq!(binary["size"], 4);
    ok(files(
        "put",
        json!({ "key": "other/c.csv", "content": "x\n" }),
    ));

    let listed = ok(files("list", json!({ "prefix": "incoming" })));
    let keys: Vec<&str> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["incoming/a.csv", "incoming/b.bin"], "{listed}");
    assert_eq!(listed["files"][0]["name"], "a.csv");
    assert_eq!(listed["files"][0]["size"], csv.len());
    let latest = listed["latest_modified"].as_str().unwrap().to_owned();
    // Nothing is newer than the newest: a cursor lists nothing new.
    let since = ok(files(
        "list",
        json!({ "prefix": "incoming", "modified_since": latest }),
    ));
    assert_eq!(since["count"], 0, "{since}");
    let old = ok(files(
        "list",
        json!({ "prefix": "incoming", "modified_since": "2000-01-01T00:00:00Z" }),
    ));
    assert_eq!(old["count"], 2, "{old}");
    let limited = ok(files("list", json!({ "limit": 1 })));
    assert_eq!(
        (limited["count"].clone(), limited["truncated"].clone()),
        (json!(1), json!(true))
    );

    let got = ok(files("get", json!({ "key": "incoming/a.csv" })));
    assert_eq!(got["content"], csv);
    assert_eq!(got["content_type"], "text/csv");
    let bytes = ok(files(
        "get",
        json!({ "key": "incoming/b.bin", "encoding": "base64" }),
    ));
    assert_eq!(bytes["content"], "AAEC/w==");
    let not_text = failed(files("get", json!({ "key": "incoming/b.bin" })));
    assert!(not_text.contains("encoding: base64"), "{not_text}");

    ok(files(
        "copy",
        json!({ "key": "incoming/a.csv", "to": "copies/a.csv" }),
    ));
    let moved = ok(files(
        "move",
        json!({ "key": "incoming/a.csv", "to": "processed/a.csv" }),
    ));
    assert_eq!(moved["already_moved"], false);
    // A retried move whose first attempt finished succeeds.
    let again = ok(files(
        "move",
        json!({ "key": "incoming/a.csv", "to": "processed/a.csv" }),
    ));
    assert_eq!(again["already_moved"], true);
    let gone = failed(files(
        "move",
        json!({ "key": "incoming/none.csv", "to": "processed/none.csv" }),
    ));
    assert!(gone.contains("no such key"), "{gone}");
    ok(files("delete", json!({ "key": "copies/a.csv" })));
    let missing = failed(files("get", json!({ "key": "copies/a.csv" })));
    assert!(missing.contains("HTTP 404 (NoSuchKey"), "{missing}");
    let processed = ok(files("get", json!({ "key": "processed/a.csv" })));
    assert_eq!(processed["content"], csv);
    let left = ok(files("list", json!({ "prefix": "incoming" })));
    assert_eq!(left["count"], 1, "{left}");

    // A wrong secret is refused by the store, and no secret is printed.
    let wrong = call(
        "files",
        "list",
        &json!({ "endpoint": moto.url, "bucket": BUCKET, "access_key_id": key_id,
                 "secret_access_key": "not-the-secret-key" }),
        &settings,
    );
    let text = failed(wrong);
    assert!(text.contains("HTTP 403 (SignatureDoesNotMatch"), "{text}");
    assert!(!text.contains("not-the-secret-key"), "{text}");
    let right = files("list", json!({}));
    assert!(!right.stdout.contains(&secret) && !right.stderr.contains(&secret));
}

#[test]
fn files_refuses_bad_input_before_any_request() {
    let dir = temp_dir();
    let settings = dir.path().join("weft.toml");
    std::fs::write(&settings, "").unwrap();
    let input = |extra: Value| {
        let mut input = json!({
            "endpoint": "http://127.0.0.1:9", "bucket": BUCKET,
            "access_key_id": "k", "secret_access_key": "s",
        });
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        input
    };
    for (action, extra, expected) in [
        (
            "get",
            json!({ "key": "a", "bucket": "a/b" }),
            "not a valid bucket name",
        ),
        ("get", json!({ "key": "" }), "must be 1-1024 bytes"),
        (
            "list",
            json!({ "endpoint": "s3.example" }),
            "must be an http:// or https:// URL",
        ),
        (
            "list",
            json!({ "modified_since": "yesterday" }),
            "not an RFC 3339 timestamp",
        ),
        ("list", json!({ "limit": 0 }), "between 1 and 10000"),
        (
            "put",
            json!({ "key": "a", "content": "%%", "encoding": "base64" }),
            "not base64",
        ),
    ] {
        let text = failed(call("files", action, &input(extra), &settings));
        assert!(text.contains("invalid-input error"), "{action}: {text}");
        assert!(text.contains(expected), "{action}: {text}");
    }
    // Without the operator's allowlist the store cannot be reached at all.
    let refused = failed(call("files", "list", &input(json!({})), &settings));
    assert!(refused.contains("http-request-denied"), "{refused}");
}

#[test]
fn transform_converts_csv_xml_and_json_through_component_call() {
    let dir = temp_dir();
    let settings = dir.path().join("weft.toml");
    std::fs::write(&settings, "").unwrap();
    let transform = |action: &str, input: Value| call("transform", action, &input, &settings);

    let rows = ok(transform(
        "csv-to-rows",
        json!({ "csv": "sku;qty;note\nA-1;2;\"x;y\"\nB-2;10;\n", "delimiter": ";", "typed": true }),
    ));
    assert_eq!(
        rows,
        json!({
            "columns": ["sku", "qty", "note"],
            "count": 2,
            "rows": [
                { "sku": "A-1", "qty": 2, "note": "x;y" },
                { "sku": "B-2", "qty": 10, "note": null },
            ],
        })
    );
    let ragged = failed(transform("csv-to-rows", json!({ "csv": "a,b\n1\n" })));
    assert!(
        ragged.contains("invalid-input error: csv line 2 has 1 fields, expected 2"),
        "{ragged}"
    );

    let csv = ok(transform(
        "json-to-csv",
        json!({ "rows": rows["rows"], "columns": ["qty", "sku", "note"], "line_ending": "crlf" }),
    ));
    assert_eq!(csv["csv"], "qty,sku,note\r\n2,A-1,x;y\r\n10,B-2,\r\n");

    let xml = ok(transform(
        "xml-to-json",
        json!({ "xml": "<feed><entry id=\"1\">a</entry><entry id=\"2\">b</entry></feed>" }),
    ));
    assert_eq!(
        xml["json"],
        json!({ "feed": { "entry": [{ "@id": "1", "#text": "a" }, { "@id": "2", "#text": "b" }] } })
    );
    // A nesting bomb is refused before parsing, not a stack overflow.
    let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    let bomb = failed(transform("xml-to-json", json!({ "xml": deep })));
    assert!(
        bomb.contains("invalid-input error: xml nests deeper than 60"),
        "{bomb}"
    );
    let broken = failed(transform("xml-to-json", json!({ "xml": "<a>" })));
    assert!(broken.contains("invalid-input error: xml:"), "{broken}");
}
