//! Webhook throughput on loopback against a running `weft serve`, with
//! `components/examples/order-bench/integration.yaml`:
//!
//! - **sync order**: `POST /hooks/{id}/order`, a sync flow of two sandboxed
//!   steps (`orders-example` `total` then `status`) and a `respond`, so
//!   each request is a durable execution, two fresh component instances
//!   and the flow's answer;
//! - **async ack**: the same payload to `order-async`, answered `202` once
//!   the execution is stored (the run itself continues in the background).
//!
//! The load generator is `wrk -t2 -c32 -d20s`-shaped: 32 connections
//! (each a task with its own keep-alive HTTP/1.1 client) on a two-thread
//! runtime, for 20 s (`WEFT_BENCH_SECS` overrides) after a 2 s warm-up.
//! Prints requests per second and the p99 latency of each.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::report;
use crate::start::{TOKEN, start, stop};

const CONNECTIONS: usize = 32;
const WARMUP: Duration = Duration::from_secs(2);

/// The order every request sends.
fn order() -> Vec<u8> {
    json!({
        "order_id": "bench-1",
        "items": [
            { "sku": "widget", "quantity": 2, "price": 12.5 },
            { "sku": "gadget", "quantity": 1, "price": 99.99 },
            { "sku": "gizmo", "quantity": 12, "price": 3.25 },
        ],
    })
    .to_string()
    .into_bytes()
}

fn seconds() -> Duration {
    let secs = std::env::var("WEFT_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(secs)
}

/// Creates tenant `bench` and an enabled `order-bench@1` instance.
async fn setup(client: &reqwest::Client, url: &str) -> String {
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../components/examples/order-bench/integration.yaml"
    ))
    .expect("read order-bench");
    let call = |method: reqwest::Method, path: &str, body: Vec<u8>, ct: &str| {
        client
            .request(method, format!("{url}{path}"))
            .bearer_auth(TOKEN)
            .header("content-type", ct)
            .body(body)
    };
    let pushed = call(
        reqwest::Method::POST,
        "/v1/integrations",
        yaml.into_bytes(),
        "application/yaml",
    )
    .send()
    .await
    .expect("push integration");
    assert!(pushed.status().is_success(), "push: {}", pushed.status());
    let tenant = json!({ "name": "bench" }).to_string().into_bytes();
    call(
        reqwest::Method::POST,
        "/v1/tenants",
        tenant,
        "application/json",
    )
    .send()
    .await
    .expect("tenant");
    let new = json!({ "integration": "order-bench@1", "tenant": "bench" });
    let created: Value = call(
        reqwest::Method::POST,
        "/v1/instances",
        new.to_string().into_bytes(),
        "application/json",
    )
    .send()
    .await
    .expect("instance")
    .json()
    .await
    .expect("instance json");
    let id = created["id"].as_str().expect("instance id").to_owned();
    let enabled: Value = call(
        reqwest::Method::POST,
        &format!("/v1/instances/{id}/enable"),
        Vec::new(),
        "application/json",
    )
    .send()
    .await
    .expect("enable")
    .json()
    .await
    .expect("enable json");
    assert_eq!(enabled["status"], "active", "{enabled}");
    id
}

/// Runs `CONNECTIONS` loops posting `body` to `url` for `length`; returns
/// the latencies of successful requests and the count of failed ones.
async fn load(url: &str, body: &[u8], expect: u16, length: Duration) -> (Vec<Duration>, usize) {
    let end = Instant::now() + length;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let url = url.to_owned();
        let body = bytes::Bytes::copy_from_slice(body);
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < end {
                let began = Instant::now();
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().as_u16() == expect => {
                        let _ = r.bytes().await;
                        latencies.push(began.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, failed) = task.await.expect("load task");
        all.extend(latencies);
        errors += failed;
    }
    (all, errors)
}

fn p99(latencies: &mut [Duration]) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    latencies.sort_unstable();
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
}

async fn measure(name: &str, url: &str, expect: u16) {
    let body = order();
    load(url, &body, expect, WARMUP).await;
    let length = seconds();
    let (mut latencies, errors) = load(url, &body, expect, length).await;
    let rps = latencies.len() as f64 / length.as_secs_f64();
    let p99 = p99(&mut latencies);
    println!(
        "{name}: {rps:.0} requests/s, p99 {p99:.2?}, {} ok, {errors} failed ({CONNECTIONS} connections, {length:?})",
        latencies.len()
    );
    report(&format!("{name}_rps"), rps);
    report(&format!("{name}_p99_ms"), p99.as_secs_f64() * 1000.0);
}

/// Runs both load tests and prints their figures.
pub async fn bench() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let data = scratch.path().join("data");
    let builtins = Path::new(weft_tests::COMPONENTS_DIR);
    let (child, url, _) = start(&data, Some(builtins));
    let client = reqwest::Client::new();
    let id = setup(&client, &url).await;
    measure("sync_order", &format!("{url}/hooks/{id}/order"), 200).await;
    measure("async_ack", &format!("{url}/hooks/{id}/order-async"), 202).await;
    stop(child);
}
