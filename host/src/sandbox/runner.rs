//! Running one step attempt: a fresh `Store` with every limit set, one
//! instantiation from the pre-linked component, one call, and a typed
//! outcome with the resources it used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wasmtime::{Store, Trap};

use super::Sandbox;
use super::bindings::{self, ComponentInfo, WitStepError};
use super::component::LoadedComponent;
use super::engine::EPOCH_TICK;
use super::error::{GuestErrorKind, StepError};
use super::host_state::{LogLine, StepIdentity, StepState};
use super::limits::StepLimits;
use super::manifest::MAX_DESCRIBE_BYTES;
use super::outbound::OutboundHooks;
use super::state::{MemoryStateStore, StateStore};
use crate::egress::HostPattern;
use crate::units::ByteSize;

/// Fuel consumed between yields to the tokio scheduler, so one busy guest
/// cannot monopolise a worker thread.
const FUEL_YIELD_INTERVAL: u64 = 100_000;

/// Where a step runs; the guest sees it as `step-context`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepContext {
    /// Execution id.
    pub execution_id: String,
    /// Tenant name.
    pub tenant: String,
    /// Instance id.
    pub instance: String,
    /// Flow name.
    pub flow: String,
    /// Step id.
    pub step: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Stable across attempts of this step of this execution.
    pub idempotency_key: String,
}

/// One step attempt to run.
pub struct StepRequest {
    /// The action key.
    pub action: String,
    /// The input, as JSON text.
    pub input: String,
    /// Where it runs.
    pub context: StepContext,
    /// Limits for this attempt.
    pub limits: StepLimits,
    /// Backing store of the `state` import.
    pub state: Arc<dyn StateStore>,
    /// Hosts this instance may reach on top of the operator allowlist
    /// (validated when the instance is created); the component must still
    /// declare them, and the address checks still apply.
    pub outbound_allow: Vec<HostPattern>,
    /// The instance's non-secret string config values, for declared hosts
    /// like `{{ config.base_url }}`.
    pub host_config: serde_json::Map<String, serde_json::Value>,
}

impl StepRequest {
    /// A request with the sandbox's default limits and throwaway state, as
    /// `weft component call` uses.
    pub fn local(sandbox: &Sandbox, action: &str, input: String) -> Self {
        Self {
            action: action.to_owned(),
            input,
            context: StepContext {
                execution_id: "local".into(),
                tenant: "local".into(),
                instance: "local".into(),
                flow: "local".into(),
                step: "local".into(),
                attempt: 1,
                idempotency_key: "local".into(),
            },
            limits: sandbox.limits().clone(),
            state: Arc::new(MemoryStateStore::default()),
            outbound_allow: Vec::new(),
            host_config: serde_json::Map::new(),
        }
    }
}

/// What one step attempt produced and consumed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepOutcome {
    /// The output JSON, or why there is none.
    pub result: Result<serde_json::Value, StepError>,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Wall time, including instantiation.
    #[serde(rename = "duration_ms", with = "crate::units::duration_ms")]
    pub duration: Duration,
    /// Largest linear memory, in bytes.
    pub peak_memory: u64,
    /// Captured log lines.
    pub logs: Vec<LogLine>,
    /// The status of the last HTTP response the attempt received, if any
    /// (for `steps.<id>.error.status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_http_status: Option<u16>,
}

