//! Per-step resource limits and the sizing of the shared engine's instance
//! pool, with their documented defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::units::{ByteSize, duration_serde};

/// Limits applied to every step attempt (one fresh store each).
///
/// Every field has a default chosen so that an ordinary connector (parse
/// JSON, call an API, reshape the answer) never notices it, while a hostile
/// or buggy one is stopped quickly and cheaply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepLimits {
    /// Fuel per step: a deterministic CPU bound (roughly one unit per wasm
    /// instruction). Default 1,000,000,000 — about a second of guest work.
    pub fuel: u64,
    /// Wall-clock deadline per step, including time blocked in host calls
    /// (outbound HTTP, sleeps). Default 30s.
    #[serde(with = "duration_serde")]
    pub timeout: Duration,
    /// Largest size of one linear memory. Default 64 MiB.
    pub memory: ByteSize,
    /// Largest number of elements in one table. Default 20,000 (a Rust
    /// component uses a few hundred).
    pub table_elements: u32,
    /// Core instances per component instance. Default 32 (a Rust component
    /// built for wasm32-wasip2 uses fewer than 10).
    pub instances: u32,
    /// Tables per component instance. Default 32.
    pub tables: u32,
    /// Linear memories per component instance. Default 4.
    pub memories: u32,
    /// Resource handles (streams, pollables, HTTP requests, ...) the guest
    /// may hold at once. Default 1,000.
    pub resources: u32,
    /// Largest JSON output of one step. Default 4 MiB.
    pub output: ByteSize,
    /// One log budget per step for everything recorded from the guest:
    /// `log` calls, stdout and stderr together, each line charged its
    /// JSON-escaped text plus 64 bytes (so empty lines are not free).
    /// Past it the step fails with `log_limit`. Default 1 MiB.
    pub logs: ByteSize,
    /// Bytes copied between guest and host in one call (arguments of a
    /// host call, or the result of `run`). Default 64 MiB, so an output
    /// over the `output` cap is reported as such.
    pub hostcall_bytes: ByteSize,
    /// Wasm stack size. Default 512 KiB (wasmtime's own default).
    pub stack: ByteSize,
    /// Bytes (keys plus values) one step may write to `state`, over all
    /// its `set` calls and scopes. Default 4 MiB.
    pub state_step_bytes: ByteSize,
    /// `state.set` calls one step may make. Default 1,000.
    pub state_step_writes: u32,
    /// Bytes (keys plus values) one state scope may hold. Default 16 MiB.
    pub state_scope_bytes: ByteSize,
    /// Keys one state scope may hold. Default 10,000.
    pub state_scope_keys: u32,
}

impl Default for StepLimits {
    fn default() -> Self {
        Self {
            fuel: 1_000_000_000,
            timeout: Duration::from_secs(30),
            memory: ByteSize::mib(64),
            table_elements: 20_000,
            instances: 32,
            tables: 32,
            memories: 4,
            resources: 1_000,
            output: ByteSize::mib(4),
            logs: ByteSize::mib(1),
            hostcall_bytes: ByteSize::mib(64),
            stack: ByteSize::kib(512),
            state_step_bytes: ByteSize::mib(4),
            state_step_writes: 1_000,
            state_scope_bytes: ByteSize::mib(16),
            state_scope_keys: 10_000,
        }
    }
}

/// How the shared engine reserves memory for concurrently running steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Use the pooling allocator (falls back to on-demand allocation when
    /// the virtual-memory reservation fails). Default true.
    pub enabled: bool,
    /// Component instances alive at once (running steps). A step that
    /// finds them all taken waits for one within its own deadline.
    /// Default 128.
    pub instances: u32,
    /// Of those, the most one tenant's steps may hold at once (its share;
    /// at most `instances`); its further steps wait for one of its own
    /// slots within their deadline, so one tenant's flood cannot take the
    /// pool from the others. Default 32: a quarter of the default pool,
    /// room for a `for_each` of concurrency 32 while three other tenants
    /// are as busy.
    pub per_tenant: u32,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            instances: 128,
            per_tenant: 32,
        }
    }
}
