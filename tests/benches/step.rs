//! Step overhead: raw wasmtime (pooling allocator, pre-instantiated, a
//! fresh store and one `run` call of `echo`) against Weft's step runner on
//! the same component, interleaved so both see the same machine.

use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use weft::sandbox::bindings::{self, Connector, ConnectorPre};
use weft::sandbox::{Sandbox, SandboxConfig, StepRequest};

use crate::{median, report};

const INPUT: &str = r#"{"order_id":"A-1","items":[{"sku":"X","quantity":2,"price":9.5}]}"#;
const ROUNDS: usize = 20;
const CALLS_PER_ROUND: usize = 100;

/// The least a host must provide to run the component.
struct RawHost {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for RawHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RawHost {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

impl bindings::log::Host for RawHost {
    fn log(&mut self, _: bindings::log::Level, _: String) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl bindings::state::Host for RawHost {
    async fn get(
        &mut self,
        _: bindings::state::Scope,
        _: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(None)
    }
    async fn set(
        &mut self,
        _: bindings::state::Scope,
        _: String,
        _: String,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(Ok(()))
    }
    async fn delete(&mut self, _: bindings::state::Scope, _: String) -> wasmtime::Result<()> {
        Ok(())
    }
    async fn keys(
        &mut self,
        _: bindings::state::Scope,
        _: String,
    ) -> wasmtime::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

impl bindings::weft::connector::types::Host for RawHost {}

fn raw_pre(bytes: &[u8]) -> (Engine, ConnectorPre<RawHost>) {
    let mut config = Config::new();
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(16)
        .total_core_instances(16 * 32)
        .total_memories(16 * 4)
        .total_tables(16 * 32)
        .max_memory_size(64 << 20);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    let engine = Engine::new(&config).expect("engine");
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    bindings::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    bindings::state::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    let component = wasmtime::component::Component::new(&engine, bytes).expect("compile");
    let pre = ConnectorPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    (engine, pre)
}

async fn raw_call(engine: &Engine, pre: &ConnectorPre<RawHost>) {
    let host = RawHost {
        wasi: WasiCtx::builder().build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(engine, host);
    let connector: Connector = pre.instantiate_async(&mut store).await.unwrap();
    let ctx = bindings::StepContext {
        execution_id: "e".into(),
        tenant: "t".into(),
        instance: "i".into(),
        flow: "f".into(),
        step: "s".into(),
        attempt: 1,
        idempotency_key: "k".into(),
    };
    let (action, input) = ("echo".to_owned(), INPUT.to_owned());
    let out = connector
        .call_run(&mut store, &action, &input, &ctx)
        .await
        .unwrap();
    assert!(out.is_ok());
}

/// Runs the step-overhead benchmark and returns Weft's median step time.
pub async fn bench() -> Duration {
    let path = weft_tests::component_path(weft_tests::ECHO);
    let bytes = std::fs::read(&path).expect("echo component");
    let (engine, pre) = raw_pre(&bytes);
    let sandbox = Sandbox::new(&SandboxConfig::default()).expect("sandbox");
    let echo = sandbox.compile(&bytes).expect("compile echo");

    // Warm up both paths (page in code, fill pools).
    for _ in 0..CALLS_PER_ROUND {
        raw_call(&engine, &pre).await;
        let req = StepRequest::local(&sandbox, "echo", INPUT.into());
        sandbox.run_step(&echo, req).await.result.expect("echo");
    }

    let mut raw = Vec::with_capacity(ROUNDS * CALLS_PER_ROUND);
    let mut weft = Vec::with_capacity(ROUNDS * CALLS_PER_ROUND);
    for _ in 0..ROUNDS {
        for _ in 0..CALLS_PER_ROUND {
            let started = Instant::now();
            raw_call(&engine, &pre).await;
            raw.push(started.elapsed());
        }
        for _ in 0..CALLS_PER_ROUND {
            let req = StepRequest::local(&sandbox, "echo", INPUT.into());
            let started = Instant::now();
            let outcome = sandbox.run_step(&echo, req).await;
            weft.push(started.elapsed());
            outcome.result.expect("echo");
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
    weft
}