impl Sandbox {
    fn new_store(
        &self,
        limits: &StepLimits,
        identity: StepIdentity,
        state: Arc<dyn StateStore>,
        hooks: OutboundHooks,
    ) -> Result<Store<StepState>, StepError> {
        let host = StepState::new(limits, identity, state, hooks);
        let mut store = Store::new(self.engine.engine(), host);
        store.limiter(|s| &mut s.limiter);
        let setup = |store: &mut Store<StepState>| -> wasmtime::Result<()> {
            store.set_fuel(limits.fuel)?;
            store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL))?;
            Ok(())
        };
        setup(&mut store).map_err(|e| StepError::Host(format!("{e:#}")))?;
        store.set_epoch_deadline(epoch_ticks(limits.timeout));
        store.epoch_deadline_trap();
        store.set_hostcall_fuel(limits.hostcall_bytes.as_usize());
        Ok(store)
    }

    /// Runs one attempt of a step in a fresh instance. Never panics and
    /// never leaves anything behind: the store is dropped on return.
    pub async fn run_step(&self, component: &LoadedComponent, req: StepRequest) -> StepOutcome {
        let started = Instant::now();
        let limits = req.limits;
        let identity = StepIdentity {
            execution: req.context.execution_id.clone(),
            instance: req.context.instance.clone(),
            flow: req.context.flow.clone(),
        };
        let hooks = OutboundHooks::new(
            self.outbound.clone(),
            self.grant(component).await.for_config(&req.host_config),
            req.outbound_allow.into(),
            self.outbound_stats.clone(),
        );
        // A slot of the pool (and of the tenant's share), waited for
        // within the step's deadline; held until the store is dropped.
        let deadline = tokio::time::Instant::from_std(started) + limits.timeout;
        let Some(_slot) = self
            .slots
            .acquire(Some(&req.context.tenant), deadline)
            .await
        else {
            return StepOutcome {
                result: Err(StepError::Deadline {
                    limit: limits.timeout,
                }),
                fuel_used: 0,
                duration: started.elapsed(),
                peak_memory: 0,
                logs: Vec::new(),
                last_http_status: None,
            };
        };
        // What is left of the deadline bounds the run.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let run_limits = StepLimits {
            timeout: left,
            ..limits.clone()
        };
        let mut store = match self.new_store(&run_limits, identity, req.state, hooks) {
            Ok(store) => store,
            Err(error) => {
                return StepOutcome {
                    result: Err(error),
                    fuel_used: 0,
                    duration: started.elapsed(),
                    peak_memory: 0,
                    logs: Vec::new(),
                    last_http_status: None,
                };
            }
        };
        let ctx = bindings::StepContext {
            execution_id: req.context.execution_id,
            tenant: req.context.tenant,
            instance: req.context.instance,
            flow: req.context.flow,
            step: req.context.step,
            attempt: req.context.attempt,
            idempotency_key: req.context.idempotency_key,
        };
        let call = async {
            let connector = component.pre.instantiate_async(&mut store).await?;
            connector
                .call_run(&mut store, &req.action, &req.input, &ctx)
                .await
        };
        let result = match tokio::time::timeout(left, call).await {
            Err(_elapsed) => Err(StepError::Deadline {
                limit: limits.timeout,
            }),
            Ok(Err(err)) => Err(classify(err, store.data(), &limits)),
            Ok(Ok(Err(guest))) => Err(guest_error(guest)),
            Ok(Ok(Ok(output))) => parse_output(&output, &limits),
        }
        .map_err(StepError::bounded);
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let peak_memory = store.data().limiter.peak_memory as u64;
        let logs = store.data_mut().take_logs();
        let last_http_status = store.data().hooks.last_status();
        StepOutcome {
            result,
            fuel_used,
            duration: started.elapsed(),
            peak_memory,
            logs,
            last_http_status,
        }
    }

    /// Calls `describe()` with a small fuel budget and deadline.
    pub(super) async fn call_describe(
        &self,
        component: &LoadedComponent,
    ) -> Result<ComponentInfo, StepError> {
        let base = self.limits();
        let limits = StepLimits {
            fuel: 200_000_000,
            timeout: Duration::from_secs(10),
            // Lifting the answer is bounded by this, well before the
            // manifest's own size check.
            hostcall_bytes: base
                .hostcall_bytes
                .min(ByteSize(4 * MAX_DESCRIBE_BYTES as u64)),
            ..base.clone()
        };
        let state = Arc::new(MemoryStateStore::default());
        // describe() has no business on the network: nothing is declared.
        let hooks = OutboundHooks::new(
            self.outbound.clone(),
            Arc::default(),
            Arc::new([]),
            self.outbound_stats.clone(),
        );
        let deadline = tokio::time::Instant::now() + limits.timeout;
        let _slot = self
            .slots
            .acquire(None, deadline)
            .await
            .ok_or(StepError::Deadline {
                limit: limits.timeout,
            })?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let mut store = self.new_store(&limits, StepIdentity::default(), state, hooks)?;
        let call = async {
            let connector = component.pre.instantiate_async(&mut store).await?;
            connector.call_describe(&mut store).await
        };
        match tokio::time::timeout(left, call).await {
            Err(_elapsed) => Err(StepError::Deadline {
                limit: limits.timeout,
            }),
            Ok(Err(err)) => Err(classify(err, store.data(), &limits).bounded()),
            Ok(Ok(info)) => Ok(info),
        }
    }
}

