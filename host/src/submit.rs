//! The submit port: what a trigger hands over to start an execution
//! ([`NewExecution`]), what it gets back ([`Submitted`], with a watch on
//! its [`Progress`]) and why it may be refused ([`EngineError`]).
//! Triggers (webhooks, the manual run route, the scheduler, lifecycle
//! flows) depend on the [`Submit`] trait, never on the engine; the flow
//! engine implements it and `node.rs` wires one into the other. Ends of
//! executions go out to [`FinishListener`]s given to the engine. The
//! lifecycle idempotency key ([`lifecycle_key`]) marks the deploy and
//! teardown submissions exempt from the per-tenant queue limit, past which
//! a submit is refused with [`EngineError::QueueFull`] (retry after
//! [`QUEUE_FULL_RETRY_AFTER`]).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::watch;

use crate::model::{ExecutionRecord, FlowResponse};
use crate::storage::StorageError;

/// Starts executions: stores them (`queued`), makes them durable and
/// queues them for a worker.
pub trait Submit: Send + Sync {
    /// Stores a new `queued` execution, queues it and returns once it is
    /// on disk; with a repeated idempotency key, returns the first
    /// execution instead.
    fn submit(&self, new: NewExecution) -> BoxFuture<'_, Result<Submitted, EngineError>>;

    /// [`Submit::submit`] for callers outside async code (the scheduler):
    /// flushes on its own before returning.
    fn submit_blocking(&self, new: NewExecution) -> Result<Submitted, EngineError>;

    /// Submits and waits for the end (preprocess flows).
    fn run_to_end(&self, new: NewExecution) -> BoxFuture<'_, Result<ExecutionRecord, EngineError>>;
}

/// How far an execution has come, for callers waiting on it.
#[derive(Clone, Debug)]
pub enum Progress {
    /// Queued or running.
    Pending,
    /// A `respond` step produced the HTTP response (the run may go on).
    Responded(FlowResponse),
    /// It ended; the record as stored (redacted; its steps may be left
    /// out, the store has them), and the answer in clear for the caller
    /// waiting in this process, if the run produced one here.
    Finished(Box<ExecutionRecord>, Option<Arc<LiveAnswer>>),
}

/// A request to run a flow of an instance.
#[derive(Clone, Debug, Default)]
pub struct NewExecution {
    /// Instance id.
    pub instance: String,
    /// Flow name.
    pub flow: String,
    /// Trigger payload.
    pub trigger: Value,
    /// Caller's idempotency key: a second submit with the same key for the
    /// same instance and flow returns the first execution.
    pub idempotency_key: Option<String>,
    /// Where to POST the result when the run ends.
    pub callback: Option<String>,
    /// The execution this one replays.
    pub replay_of: Option<String>,
    /// A caller waits for the answer (a sync webhook): the execution is
    /// claimed before the tenant's async ones.
    pub sync: bool,
}

/// What [`Submit::submit`] did.
#[derive(Debug)]
pub struct Submitted {
    /// The execution (the earlier one for a repeated idempotency key).
    pub record: ExecutionRecord,
    /// `false` when an earlier execution was returned.
    pub created: bool,
    /// Progress of the execution while it runs (`None` once finished).
    pub progress: Option<watch::Receiver<Progress>>,
}

/// What a tenant past `[engine] max_queued_per_tenant` is told to wait
/// before trying again (`Retry-After` with [`EngineError::QueueFull`]).
pub const QUEUE_FULL_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// Why an execution could not be submitted.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No such instance.
    #[error("instance {0:?} not found")]
    UnknownInstance(String),
    /// The instance's integration has no such flow.
    #[error("integration {integration} has no flow {flow:?}")]
    UnknownFlow {
        /// `name@version`.
        integration: String,
        /// The flow asked for.
        flow: String,
    },
    /// No such execution.
    #[error("execution {0:?} not found")]
    UnknownExecution(String),
    /// The tenant has as many executions queued as it may.
    #[error(
        "tenant {tenant:?} already has {limit} executions queued, the most allowed ([engine] max_queued_per_tenant); retry later"
    )]
    QueueFull {
        /// The tenant.
        tenant: String,
        /// `[engine] max_queued_per_tenant`.
        limit: usize,
    },
    /// Only a failed execution can be retried.
    #[error("execution {id} is {status}; only a failed execution can be retried")]
    NotFailed {
        /// The execution.
        id: String,
        /// Its status now.
        status: &'static str,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Told about every execution that ends (webhook callbacks plug in here).
pub trait FinishListener: Send + Sync {
    /// `record` (with its steps) just ended.
    fn finished(&self, record: &ExecutionRecord);
}

/// The answer a sync webhook's caller gets, in clear: the flow's business,
/// unlike every stored or served copy, which is redacted.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveAnswer {
    /// The last top-level step's output.
    pub output: Value,
    /// The `respond` step's response, if one ran.
    pub response: Option<FlowResponse>,
}

/// Prefix of the idempotency key of lifecycle executions.
const LIFECYCLE_KEY_PREFIX: &str = "weft-lifecycle:";

/// The idempotency key every flow execution of lifecycle transition `run`
/// carries (a resubmit of the same transition finds the execution stored).
pub fn lifecycle_key(run: &str) -> String {
    format!("{LIFECYCLE_KEY_PREFIX}{run}")
}

/// Whether `key` is the idempotency key of a lifecycle execution (exempt
/// from `[engine] max_queued_per_tenant`).
pub fn is_lifecycle_key(key: &str) -> bool {
    key.starts_with(LIFECYCLE_KEY_PREFIX)
}
