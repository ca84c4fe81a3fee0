//! The webhook figures of `hooks.rs` on PostgreSQL, for one node and for
//! two nodes sharing one database: a private PostgreSQL 15 of the bench's
//! own ([`weft_tests::pg::PgServer`], as the end-to-end tests start it
//! but with fsync on, as sled's commits are), a fresh database per configuration, the same
//! `order-bench` integration and payload, the same load generator
//! ([`crate::load`]) spreading its connections over the nodes.
//!
//! Every node runs with the default settings (the per-tenant cap, 32,
//! counts live leases across the cluster). Figures (one node, then two):
//!
//! - `pg_sync_order_rps`, `pg2_sync_order_rps`: the sync `order` flow;
//! - `pg_async_ack_rps`, `pg2_async_ack_rps`: `order-async` answered 202;
//! - `pg_async_finished_rps`, `pg2_async_finished_rps`: executions that
//!   finished during the async run, per second (summed over the nodes);
//! - `pg_two_node_scaling`: `pg2_sync_order_rps / pg_sync_order_rps`.

use std::path::Path;
use std::process::Child;

use weft_tests::pg::PgServer;

use crate::hooks::{answer, order, setup, succeeded};
use crate::load;
use crate::report;
use crate::start::{start_with, stop};

/// The nodes' shared master key (base64 of 32 bytes).
const MASTER_KEY: &str = "d2VmdC1iZW5jaC1wb3N0Z3Jlcy1tYXN0ZXItay0zMmI=";

/// The nodes' `weft.toml`: the defaults.
const CONFIG: &str = "";

/// What one configuration measured.
struct Figures {
    sync_rps: f64,
}

/// `n` nodes on `database`, each with its own data dir under `scratch`.
fn nodes(n: usize, database: &str, scratch: &Path) -> Vec<(Child, String)> {
    let config = scratch.join("weft.toml");
    std::fs::write(&config, CONFIG).expect("write weft.toml");
    let config = config.to_string_lossy().into_owned();
    let builtins = Path::new(weft_tests::COMPONENTS_DIR);
    (0..n)
        .map(|i| {
            let data = scratch.join(format!("node{i}"));
            let (child, url, _) = start_with(
                &data,
                Some(builtins),
                &["--store", database],
                &[("WEFT_MASTER_KEY", MASTER_KEY), ("WEFT_CONFIG", &config)],
            );
            (child, url)
        })
        .collect()
}

/// Measures `n` nodes on a fresh database of `server`; figure names start
/// with `prefix`.
async fn measure(server: &PgServer, n: usize, prefix: &str) -> Figures {
    let scratch = tempfile::tempdir().expect("temp dir");
    let nodes = nodes(n, &server.database(), scratch.path());
    let urls: Vec<String> = nodes.iter().map(|(_, url)| url.clone()).collect();
    let client = reqwest::Client::new();
    let id = setup(&client, &urls[0]).await;
    let body = order();

    let sync: Vec<String> = urls
        .iter()
        .map(|u| format!("{u}/hooks/{id}/order"))
        .collect();
    for url in &sync {
        let (status, answer) = answer(url, &body).await;
        assert_eq!(status, 200, "{prefix} sync order on {url}: {answer}");
    }
    load::warm_up_spread(&sync, &body, 200).await;
    let run = load::run_spread(&sync, &body, 200).await;
    run.print(&format!("{prefix}_sync_order"));
    report(&format!("{prefix}_sync_order_rps"), run.rps);
    report(&format!("{prefix}_sync_order_p99_ms"), run.p99_ms());

    let acks: Vec<String> = urls
        .iter()
        .map(|u| format!("{u}/hooks/{id}/order-async"))
        .collect();
    load::warm_up_spread(&acks, &body, 202).await;
    let finished = |urls: Vec<String>| {
        let client = client.clone();
        async move {
            let mut total = 0.0;
            for url in &urls {
                total += succeeded(&client, url).await;
            }
            total
        }
    };
    let before = finished(urls.clone()).await;
    let run_acks = load::run_spread(&acks, &body, 202).await;
    let after = finished(urls.clone()).await;
    let finished_rps = (after - before) / run_acks.length.as_secs_f64();
    run_acks.print(&format!("{prefix}_async_ack"));
    println!(
        "{prefix}_async_finished: {finished_rps:.0} executions/s finished while acknowledging"
    );
    report(&format!("{prefix}_async_ack_rps"), run_acks.rps);
    report(&format!("{prefix}_async_finished_rps"), finished_rps);

    for (child, _) in nodes {
        stop(child);
    }
    Figures { sync_rps: run.rps }
}

/// Runs the one-node and two-node PostgreSQL figures.
pub async fn bench() {
    let server = match PgServer::start_with(200, true) {
        Ok(server) => server,
        Err(e) => panic!("the bench's postgresql did not start: {e}"),
    };
    let one = measure(&server, 1, "pg").await;
    let two = measure(&server, 2, "pg2").await;
    report("pg_two_node_scaling", two.sync_rps / one.sync_rps);
}