fn epoch_ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}

fn guest_error(error: WitStepError) -> StepError {
    let (kind, message) = match error {
        WitStepError::InvalidInput(m) => (GuestErrorKind::InvalidInput, m),
        WitStepError::Upstream(m) => (GuestErrorKind::Upstream, m),
        WitStepError::Fatal(m) => (GuestErrorKind::Fatal, m),
    };
    StepError::Guest { kind, message }
}

fn parse_output(output: &str, limits: &StepLimits) -> Result<serde_json::Value, StepError> {
    if output.len() as u64 > limits.output.0 {
        return Err(StepError::OutputTooLarge {
            size: ByteSize(output.len() as u64),
            limit: limits.output,
        });
    }
    serde_json::from_str(output).map_err(|e| StepError::InvalidOutput(e.to_string()))
}

/// Explains why a call failed: which limit, which trap, or a host failure.
fn classify(err: wasmtime::Error, state: &StepState, limits: &StepLimits) -> StepError {
    if state.limiter.memory_exceeded {
        return StepError::MemoryLimit {
            limit: limits.memory,
        };
    }
    if state.limiter.table_exceeded {
        return StepError::TableLimit {
            limit: limits.table_elements,
        };
    }
    if state.log_exceeded() {
        return StepError::LogLimit { limit: limits.logs };
    }
    if err
        .downcast_ref::<wasmtime::component::ResourceTableError>()
        .is_some_and(|e| matches!(e, wasmtime::component::ResourceTableError::Full))
    {
        return StepError::ResourceLimit {
            limit: limits.resources,
        };
    }
    // wasmtime's error for this is private; its message is stable.
    if format!("{err:#}").contains("fuel allocated for hostcalls") {
        return StepError::HostcallLimit {
            limit: limits.hostcall_bytes,
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => StepError::OutOfFuel {
            budget: limits.fuel,
        },
        Some(Trap::Interrupt) => StepError::Deadline {
            limit: limits.timeout,
        },
        Some(Trap::StackOverflow) => StepError::StackOverflow {
            limit: limits.stack,
        },
        Some(trap) => {
            let backtrace = err
                .downcast_ref::<wasmtime::WasmBacktrace>()
                .map(|bt| bt.to_string());
            let message = match panic_message(state) {
                Some(panic) => format!("{trap}; {panic}"),
                None => trap.to_string(),
            };
            StepError::Trap { message, backtrace }
        }
        None => StepError::Host(format!("{err:#}")),
    }
}

/// The Rust panic message the guest printed to stderr, if any.
fn panic_message(state: &StepState) -> Option<String> {
    let text = state.stderr_text();
    let mut lines = text.lines().skip_while(|l| !l.contains("panicked at"));
    let location = lines.next()?;
    let message = lines.next().unwrap_or("").trim();
    let location = location
        .split("panicked at ")
        .nth(1)
        .unwrap_or(location)
        .trim_end_matches(':');
    Some(format!("guest panicked at {location}: {message}"))
}
