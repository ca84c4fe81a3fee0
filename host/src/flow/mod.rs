//! The flow engine: [`FlowEngine`] implements the submit port
//! ([`crate::submit::Submit`]) and runs executions durably; the
//! [`Executor`] runs one flow's steps against the sandbox, with templates,
//! control flow, retries, redaction and resumable records. Components come
//! through the sandbox's [`crate::sandbox::ComponentSource`] (the registry,
//! or [`DirectoryComponents`] for `weft run`), instance configs through
//! the engine's own [`InstanceSource`] port.

mod admission;
mod engine;
mod error_flows;
mod executor;
mod instance_source;
mod local;
mod metrics;
mod observer;
mod record;
mod redact;
mod remote;
mod sealed;
mod worker;

pub use crate::config::EngineConfig;
pub use engine::FlowEngine;
pub use executor::{
    ExecutionObserver, Executor, FlowLimits, FlowRun, InstanceInfo, idempotency_key,
};
pub use instance_source::InstanceSource;
pub use local::{DirectoryComponents, RecordingObserver};
pub use record::FlowResult;
pub use redact::{REDACTED, Redactor, is_sensitive_header, shown_trigger};
pub use remote::{HOME_FIRST, REMOTE_POLL};
pub use sealed::{SealError, Sealer};
pub use worker::{LEASE, QUEUE_POLL};
// The submit port's types, also under their old paths.
pub use crate::submit::{
    EngineError, FinishListener, LiveAnswer, NewExecution, Progress, QUEUE_FULL_RETRY_AFTER,
    Submitted,
};
