//! How a flow run ended, as the engine hands it back: the stored parts
//! (status, output, response) and the caller's answer in clear.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{ExecutionStatus, FlowResponse};
use crate::submit::LiveAnswer;

/// How a flow run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowResult {
    /// `Succeeded` or `Failed`.
    pub status: ExecutionStatus,
    /// The last top-level step's output.
    pub output: Value,
    /// Why it failed.
    pub error: Option<String>,
    /// The `respond` step's response, if one ran.
    pub response: Option<FlowResponse>,
    /// The path of the step that failed the run, if a step did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    /// Whether the failed step's error was retryable (a flow-level
    /// `retry` runs the execution again only then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
    /// What the flow answers its caller, in clear (never stored).
    #[serde(skip)]
    pub live: Option<std::sync::Arc<LiveAnswer>>,
}

impl FlowResult {
    /// A run that failed before or outside its steps.
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            status: ExecutionStatus::Failed,
            output: Value::Null,
            error: Some(error.into()),
            response: None,
            failed_step: None,
            retryable: false,
            live: None,
        }
    }
}
