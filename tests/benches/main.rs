//! `make bench`: Weft's headline figures, each measured against a
//! baseline taken in the same run, and printed both readably and as one
//! `bench: NAME=VALUE` line per figure for scripts.
//!
//! Absolute times on a shared machine are noise; the ratios are the point.

mod engine;
mod hooks;
mod load;
mod pg;
mod profile;
mod raw;
mod raw_order;
mod start;
mod step;

use std::time::Duration;

/// The allocator the `weft` binary uses: the in-process figures (the
/// engine, the raw baselines) then allocate the way the server does, so a
/// ratio does not measure two allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Prints a headline figure as `bench: NAME=VALUE`.
pub fn report(name: &str, value: f64) {
    println!("bench: {name}={value:.3}");
}

/// The median of `samples`.
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Runs every benchmark, or those whose name contains the first argument
/// (`cargo bench --bench weft -- start`, `step`, `engine`, `hooks` or
/// `pg`). `hooks` runs its raw baseline; `pg` the webhook figures on
/// PostgreSQL, one and two nodes.
fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let wanted = |name: &str| name.contains(filter.as_str());
    if wanted("start") {
        start::bench();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        if wanted("step") {
            step::bench().await;
        }
        if wanted("engine") {
            engine::bench().await;
        }
        if wanted("hooks") {
            hooks::bench().await;
        }
        if wanted("pg") {
            pg::bench().await;
        }
    });
}
