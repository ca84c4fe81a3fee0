//! `for_each` over a large trigger costs per item what the item's steps
//! render, not a copy of the whole context; loops are capped per loop and
//! per execution, with errors naming the count and the limit.

use serde_json::{Value, json};

use super::{instance, server};
use crate::server::TestServer;
use crate::triggers::{Answer, post_json};

/// The error of a failed sync run: the caller gets only the generic body,
/// the execution keeps the error.
fn failure(server: &TestServer, answer: &Answer) -> String {
    assert_eq!(answer.status, 500, "{answer:?}");
    assert_eq!(answer.json["error"], "flow failed", "{answer:?}");
    let record = server
        .api()
        .get(&format!("/v1/executions/{}", answer.execution_id()));
    record.json["error"].as_str().unwrap().to_owned()
}

/// CPU time (user + system) the server process used so far, in seconds.
fn cpu_seconds(server: &TestServer) -> f64 {
    let pid = server.pid().expect("server running");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 of the whole line.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let per_second = 100.0; // USER_HZ on Linux
    ticks / per_second
}

/// 300 items next to `blob_entries` small objects (80,000 ≈ 2 MB of JSON).
fn body(blob_entries: usize) -> Value {
    let list: Vec<Value> = (0..300).map(|n| json!({ "n": n })).collect();
    let blob: Vec<Value> = (0..blob_entries)
        .map(|k| json!({ "k": k, "v": "abcdefgh" }))
        .collect();
    json!({ "list": list, "blob": blob })
}

/// Runs the `loop` flow with `body`; returns the server's CPU seconds.
fn loop_cpu(server: &TestServer, id: &str, body: &Value) -> f64 {
    let before = cpu_seconds(server);
    let answer = post_json(server, &format!("/hooks/{id}/loop"), body, &[]);
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json.as_array().map(Vec::len), Some(300));
    cpu_seconds(server) - before
}

#[test]
fn for_each_over_a_large_trigger_does_not_copy_it_per_item() {
    let server = server("");
    let id = instance(&server, json!({}));
    let big = body(80_000);
    assert!(big.to_string().len() > 2_000_000);
    // Warm up (first render, first step records), then measure.
    loop_cpu(&server, &id, &body(0));
    let small = loop_cpu(&server, &id, &body(0));
    let large = loop_cpu(&server, &id, &big);
    println!("for_each 300 items: cpu {small:.2}s with a small body, {large:.2}s with a 2 MB body");
    // Parsing, storing and converting the body once costs something; a
    // copy per item (300 × 2 MB) costs many seconds.
    assert!(
        large - small < 3.0,
        "300 items over a 2 MB body cost {large:.2}s of CPU (small body: {small:.2}s)"
    );
}

#[test]
fn for_each_items_are_capped_by_default() {
    let server = server("");
    let id = instance(&server, json!({}));
    let answer = post_json(
        &server,
        &format!("/hooks/{id}/count"),
        &json!({ "n": 10001 }),
        &[],
    );
    let error = failure(&server, &answer);
    assert!(
        error.contains(
            "for_each: 10001 items exceed the limit of 10000 items per loop ([engine] for_each_max_items)"
        ),
        "{error}"
    );
}

#[test]
fn for_each_limits_are_configurable() {
    let server = server("[engine]\nfor_each_max_items = 5\nfor_each_max_total = 7\n");
    let id = instance(&server, json!({}));
    let count = |n: u32| {
        post_json(
            &server,
            &format!("/hooks/{id}/count"),
            &json!({ "n": n }),
            &[],
        )
    };
    let five = count(5);
    assert_eq!(five.status, 200, "{:?}", five.json);
    assert_eq!(five.json.as_array().map(Vec::len), Some(5));
    let six = count(6);
    let error = failure(&server, &six);
    assert!(
        error.contains("for_each: 6 items exceed the limit of 5 items per loop"),
        "{error}"
    );
    // 3 outer items, then 3 inner items each: the second inner loop
    // brings the execution to 9 > 7 items.
    let grid = post_json(
        &server,
        &format!("/hooks/{id}/grid"),
        &json!({ "n": 3 }),
        &[],
    );
    let error = failure(&server, &grid);
    assert!(
        error.contains("over the limit of 7 ([engine] for_each_max_total)"),
        "{error}"
    );
}
