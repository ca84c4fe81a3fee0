//! The records that storage, the engine, triggers and the server share:
//! an execution and its steps, and a sealed secret as stored.
//!
//! A leaf: it imports nothing from other weft modules but `units` and the
//! sandbox's [`StepError`](crate::sandbox::StepError) and
//! [`LogLine`](crate::sandbox::LogLine), which a step record carries.

mod execution;
mod secret;

pub use execution::{
    ExecutionRecord, ExecutionStatus, FlowAttempt, FlowResponse, StepFailure, StepRecord,
    StepStatus,
};
pub use secret::SealedSecret;
