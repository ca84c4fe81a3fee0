//! Step overhead: raw wasmtime (pooling allocator, pre-instantiated, a
//! fresh store and one `run` call of `echo`) against Weft's step runner on
//! the same component, interleaved so both see the same machine.

use std::time::{Duration, Instant};

use weft::sandbox::{LoadedComponent, Sandbox, SandboxConfig, StepRequest};

use crate::raw::RawComponent;
use crate::{median, report};

const INPUT: &str = r#"{"order_id":"A-1","items":[{"sku":"X","quantity":2,"price":9.5}]}"#;
const ROUNDS: usize = 20;
const CALLS_PER_ROUND: usize = 100;

async fn raw_call(baseline: &RawComponent) {
    assert!(baseline.call("echo", INPUT).await.is_ok());
}

/// One call of `echo` with `input` through Weft's step runner, timed from
/// the call (the request is built before); panics if the step failed.
pub(crate) async fn timed_echo(sandbox: &Sandbox, echo: &LoadedComponent, input: &str) -> Duration {
    let req = StepRequest::local(sandbox, "echo", input.into());
    let started = Instant::now();
    let outcome = sandbox.run_step(echo, req).await;
    let took = started.elapsed();
    outcome.result.expect("echo");
    took
}

/// Runs the step-overhead benchmark.
pub async fn bench() {
    let path = weft_tests::component_path(weft_tests::ECHO);
    let bytes = std::fs::read(&path).expect("echo component");
    let baseline = RawComponent::plain(&bytes);
    let sandbox = Sandbox::new(&SandboxConfig::default()).expect("sandbox");
    let echo = sandbox.compile(&bytes).expect("compile echo");

    // Warm up both paths (page in code, fill pools).
    for _ in 0..CALLS_PER_ROUND {
        raw_call(&baseline).await;
        timed_echo(&sandbox, &echo, INPUT).await;
    }

    let mut raw = Vec::with_capacity(ROUNDS * CALLS_PER_ROUND);
    let mut weft = Vec::with_capacity(ROUNDS * CALLS_PER_ROUND);
    for _ in 0..ROUNDS {
        for _ in 0..CALLS_PER_ROUND {
            let started = Instant::now();
            raw_call(&baseline).await;
            raw.push(started.elapsed());
        }
        for _ in 0..CALLS_PER_ROUND {
            weft.push(timed_echo(&sandbox, &echo, INPUT).await);
        }
    }
    let raw = median(&mut raw);
    let weft = median(&mut weft);
    let ratio = weft.as_secs_f64() / raw.as_secs_f64();
    println!(
        "step overhead: raw wasmtime {:.1} µs, weft step runner {:.1} µs (median of {} calls each)",
        raw.as_secs_f64() * 1e6,
        weft.as_secs_f64() * 1e6,
        ROUNDS * CALLS_PER_ROUND
    );
    report("raw_wasmtime_step_us", raw.as_secs_f64() * 1e6);
    report("weft_step_us", weft.as_secs_f64() * 1e6);
    report("step_overhead_ratio", ratio);
}
