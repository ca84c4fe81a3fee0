//! The flow engine: running a flow's steps against the sandbox, with
//! templates, control flow, retries, redaction and resumable records.

mod executor;
mod local;
mod record;
mod redact;

pub use executor::{
    ComponentSource, ExecutionObserver, Executor, FlowRun, InstanceInfo, ResolvedComponent,
    idempotency_key,
};
pub use local::{DirectoryComponents, RecordingObserver};
pub use record::{ExecutionStatus, FlowResponse, FlowResult, StepFailure, StepRecord, StepStatus};
pub use redact::{REDACTED, Redactor};
