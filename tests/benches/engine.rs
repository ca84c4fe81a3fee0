//! Engine overhead: a 3-step flow of `echo` steps run through the flow
//! [`Executor`] in-process (templates, redaction, step records, an
//! observer; no HTTP, no storage), against the step runner's median time
//! per step measured by [`crate::step::bench`] in the same run.
//!
//! Flows run one after another, so `engine_flows_per_s` is the rate of a
//! single worker; `engine_step_overhead_ratio` is the engine's time per
//! step over the bare step runner's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::flow::{Executor, FlowRun, InstanceInfo, RecordingObserver};
use weft::integration::ResolvedConfig;
use weft::sandbox::ComponentSource;
use weft::sandbox::{LoadedComponent, MemoryStateStore, Sandbox, SandboxConfig};

use crate::{median, report};

const FLOWS: usize = 300;
const WARM_UP: usize = 30;
const STEPS: u32 = 3;

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

/// Runs the engine benchmark; `step_time` is the step runner's median.
pub async fn bench(step_time: Duration) {
    let bytes = std::fs::read(weft_tests::component_path(weft_tests::ECHO)).expect("echo");
    let sandbox = Arc::new(Sandbox::new(&SandboxConfig::default()).expect("sandbox"));
    let echo = sandbox.compile(&bytes).expect("compile echo");
    let executor = Executor::new(
        sandbox,
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
        let result = executor.run(&run(n), &RecordingObserver::default()).await;
        assert!(result.error.is_none(), "bench flow failed: {result:?}");
    }
    let mut times = Vec::with_capacity(FLOWS);
    let all = Instant::now();
    for n in 0..FLOWS {
        let run = run(n);
        let observer = RecordingObserver::default();
        let started = Instant::now();
        let result = executor.run(&run, &observer).await;
        times.push(started.elapsed());
        assert!(result.error.is_none(), "bench flow failed: {result:?}");
    }
    let total = all.elapsed();
    let flow_time = median(&mut times);
    let per_step = flow_time / STEPS;
    let flows_per_s = FLOWS as f64 / total.as_secs_f64();
    let ratio = per_step.as_secs_f64() / step_time.as_secs_f64();
    println!(
        "engine: {flows_per_s:.0} flows/s of {STEPS} echo steps on one worker; {:.1} µs per step vs {:.1} µs for the bare step runner (median of {FLOWS} flows)",
        per_step.as_secs_f64() * 1e6,
        step_time.as_secs_f64() * 1e6,
    );
    report("engine_flows_per_s", flows_per_s);
    report("engine_step_overhead_ratio", ratio);
}
