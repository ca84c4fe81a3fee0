//! The sandbox: one shared engine, components pre-linked once, and a fresh
//! fuel-metered, memory-capped, deadline-bound instance per step attempt
//! that reaches only what the operator granted.
//!
//! ```no_run
//! # async fn demo(bytes: &[u8]) -> anyhow::Result<()> {
//! use weft::sandbox::{Sandbox, SandboxConfig, StepRequest};
//! let sandbox = Sandbox::new(&SandboxConfig::default())?;
//! let component = sandbox.compile(bytes)?;
//! let manifest = sandbox.describe(&component).await?;
//! let req = StepRequest::local(&sandbox, &manifest.actions[0].key, "{}".into());
//! let outcome = sandbox.run_step(&component, req).await;
//! println!("{:?} used {} fuel", outcome.result, outcome.fuel_used);
//! # Ok(()) }
//! ```

#[doc(hidden)]
pub mod bindings;
mod component;
mod engine;
mod error;
mod host_state;
mod inspect;
mod limits;
mod logbook;
mod manifest;
mod outbound;
mod runner;
mod slots;
mod source;
mod state;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtime::component::{HasSelf, Linker};

pub use crate::egress::{AddressClass, HostPattern, OutboundConfig, PatternError};
pub use component::LoadedComponent;
pub use engine::{WasmEngine, keep_slots_resident};
pub use error::{GuestErrorKind, LoadError, MAX_ERROR_MESSAGE, StepError};
pub use host_state::{LogLevel, LogLine, LogSource, MAX_STATE_KEY, MAX_STATE_VALUE};
pub use inspect::{MAX_COMPONENT_BYTES, MAX_FUNCTION_BYTES, MAX_FUNCTIONS};
pub use limits::{PoolConfig, StepLimits};
pub use logbook::{LINE_OVERHEAD, MAX_LOG_LINE, line_cost};
pub use manifest::{
    ActionManifest, ComponentManifest, MAX_ACTIONS, MAX_DESCRIBE_BYTES, MAX_DESCRIPTION, MAX_HOSTS,
    MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, MAX_TITLE,
};
pub use outbound::{ComponentGrant, OutboundCount, OutboundOutcome, OutboundStats};
pub use runner::{StepContext, StepOutcome, StepRequest};
pub use slots::{InstanceSlots, SlotPermit};
pub use source::{ComponentSource, component_files, is_test_fixture};
pub use state::{
    MemoryStateStore, ScopeQuota, ScopeUsage, SetError, StateError, StateScope, StateStore,
};

use host_state::StepState;
use outbound::OutboundPolicy;

/// Operator settings of the sandbox (the `[sandbox]` table of `weft.toml`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Default limits of every step.
    pub limits: StepLimits,
    /// Instance pool sizing.
    pub pool: PoolConfig,
    /// Outbound HTTP policy (`[sandbox.outbound]`).
    pub outbound: OutboundConfig,
}

/// Compiles, links and runs components.
pub struct Sandbox {
    engine: WasmEngine,
    linker: Linker<StepState>,
    limits: StepLimits,
    outbound: Arc<OutboundPolicy>,
    outbound_stats: Arc<OutboundStats>,
    slots: InstanceSlots,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .field("pooling", &self.engine.pooling())
            .field("outbound", self.outbound.config())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Builds the engine and the linker. The linker provides WASI p2 with
    /// nothing granted (no preopens, environment, arguments or sockets),
    /// wasi:http behind the outbound policy, and Weft's `log` and `state`.
    pub fn new(config: &SandboxConfig) -> anyhow::Result<Self> {
        let engine = WasmEngine::new(&config.limits, &config.pool)?;
        let mut linker = Linker::new(engine.engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        bindings::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        bindings::state::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        Ok(Self {
            engine,
            linker,
            limits: config.limits.clone(),
            outbound: Arc::new(OutboundPolicy::new(config.outbound.clone())),
            outbound_stats: Arc::default(),
            slots: InstanceSlots::new(config.pool.instances, config.pool.per_tenant),
        })
    }

    /// The default limits of a step.
    pub fn limits(&self) -> &StepLimits {
        &self.limits
    }

    /// The outbound HTTP policy every step runs under.
    pub fn outbound(&self) -> &OutboundConfig {
        self.outbound.config()
    }

    /// Outbound request counters by component and outcome, since this
    /// sandbox was created (for the server's metrics).
    pub fn outbound_stats(&self) -> &Arc<OutboundStats> {
        &self.outbound_stats
    }

    /// The shared engine.
    pub fn engine(&self) -> &WasmEngine {
        &self.engine
    }
}
