//! The records that storage, the engine, triggers and the server share:
//! an execution and its steps, a sealed secret as stored, and ids as
//! types ([`ExecutionId`], [`InstanceId`], [`ComponentRef`],
//! [`IntegrationRef`]).
//!
//! A leaf: it imports nothing from other weft modules but `units` and the
//! sandbox's [`StepError`](crate::sandbox::StepError) and
//! [`LogLine`](crate::sandbox::LogLine), which a step record carries.

mod execution;
mod ids;
mod secret;

pub use execution::{
    ExecutionRecord, ExecutionStatus, FlowAttempt, FlowResponse, StepFailure, StepRecord,
    StepStatus,
};
pub use ids::{ComponentRef, ExecutionId, IdError, InstanceId, IntegrationRef};
pub use secret::SealedSecret;
