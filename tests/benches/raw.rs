//! Raw wasmtime over the `weft:connector` world: the least a host must
//! provide to run a component (WASI, wasi:http, no-op `log` and `state`),
//! a pre-instantiated component and one `run` call in a fresh store.
//!
//! The baseline of `step.rs` ([`RawComponent::plain`]: pooling, nothing
//! else) and of the raw order server in `raw_order.rs`
//! ([`RawComponent::metered`]: also fuel, an epoch deadline with its
//! ticker, the hostcall byte budget and the pool sized like Weft's sandbox
//! defaults, so that server pays what the sandbox's engine and store pay
//! per instance; no resource limiter, log capture or state). Both reset
//! freed slots the way the sandbox does ([`keep_slots_resident`]), so the
//! baselines gain what Weft gains from it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use weft::sandbox::bindings::{self, Connector, ConnectorPre, WitStepError};
use weft::sandbox::{PoolConfig, StepLimits, keep_slots_resident};

/// The epoch tick of Weft's sandbox (`sandbox::engine::EPOCH_TICK`).
const EPOCH_TICK_MS: u64 = 10;
/// How often a metered call yields to the runtime, in fuel (Weft's
/// `FUEL_YIELD_INTERVAL`).
const FUEL_YIELD_INTERVAL: u64 = 100_000;

/// The least a host must provide to run the component.
pub(crate) struct RawHost {
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

/// Fuel and epoch settings of a metered component.
struct Metering {
    fuel: u64,
    epoch_ticks: u64,
    hostcall_bytes: usize,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Metering {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// One component, pre-instantiated on its own engine.
pub(crate) struct RawComponent {
    engine: Engine,
    pre: ConnectorPre<RawHost>,
    metering: Option<Metering>,
}

impl RawComponent {
    /// Pooling allocator (16 slots), no fuel, no epoch: the step-overhead
    /// baseline.
    pub(crate) fn plain(bytes: &[u8]) -> Self {
        let mut config = Config::new();
        let mut pooling = PoolingAllocationConfig::default();
        pooling
            .total_component_instances(16)
            .total_core_instances(16 * 32)
            .total_memories(16 * 4)
            .total_tables(16 * 32)
            .max_memory_size(64 << 20);
        keep_slots_resident(&mut pooling);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&config).expect("engine");
        let pre = pre(&engine, bytes);
        Self {
            engine,
            pre,
            metering: None,
        }
    }

    /// The engine settings of Weft's sandbox with its default limits and
    /// pool: fuel per call, an epoch deadline ticked every 10 ms by a
    /// thread of its own, the pooling allocator sized the same way.
    pub(crate) fn metered(bytes: &[u8]) -> Self {
        let limits = StepLimits::default();
        let pool = PoolConfig::default();
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(limits.stack.as_usize());
        let mut pooling = PoolingAllocationConfig::default();
        let slots = pool.instances;
        pooling
            .total_component_instances(slots)
            .total_core_instances(slots * limits.instances)
            .total_memories(slots * limits.memories)
            .total_tables(slots * limits.tables)
            .max_memory_size(limits.memory.as_usize())
            .table_elements(limits.table_elements as usize)
            .max_core_instances_per_component(limits.instances)
            .max_memories_per_component(limits.memories)
            .max_tables_per_component(limits.tables);
        keep_slots_resident(&mut pooling);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&config).expect("metered engine");
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (ticking, stop) = (engine.clone(), ticker_stop.clone());
        std::thread::Builder::new()
            .name("raw-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(EPOCH_TICK_MS));
                    ticking.increment_epoch();
                }
            })
            .expect("epoch ticker");
        let pre = pre(&engine, bytes);
        let epoch_ticks = (limits.timeout.as_millis() as u64 / EPOCH_TICK_MS).max(1) + 1;
        Self {
            engine,
            pre,
            metering: Some(Metering {
                fuel: limits.fuel,
                epoch_ticks,
                hostcall_bytes: limits.hostcall_bytes.as_usize(),
                ticker_stop,
            }),
        }
    }

    /// Instantiates the component in a fresh store and calls `run(action,
    /// input)` once; returns the component's answer.
    pub(crate) async fn call(&self, action: &str, input: &str) -> Result<String, WitStepError> {
        let host = RawHost {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(&self.engine, host);
        if let Some(m) = &self.metering {
            store.set_fuel(m.fuel).expect("set fuel");
            store
                .fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL))
                .expect("fuel yield interval");
            store.set_epoch_deadline(m.epoch_ticks);
            store.epoch_deadline_trap();
            store.set_hostcall_fuel(m.hostcall_bytes);
        }
        let connector: Connector = self
            .pre
            .instantiate_async(&mut store)
            .await
            .expect("instantiate");
        let ctx = bindings::StepContext {
            execution_id: "e".into(),
            tenant: "t".into(),
            instance: "i".into(),
            flow: "f".into(),
            step: "s".into(),
            attempt: 1,
            idempotency_key: "k".into(),
        };
        connector
            .call_run(&mut store, action, &input.to_owned(), &ctx)
            .await
            .expect("run")
    }
}

fn pre(engine: &Engine, bytes: &[u8]) -> ConnectorPre<RawHost> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    bindings::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    bindings::state::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    let component = wasmtime::component::Component::new(engine, bytes).expect("compile");
    ConnectorPre::new(linker.instantiate_pre(&component).unwrap()).unwrap()
}
