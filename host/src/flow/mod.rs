//! The flow engine: running a flow's steps against the sandbox, with
//! templates, control flow, retries, redaction and resumable records.

mod engine;
mod error_flows;
mod executor;
mod lifecycle;
mod local;
mod metrics;
mod record;
mod redact;
mod sealed;
mod worker;

pub use engine::{EngineConfig, FlowEngine, QUEUE_FULL_RETRY_AFTER};
pub use executor::{
    ComponentSource, ExecutionObserver, Executor, FlowLimits, FlowRun, InstanceInfo,
    idempotency_key,
};
pub use lifecycle::{FlowLifecycle, LifecycleEnds, LifecycleFinishes, lifecycle_finishes};
pub use local::{DirectoryComponents, RecordingObserver};
pub use record::FlowResult;
pub use redact::{REDACTED, Redactor, is_sensitive_header, shown_trigger};
pub use sealed::{SealError, Sealer};
pub use worker::{LEASE, QUEUE_POLL};
// The submit port's types, also under their old paths.
pub use crate::queue::{
    EngineError, FinishListener, LiveAnswer, NewExecution, Progress, Submitted,
};
