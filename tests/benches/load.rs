//! The one load generator of the HTTP benchmarks, shaped like
//! `wrk -t2 -c32 -d20s`: 32 connections (each a task with its own
//! keep-alive HTTP/1.1 client) on the bench's two-thread runtime, posting
//! the same body for 20 s (`WEFT_BENCH_SECS` overrides) after a 2 s
//! warm-up. Weft's webhooks and the raw baseline server are both driven by
//! [`warm_up`] then [`run`], so their figures compare like with like; the
//! PostgreSQL figures of several nodes spread the connections over the
//! nodes ([`run_spread`]).

use std::time::{Duration, Instant};

/// Concurrent connections.
pub(crate) const CONNECTIONS: usize = 32;
const WARMUP: Duration = Duration::from_secs(2);

/// The measured length of a run: `WEFT_BENCH_SECS`, default 20 s.
fn seconds() -> Duration {
    let secs = std::env::var("WEFT_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(secs)
}

/// What one measured run saw.
pub(crate) struct Run {
    /// Requests answered with the expected status, per second.
    pub rps: f64,
    /// 99th percentile latency of those requests.
    pub p99: Duration,
    /// Requests answered with the expected status.
    pub ok: usize,
    /// Requests refused with 429 (the tenant's queue was full).
    pub refused: usize,
    /// Requests that failed or got any other status.
    pub failed: usize,
    /// The measured length.
    pub length: Duration,
    /// Concurrent connections.
    pub connections: usize,
}

impl Run {
    /// Prints the run readably under `name`.
    pub(crate) fn print(&self, name: &str) {
        println!(
            "{name}: {:.0} requests/s, p99 {:.2?}, {} ok, {} refused (429), {} failed ({} connections, {:?})",
            self.rps, self.p99, self.ok, self.refused, self.failed, self.connections, self.length
        );
    }

    /// The p99 latency in milliseconds.
    pub(crate) fn p99_ms(&self) -> f64 {
        self.p99.as_secs_f64() * 1000.0
    }
}

/// Loads `url` for the warm-up time, unmeasured (pages in code, fills
/// pools and connection pools).
pub(crate) async fn warm_up(url: &str, body: &[u8], expect: u16) {
    warm_up_spread(&[url.to_owned()], body, expect).await;
}

/// Loads `url` for the measured time and returns what it saw.
pub(crate) async fn run(url: &str, body: &[u8], expect: u16) -> Run {
    run_with(url, body, expect, CONNECTIONS).await
}

/// [`run`] with `connections` connections instead of [`CONNECTIONS`].
pub(crate) async fn run_with(url: &str, body: &[u8], expect: u16, connections: usize) -> Run {
    measure(&[url.to_owned()], body, expect, connections).await
}

/// [`warm_up`] spread over `urls` (one node each): connection `i` posts
/// to `urls[i % urls.len()]`.
pub(crate) async fn warm_up_spread(urls: &[String], body: &[u8], expect: u16) {
    load(urls, body, expect, WARMUP, CONNECTIONS).await;
}

/// [`run`] spread over `urls` as [`warm_up_spread`] does.
pub(crate) async fn run_spread(urls: &[String], body: &[u8], expect: u16) -> Run {
    measure(urls, body, expect, CONNECTIONS).await
}

/// The measured run of `connections` loops over `urls`.
async fn measure(urls: &[String], body: &[u8], expect: u16, connections: usize) -> Run {
    let length = seconds();
    let (mut latencies, Others { refused, failed }) =
        load(urls, body, expect, length, connections).await;
    Run {
        rps: latencies.len() as f64 / length.as_secs_f64(),
        p99: p99(&mut latencies),
        ok: latencies.len(),
        refused,
        failed,
        length,
        connections,
    }
}

/// Requests not answered with the expected status.
#[derive(Default)]
struct Others {
    refused: usize,
    failed: usize,
}

/// Runs `connections` loops posting `body` to `urls` (round robin over
/// the connections) for `length`; returns the latencies of requests
/// answered `expect` and the count of others.
async fn load(
    urls: &[String],
    body: &[u8],
    expect: u16,
    length: Duration,
    connections: usize,
) -> (Vec<Duration>, Others) {
    let end = Instant::now() + length;
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let url = urls[connection % urls.len()].clone();
        let body = bytes::Bytes::copy_from_slice(body);
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut latencies = Vec::new();
            let mut others = Others::default();
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
                    Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                        let _ = r.bytes().await;
                        others.refused += 1;
                    }
                    _ => others.failed += 1,
                }
            }
            (latencies, others)
        }));
    }
    let mut all = Vec::new();
    let mut others = Others::default();
    for task in tasks {
        let (latencies, seen) = task.await.expect("load task");
        all.extend(latencies);
        others.refused += seen.refused;
        others.failed += seen.failed;
    }
    (all, others)
}

fn p99(latencies: &mut [Duration]) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    latencies.sort_unstable();
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
}
