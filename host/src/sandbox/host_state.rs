//! The per-step store data: WASI context with nothing granted, wasi:http
//! with outbound hooks, the resource limiter, captured logs, and the
//! implementations of the `log` and `state` imports.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::{log, state};
use super::limits::StepLimits;
use super::logbook::{self, GuestOutput, LogBook};
use super::outbound::OutboundHooks;
use super::state::{ScopeQuota, SetError, StateScope, StateStore};
use crate::units::ByteSize;

/// Longest state key, in bytes.
pub const MAX_STATE_KEY: usize = 256;
/// Largest state value, in bytes of JSON.
pub const MAX_STATE_VALUE: usize = 256 * 1024;

/// Most random bytes one `wasi:random` call may ask the host for
/// (wasmtime's default is 64 MiB).
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// Largest in-memory size of one set of HTTP headers (`fields`) the guest
/// builds (wasmtime's default is 128 KiB); with the resource cap this
/// bounds what headers can make the host hold.
const MAX_HTTP_FIELDS_BYTES: usize = 64 << 10;

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very verbose.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something odd.
    Warn,
    /// Something failed.
    Error,
}

/// Where a log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The `log` import.
    Log,
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr.
    Stderr,
    /// The host, about the guest (e.g. a refused outbound request).
    Host,
}

/// One captured log line of a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// Origin.
    pub source: LogSource,
    /// The text.
    pub message: String,
    /// When it was captured (absent in records written before timestamps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Enforces memory, table and instance caps, and remembers which cap was
/// hit and the peak memory, so a trap can be explained afterwards.
#[derive(Debug)]
pub struct StepLimiter {
    memory_cap: usize,
    table_cap: usize,
    instances: usize,
    tables: usize,
    memories: usize,
    /// Largest size any linear memory reached, in bytes.
    pub peak_memory: usize,
    /// A memory tried to grow past the cap.
    pub memory_exceeded: bool,
    /// A table tried to grow past the cap.
    pub table_exceeded: bool,
}

impl StepLimiter {
    fn new(limits: &StepLimits) -> Self {
        Self {
            memory_cap: limits.memory.as_usize(),
            table_cap: limits.table_elements as usize,
            instances: limits.instances as usize,
            tables: limits.tables as usize,
            memories: limits.memories as usize,
            peak_memory: 0,
            memory_exceeded: false,
            table_exceeded: false,
        }
    }
}

impl ResourceLimiter for StepLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            // Trap instead of letting the guest see a failed grow: a Rust
            // guest would abort with an opaque `unreachable` anyway.
            self.memory_exceeded = true;
            wasmtime::bail!("memory limit exceeded");
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_cap {
            self.table_exceeded = true;
            wasmtime::bail!("table limit exceeded");
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

/// Identity of the step, used to resolve state scopes.
#[derive(Clone, Debug, Default)]
pub struct StepIdentity {
    /// Execution id.
    pub execution: String,
    /// Instance id.
    pub instance: String,
    /// Flow name.
    pub flow: String,
}

/// Everything one step's `Store` holds.
pub struct StepState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    /// Outbound HTTP policy for this step.
    pub hooks: OutboundHooks,
    /// Memory/table/instance caps.
    pub limiter: StepLimiter,
    /// Lines from the `log` import, stdout and stderr, under one budget.
    logs: Arc<Mutex<LogBook>>,
    identity: StepIdentity,
    state: Arc<dyn StateStore>,
    state_budget: StateBudget,
}

/// What a step may still write to `state`, and the per-scope quota.
#[derive(Debug)]
struct StateBudget {
    bytes_left: u64,
    writes_left: u32,
    step_bytes: ByteSize,
    step_writes: u32,
    quota: ScopeQuota,
}

impl StateBudget {
    fn new(limits: &StepLimits) -> Self {
        Self {
            bytes_left: limits.state_step_bytes.0,
            writes_left: limits.state_step_writes,
            step_bytes: limits.state_step_bytes,
            step_writes: limits.state_step_writes,
            quota: ScopeQuota {
                bytes: limits.state_scope_bytes.0,
                keys: u64::from(limits.state_scope_keys),
            },
        }
    }

    /// Takes `bytes` and one write from the budget, or says why not.
    fn take(&mut self, bytes: u64) -> Result<(), String> {
        if self.writes_left == 0 {
            return Err(format!(
                "this step already made {} state writes, the limit per step",
                self.step_writes
            ));
        }
        if bytes > self.bytes_left {
            return Err(format!(
                "this step may write {} of state in all; this write of {bytes} bytes would pass it",
                self.step_bytes
            ));
        }
        self.bytes_left -= bytes;
        self.writes_left -= 1;
        Ok(())
    }

