//! Engine overhead: a 3-step flow of `echo` steps run through the flow
//! [`Executor`] in-process (templates, redaction, step records handed to
//! an observer that counts them; no HTTP, no storage), against the bare
//! step runner calling
//! `echo` with the same input on the same sandbox, interleaved round by
//! round so both see the same machine.
//!
//! Flows run one after another, so `engine_flows_per_s` is the rate of a
//! single worker; `engine_step_overhead_ratio` is the engine's median time
//! per step over the bare step runner's median.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use weft::flow::{ExecutionObserver, Executor, FlowRun, InstanceInfo};
use weft::integration::ResolvedConfig;
use weft::model::{FlowResponse, StepRecord};
use weft::sandbox::ComponentSource;
use weft::sandbox::{LoadedComponent, MemoryStateStore, Sandbox, SandboxConfig, StepRequest};

use crate::step::timed_echo;
use crate::{median, report};

const ROUNDS: usize = 20;
const FLOWS_PER_ROUND: usize = 30;
const STEPS_PER_ROUND: usize = 90;
const WARM_UP: usize = 30;
const STEPS: u32 = 3;

/// What step `one` gets, and so every step after it.
const INPUT: &str = r#"{"items":[{"price":9.5,"quantity":2,"sku":"X"}],"order_id":"A-1"}"#;

/// The step runner's input in `step.rs`, then passed along by templates.
const INTEGRATION: &str = r#"
name: bench
version: 1
flows:
  - name: three
    trigger: { type: manual }
    steps:
      - id: one
        component: echo@1.0.0
        action: echo
        input: { order_id: A-1, items: [ { sku: X, quantity: 2, price: 9.5 } ] }
      - id: two
        component: echo@1.0.0
        action: echo
        input: "{{ steps.one }}"
      - id: three
        component: echo@1.0.0
        action: echo
        input: "{{ steps.two }}"
"#;

/// Just `echo@1.0.0`.
struct Echo(LoadedComponent);

impl ComponentSource for Echo {
    fn resolve(&self, reference: &str) -> Option<LoadedComponent> {
        (reference == "echo@1.0.0").then(|| self.0.clone())
    }
}

/// Counts the step records it is handed. It stands where the engine's
/// observer persists them: storage is not measured here, and keeping a
/// copy of each (as `weft run`'s recording observer does) is neither
/// engine nor storage work.
#[derive(Default)]
struct CountingObserver(AtomicU32);

impl ExecutionObserver for CountingObserver {
    fn step_finished<'a>(&'a self, _record: &'a StepRecord) -> BoxFuture<'a, ()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(std::future::ready(()))
    }

    fn responded(&self, _live: &FlowResponse, _stored: &FlowResponse) {}
}

/// Runs the engine benchmark.
pub async fn bench() {
    let bytes = std::fs::read(weft_tests::component_path(weft_tests::ECHO)).expect("echo");
    let sandbox = Arc::new(Sandbox::new(&SandboxConfig::default()).expect("sandbox"));
    let echo = sandbox.compile(&bytes).expect("compile echo");
    let bare = echo.clone();
    let executor = Executor::new(
        sandbox.clone(),
        Arc::new(Echo(echo)),
        Arc::new(MemoryStateStore::default()),
    );
    let integration = weft::integration::parse(INTEGRATION).expect("bench integration");
    let flow = integration.flow("three").expect("flow").clone();
    let run = |n: usize| FlowRun {
        execution_id: format!("bench-{n}"),
        flow: flow.clone(),
        instance: InstanceInfo::default(),
        trigger: serde_json::json!({ "body": {}, "headers": {}, "query": {}, "method": "POST" }),
        config: ResolvedConfig::default(),
        completed: HashMap::new(),
    };

    for n in 0..WARM_UP {
        let observer = CountingObserver::default();
        let result = executor.run(&run(n), &observer).await;
        assert!(result.error.is_none(), "bench flow failed: {result:?}");
        assert_eq!(observer.0.into_inner(), STEPS, "one record per step");
        let req = StepRequest::local(&sandbox, "echo", INPUT.into());
        assert_eq!(
            sandbox.run_step(&bare, req).await.result.expect("echo"),
            serde_json::from_str::<serde_json::Value>(INPUT).unwrap()
        );
    }
    let mut times = Vec::with_capacity(ROUNDS * FLOWS_PER_ROUND);
    let mut step_times = Vec::with_capacity(ROUNDS * STEPS_PER_ROUND);
    let mut flows_time = Duration::ZERO;
    for round in 0..ROUNDS {
        for _ in 0..STEPS_PER_ROUND {
            step_times.push(timed_echo(&sandbox, &bare, INPUT).await);
        }
        for n in 0..FLOWS_PER_ROUND {
            let run = run(round * FLOWS_PER_ROUND + n);
            let observer = CountingObserver::default();
            let started = Instant::now();
            let result = executor.run(&run, &observer).await;
            let took = started.elapsed();
            times.push(took);
            flows_time += took;
            assert!(result.error.is_none(), "bench flow failed: {result:?}");
        }
    }
    let step_time = median(&mut step_times);
    let flow_time = median(&mut times);
    let per_step = flow_time / STEPS;
    let flows_per_s = times.len() as f64 / flows_time.as_secs_f64();
    let ratio = per_step.as_secs_f64() / step_time.as_secs_f64();
    println!(
        "engine: {flows_per_s:.0} flows/s of {STEPS} echo steps on one worker; {:.1} µs per step vs {:.1} µs for the bare step runner (medians of {} flows and {} steps)",
        per_step.as_secs_f64() * 1e6,
        step_time.as_secs_f64() * 1e6,
        times.len(),
        step_times.len(),
    );
    report("engine_flows_per_s", flows_per_s);
    report("engine_step_overhead_ratio", ratio);
}
