//! The per-step store data: WASI context with nothing granted, wasi:http
//! with outbound hooks, the resource limiter, captured logs, and the
//! implementations of the `log` and `state` imports.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::{log, state};
use super::limits::StepLimits;
use super::outbound::OutboundHooks;
use super::state::{StateScope, StateStore};

/// Longest state key, in bytes.
pub const MAX_STATE_KEY: usize = 256;
/// Largest state value, in bytes of JSON.
pub const MAX_STATE_VALUE: usize = 256 * 1024;

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
    /// Lines from the `log` import (stdout/stderr are collected at the end).
    pub logs: Vec<LogLine>,
    log_bytes: usize,
    log_cap: usize,
    /// The guest logged past the cap.
    pub log_exceeded: bool,
    /// Captured stdout.
    pub stdout: MemoryOutputPipe,
    /// Captured stderr.
    pub stderr: MemoryOutputPipe,
    identity: StepIdentity,
    state: Arc<dyn StateStore>,
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
        let log_cap = limits.logs.as_usize();
        let stdout = MemoryOutputPipe::new(log_cap);
        let stderr = MemoryOutputPipe::new(log_cap);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.resources as usize);
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table,
            hooks,
            limiter: StepLimiter::new(limits),
            logs: Vec::new(),
            log_bytes: 0,
            log_cap,
            log_exceeded: false,
            stdout,
            stderr,
            identity,
            state,
        }
    }

    /// Whether stdout or stderr filled up (the guest wrote past the cap).
    pub fn pipes_full(&self) -> bool {
        self.stdout.contents().len() >= self.log_cap || self.stderr.contents().len() >= self.log_cap
    }

    /// All log lines: the `log` import's, then host notes, stdout, stderr.
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        let mut logs = std::mem::take(&mut self.logs);
        logs.extend(self.hooks.take_notes());
        for (pipe, source, level) in [
            (&self.stdout, LogSource::Stdout, LogLevel::Info),
            (&self.stderr, LogSource::Stderr, LogLevel::Warn),
        ] {
            let text = pipe.contents();
            let text = String::from_utf8_lossy(&text);
            logs.extend(text.lines().map(|line| LogLine {
                level,
                source,
                message: line.to_owned(),
            }));
        }
        logs
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
        self.log_bytes = self.log_bytes.saturating_add(message.len());
        if self.log_bytes > self.log_cap {
            self.log_exceeded = true;
            wasmtime::bail!("log limit exceeded");
        }
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.logs.push(LogLine {
            level,
            source: LogSource::Log,
            message,
        });
        Ok(())
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

impl state::Host for StepState {
    fn get(&mut self, scope: state::Scope, key: String) -> wasmtime::Result<Option<String>> {
        if check_key(&key).is_err() {
            return Ok(None);
        }
        Ok(self.state.get(&self.scope(scope), &key)?)
    }

    fn set(
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
        self.state.set(&self.scope(scope), &key, &value)?;
        Ok(Ok(()))
    }

    fn delete(&mut self, scope: state::Scope, key: String) -> wasmtime::Result<()> {
        if check_key(&key).is_ok() {
            self.state.delete(&self.scope(scope), &key)?;
        }
        Ok(())
    }

    fn keys(&mut self, scope: state::Scope, prefix: String) -> wasmtime::Result<Vec<String>> {
        Ok(self.state.keys(&self.scope(scope), &prefix)?)
    }
}

impl super::bindings::weft::connector::types::Host for StepState {}