    fn give_back(&mut self, bytes: u64) {
        self.bytes_left += bytes;
        self.writes_left += 1;
    }
}

impl StepState {
    /// A store state that grants nothing: no files, no environment, no
    /// arguments, no sockets, no name lookups; stdout and stderr captured.
    pub fn new(
        limits: &StepLimits,
        identity: StepIdentity,
        state: Arc<dyn StateStore>,
        hooks: OutboundHooks,
    ) -> Self {
        let logs = Arc::new(Mutex::new(LogBook::new(limits.logs)));
        let wasi = WasiCtxBuilder::new()
            .stdout(GuestOutput::new(logs.clone(), LogSource::Stdout))
            .stderr(GuestOutput::new(logs.clone(), LogSource::Stderr))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.resources as usize);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_HTTP_FIELDS_BYTES);
        Self {
            wasi,
            http,
            table,
            hooks,
            limiter: StepLimiter::new(limits),
            logs,
            identity,
            state,
            state_budget: StateBudget::new(limits),
        }
    }

    /// Whether the guest went past the step's log budget.
    pub fn log_exceeded(&self) -> bool {
        logbook::lock(&self.logs).exceeded()
    }

    /// What the guest wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        logbook::lock(&self.logs).stderr_text()
    }

    /// All log lines: the `log` import's, stdout's and stderr's in the
    /// order they came, then host notes (and a line saying the budget ran
    /// out, if it did).
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        let notes = self.hooks.take_notes();
        logbook::lock(&self.logs).finish(notes)
    }

    fn scope(&self, scope: state::Scope) -> StateScope {
        let id = &self.identity;
        match scope {
            state::Scope::Execution => StateScope::Execution {
                execution: id.execution.clone(),
            },
            state::Scope::Flow => StateScope::Flow {
                instance: id.instance.clone(),
                flow: id.flow.clone(),
            },
            state::Scope::Instance => StateScope::Instance {
                instance: id.instance.clone(),
            },
        }
    }
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StepState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl log::Host for StepState {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        match logbook::lock(&self.logs).log(level, message) {
            Ok(()) => Ok(()),
            Err(logbook::LogLimitReached) => wasmtime::bail!("log limit exceeded"),
        }
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_STATE_KEY {
        return Err(format!(
            "state key must be 1 to {MAX_STATE_KEY} bytes, got {}",
            key.len()
        ));
    }
    Ok(())
}

/// Runs a state backend call on a blocking thread: the sled backend
/// flushes to disk, which must never stall an async worker.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> wasmtime::Result<T> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| wasmtime::format_err!("state call failed: {e}"))
}

impl state::Host for StepState {
    async fn get(&mut self, scope: state::Scope, key: String) -> wasmtime::Result<Option<String>> {
        if check_key(&key).is_err() {
            return Ok(None);
        }
        let (store, scope) = (self.state.clone(), self.scope(scope));
        Ok(blocking(move || store.get(&scope, &key)).await??)
    }

    async fn set(
        &mut self,
        scope: state::Scope,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), String>> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        if value.len() > MAX_STATE_VALUE {
            return Ok(Err(format!(
                "state value for {key:?} is {} bytes; the limit is {MAX_STATE_VALUE}",
                value.len()
            )));
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&value) {
            return Ok(Err(format!("state value for {key:?} is not json: {e}")));
        }
        let cost = (key.len() + value.len()) as u64;
        if let Err(e) = self.state_budget.take(cost) {
            return Ok(Err(format!("state value for {key:?} refused: {e}")));
        }
        let (store, scope, quota) = (
            self.state.clone(),
            self.scope(scope),
            self.state_budget.quota,
        );
        let stored =
            blocking(move || store.set(&scope, &key, &value, quota).map_err(|e| (key, e))).await?;
        match stored {
            Ok(()) => Ok(Ok(())),
            Err((key, SetError::Quota(message))) => {
                self.state_budget.give_back(cost);
                Ok(Err(format!("state value for {key:?} refused: {message}")))
            }
            Err((_, SetError::Backend(e))) => Err(e.into()),
        }
    }

    async fn delete(&mut self, scope: state::Scope, key: String) -> wasmtime::Result<()> {
        if check_key(&key).is_ok() {
            let (store, scope) = (self.state.clone(), self.scope(scope));
            blocking(move || store.delete(&scope, &key)).await??;
        }
        Ok(())
    }

    async fn keys(&mut self, scope: state::Scope, prefix: String) -> wasmtime::Result<Vec<String>> {
        let (store, scope) = (self.state.clone(), self.scope(scope));
        Ok(blocking(move || store.keys(&scope, &prefix)).await??)
    }
}

impl super::bindings::weft::connector::types::Host for StepState {}
