//! The one shared wasmtime `Engine`: compilation settings, fuel, epoch
//! interruption (with its ticker thread) and the pooling allocator; and
//! the short-lived engines components are compiled with.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::limits::{PoolConfig, StepLimits};

/// How often the epoch ticker advances the engine's epoch; the granularity
/// of wall-clock deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engine plus the thread that ticks its epoch.
///
/// Dropping it stops the ticker.
#[derive(Debug)]
pub struct WasmEngine {
    engine: Engine,
    /// The same settings without the pooling allocator, for
    /// [`WasmEngine::compile`]'s throwaway engines.
    compile_config: Config,
    pooling: bool,
    ticker_stop: Arc<AtomicBool>,
}

impl WasmEngine {
    /// Builds the engine for steps bounded by `limits`, sized by `pool`.
    ///
    /// The pooling allocator reserves virtual memory for every slot up
    /// front; where that reservation fails (small `ulimit -v`, 32-bit
    /// address space) the engine falls back to on-demand allocation, as
    /// `wasmtime serve` does.
    pub fn new(limits: &StepLimits, pool: &PoolConfig) -> wasmtime::Result<Self> {
        let (engine, pooling) = if pool.enabled {
            match Engine::new(&config(limits, Some(pool))) {
                Ok(engine) => (engine, true),
                Err(err) => {
                    tracing::warn!(
                        error = %format!("{err:#}"),
                        "pooling allocator unavailable; using on-demand allocation"
                    );
                    (Engine::new(&config(limits, None))?, false)
                }
            }
        } else {
            (Engine::new(&config(limits, None))?, false)
        };
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), ticker_stop.clone());
        Ok(Self {
            engine,
            compile_config: config(limits, None),
            pooling,
            ticker_stop,
        })
    }

    /// Compiles a component's bytes into an artifact for
    /// [`wasmtime::component::Component::deserialize`] with this engine.
    ///
    /// Compiling happens in an engine of its own, dropped afterwards:
    /// cranelift keeps its scratch space (register allocator and arena
    /// buffers sized by the largest function compiled, ~20 MiB for the
    /// built-ins) in the engine that compiled, for the engine's lifetime.
    /// The serving engine never compiles, so it never holds that memory.
    /// The pooling allocator is not a compilation setting, so the artifact
    /// loads into the serving engine.
    pub fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Vec<u8>> {
        Engine::new(&self.compile_config)?.precompile_component(bytes)
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }
}

impl Drop for WasmEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn config(limits: &StepLimits, pool: Option<&PoolConfig>) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(limits.stack.as_usize());
    if let Some(pool) = pool {
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
    }
    config
}

/// How much of a linear memory a pooled slot keeps resident when its
/// instance goes: its touched pages up to this are zeroed with `memset`
/// rather than returned with `madvise`.
pub const MEMORY_KEEP_RESIDENT: usize = 2 << 20;

/// How many freed slots stay warm (resident) for reuse.
pub const WARM_SLOTS: u32 = 16;

/// The same for a table.
pub const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Resets freed pool slots in place rather than by `madvise`.
///
/// Every step instance is dropped at once, and each `madvise` of its memory
/// and tables flushed the TLB of every CPU the process ran on (an
/// inter-processor interrupt, costly in a VM): ~6 per sync webhook, the
/// largest kernel cost in its profile. With `PAGEMAP_SCAN` (Linux 6.7+)
/// only the pages an instance touched are zeroed; older kernels zero the
/// lowest [`MEMORY_KEEP_RESIDENT`] bytes. The memory a guest sees is reset
/// either way; what stays resident is bounded by the pool's warm slots
/// times these sizes.
pub fn keep_slots_resident(pooling: &mut PoolingAllocationConfig) {
    pooling
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .max_unused_warm_slots(WARM_SLOTS)
        .pagemap_scan(wasmtime::Enabled::Auto);
}

fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("weft-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    if let Err(err) = spawned {
        // Without the ticker, epoch deadlines never fire; the tokio timeout
        // around every call still bounds wall-clock time.
        tracing::error!(error = %err, "could not start the epoch ticker thread");
    }
}
