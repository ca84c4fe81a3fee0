//! What an execution records: its status, trigger, response and one
//! record per step, as stored and as the API shows it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sandbox::{LogLine, StepError};

/// Where an execution is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Durable, waiting for a worker.
    Queued,
    /// A worker is running it (or was, when the host died).
    Running,
    /// Every step that ran succeeded (or failed with `on_error: continue`).
    Succeeded,
    /// A step failed, or the flow could not run.
    Failed,
}

impl ExecutionStatus {
    /// The lowercase name used in the API and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Whether the execution has ended.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

impl std::str::FromStr for ExecutionStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            other => Err(format!(
                "unknown status {other:?}; expected queued, running, succeeded or failed"
            )),
        }
    }
}

/// Whether a step succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It produced an output.
    Succeeded,
    /// It failed (see `error`).
    Failed,
}

/// A step's failure as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepFailure {
    /// Stable code (`guest`, `out_of_fuel`, `template`, ...).
    pub code: String,
    /// The full message.
    pub message: String,
    /// Whether it was retryable.
    pub retryable: bool,
    /// The typed sandbox error, when the sandbox produced it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<StepError>,
}

impl StepFailure {
    /// A failure that is not a sandbox error (template, missing component).
    pub fn other(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            retryable: false,
            detail: None,
        }
    }

    /// A failure reported by the sandbox.
    pub fn from_step_error(error: StepError) -> Self {
        Self {
            code: error.code().to_owned(),
            message: error.to_string(),
            retryable: error.is_retryable(),
            detail: Some(error),
        }
    }
}

/// One step's record; nested steps have paths like `route.ship` or
/// `each_order[2].ship`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Unique within the execution; identifies the step on resume.
    pub path: String,
    /// The step id from the integration file.
    pub step: String,
    /// `action`, `branch`, `for_each` or `respond`.
    pub kind: String,
    /// `name@version`, for action steps.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub component: Option<String>,
    /// Action key, for action steps.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<String>,
    /// Outcome.
    pub status: StepStatus,
    /// Rendered input, secrets redacted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input: Option<Value>,
    /// Output, secrets redacted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output: Option<Value>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<StepFailure>,
    /// Captured log lines of the last attempt, secrets redacted.
    #[serde(default)]
    pub logs: Vec<LogLine>,
    /// Attempts made (1 without retries).
    pub attempts: u32,
    /// Wall time across attempts, including backoff waits.
    #[serde(rename = "duration_ms", with = "crate::units::duration_ms")]
    pub duration: Duration,
    /// Fuel consumed across attempts.
    pub fuel_used: u64,
    /// Largest linear memory of any attempt, in bytes.
    pub peak_memory: u64,
    /// When the step started.
    pub started_at: DateTime<Utc>,
}

/// The HTTP response of a sync webhook, from a `respond` step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// JSON body.
    pub body: Value,
}

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
}
