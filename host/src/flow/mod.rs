//! The flow engine: running a flow's steps against the sandbox, with
//! templates, control flow, retries, redaction and resumable records.

mod dispatch;
mod engine;
mod error_flows;
mod executor;
mod lifecycle;
mod local;
mod metrics;
mod record;
mod redact;
mod sealed;

pub use dispatch::{Dispatcher, Ticket};
pub use engine::{
    EngineConfig, EngineError, FinishListener, FlowEngine, NewExecution, Progress,
    QUEUE_FULL_RETRY_AFTER, Submitted,
};
pub use executor::{
    ComponentSource, ExecutionObserver, Executor, FlowLimits, FlowRun, InstanceInfo,
    idempotency_key,
};
pub use lifecycle::{FlowLifecycle, LifecycleFinishes};
pub use local::{DirectoryComponents, RecordingObserver};
pub use record::{FlowResult, LiveAnswer};
pub use redact::{REDACTED, Redactor, is_sensitive_header, shown_trigger};
pub use sealed::{SealError, Sealer};
