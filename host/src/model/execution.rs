//! What an execution records: its status, trigger, response and one
//! record per step, as storage keeps it and as the API shows it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SealedSecret;
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
    /// What kind of failure, for flows to branch on: the guest's
    /// `invalid-input`, `upstream` or `fatal`, or the host's `deadline`,
    /// `out-of-fuel`, `memory`, `trap`, `template`, … (empty in records
    /// written before it existed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// For a guest error after an HTTP response with an error status
    /// (≥ 400): that status, as the host saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The typed sandbox error, when the sandbox produced it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<Box<StepError>>,
}

impl StepFailure {
    /// A failure that is not a sandbox error (template, missing component).
    pub fn other(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            retryable: false,
            kind: code.replace('_', "-"),
            status: None,
            detail: None,
        }
    }

    /// A failure reported by the sandbox; `last_http_status` is the status
    /// of the last HTTP response the attempt received, kept for a guest
    /// error when it was an error status.
    pub fn from_step_error(error: StepError, last_http_status: Option<u16>) -> Self {
        let status = match &error {
            StepError::Guest { .. } => last_http_status.filter(|s| *s >= 400),
            _ => None,
        };
        Self {
            code: error.code().to_owned(),
            message: error.to_string(),
            retryable: error.is_retryable(),
            kind: error.kind().to_owned(),
            status,
            detail: Some(Box::new(error)),
        }
    }

    /// What a flow sees as `steps.<id>.error` after `on_error: continue`.
    pub fn to_flow_value(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "code": self.code,
            "message": self.message,
            "kind": if self.kind.is_empty() { self.code.replace('_', "-") } else { self.kind.clone() },
            "retryable": self.retryable,
        });
        if let Some(status) = self.status {
            value["status"] = status.into();
        }
        value
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
    /// The output in clear, sealed under the master key, when it differs
    /// from `output` (it held a secret): what later steps read on resume.
    /// Never served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_output: Option<SealedSecret>,
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

/// A failed run of an execution that its flow's `retry` ran again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowAttempt {
    /// The path of the step that failed it.
    pub failed_step: String,
    /// Why it failed.
    pub error: String,
    /// When it failed.
    pub failed_at: DateTime<Utc>,
    /// When the next attempt was due (not before).
    pub retry_at: DateTime<Utc>,
}

/// One run of one flow of one instance, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// UUIDv7 (sorts by creation time).
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Instance id.
    pub instance: String,
    /// `name@version` of the integration.
    pub integration: String,
    /// Flow name.
    pub flow: String,
    /// Where it is.
    pub status: ExecutionStatus,
    /// The trigger payload as shown: credential and signature headers
    /// and secrets are `***` (the flow sees `sealed_trigger`).
    pub trigger: Value,
    /// The trigger payload in clear, sealed under the master key, when it
    /// differs from `trigger`. Never served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_trigger: Option<SealedSecret>,
    /// Step records, in the order steps started (filled by `get`, empty in
    /// listings).
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    /// The last top-level step's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The `respond` step's response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<FlowResponse>,
    /// The execution this one replays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// The caller's `Idempotency-Key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// URL to POST the result to when the run ends (`X-Weft-Callback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    /// What delivering the callback ended in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_outcome: Option<String>,
    /// Times a worker picked it up again after the host stopped mid-run.
    #[serde(default)]
    pub resumed: u32,
    /// Times it was retried from its failed step (`POST …/retry`).
    #[serde(default)]
    pub retries: u32,
    /// The failed runs a flow-level `retry` ran again, oldest first (the
    /// run going on now, or the last one, is not in it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<FlowAttempt>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When a worker first started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl ExecutionRecord {
    /// A new queued execution.
    pub fn queued(
        tenant: &str,
        instance: &str,
        integration: &str,
        flow: &str,
        trigger: Value,
    ) -> Self {
        Self {
            id: super::ExecutionId::new().into_string(),
            tenant: tenant.to_owned(),
            instance: instance.to_owned(),
            integration: integration.to_owned(),
            flow: flow.to_owned(),
            status: ExecutionStatus::Queued,
            trigger,
            sealed_trigger: None,
            steps: Vec::new(),
            output: None,
            error: None,
            response: None,
            replay_of: None,
            idempotency_key: None,
            callback: None,
            callback_outcome: None,
            resumed: 0,
            retries: 0,
            attempts: Vec::new(),
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
        }
    }
}
