//! The integration file as Rust types: what a flow engine, the trigger
//! machinery and the API read after [`parse`](super::parse) and
//! [`validate`](super::validate) accepted a file.
//!
//! Field names are the file's keys. Everything serializes back to the shape
//! it was parsed from (defaults written out, absent options left out), so
//! `parse(serde_json::to_string(&integration))` gives the same value back.
//! The (de)serialization that derives cannot express ([`Trigger`], [`Step`],
//! [`BranchCase`], [`HumanDuration`]) is written by hand in
//! [`codec`](super::codec) so that unknown or misplaced keys are errors with
//! an exact path.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::flow_options::Concurrency;

/// One integration version: config variables plus flows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    /// Slug naming the integration (`acme-orders`).
    pub name: String,
    /// Version number, 1 or more; one file is one version.
    pub version: u32,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Variables each instance sets (`config.<key>` in templates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigVar>,
    /// The flows, in file order.
    pub flows: Vec<Flow>,
}

impl Integration {
    /// The config variable named `key`, if declared.
    pub fn config_var(&self, key: &str) -> Option<&ConfigVar> {
        self.config.iter().find(|c| c.key == key)
    }

    /// The flow named `name`, if any.
    pub fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.name == name)
    }

    /// Every `name@version` the flows call, nested steps included.
    pub fn components(&self) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        for flow in &self.flows {
            for step in flow.all_steps() {
                if let StepKind::Action(a) = &step.kind {
                    out.insert(a.component.as_str());
                }
            }
        }
        out
    }

    /// The webhook flow with `preprocess: true`, if any (at most one after
    /// validation).
    pub fn preprocess_flow(&self) -> Option<&Flow> {
        self.flows
            .iter()
            .find(|f| matches!(&f.trigger, Trigger::Webhook(w) if w.preprocess))
    }
}

/// A config variable an instance gives a value to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigVar {
    /// Identifier used as `config.<key>`.
    pub key: String,
    /// What values are accepted.
    #[serde(rename = "type")]
    pub ty: ConfigType,
    /// Whether an instance must set it (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Value used when an instance sets none (never for secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The type of a config variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigType {
    /// Any string.
    String,
    /// A string stored encrypted and redacted everywhere.
    Secret,
    /// A cron expression (see [`parse_cron`](super::parse_cron)).
    Cron,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// Any JSON value.
    Json,
    /// An absolute `http://` or `https://` URL.
    Url,
}

impl ConfigType {
    /// The name used in files (`secret`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigType::String => "string",
            ConfigType::Secret => "secret",
            ConfigType::Cron => "cron",
            ConfigType::Number => "number",
            ConfigType::Boolean => "boolean",
            ConfigType::Json => "json",
            ConfigType::Url => "url",
        }
    }
}

impl fmt::Display for ConfigType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trigger plus an ordered list of steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// URL-safe name, unique in the integration (`/hooks/{instance}/{name}`).
    pub name: String,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What starts the flow.
    pub trigger: Trigger,
    /// The steps, run in order.
    pub steps: Vec<Step>,
    /// What a sync webhook's caller gets when the flow fails (default:
    /// `500 {execution_id, error: "flow failed"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// How executions of one instance may overlap (default `parallel`).
    #[serde(default, skip_serializing_if = "Concurrency::is_parallel")]
    pub concurrency: Concurrency,
    /// Runs a failed async execution again from its failed step, when the
    /// failure was retryable (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
}

/// A flow's `on_failure`: the answer a sync webhook gives when the flow
/// fails, templated over the flow's context plus `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnFailure {
    /// The response (its status defaults to 200 like a `respond` step's;
    /// write the one you mean).
    pub respond: RespondStep,
}

impl Flow {
    /// Every step of the flow, nested ones included, depth-first in file
    /// order.
    pub fn all_steps(&self) -> Vec<&Step> {
        fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
            for step in steps {
                out.push(step);
                match &step.kind {
                    StepKind::Branch(cases) => {
                        for case in cases {
                            walk(case.steps(), out);
                        }
                    }
                    StepKind::ForEach(f) => walk(&f.steps, out),
                    StepKind::Action(_) | StepKind::Respond(_) => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        out
    }
}

/// What starts a flow; tagged by `type` in the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// An HTTP request to the flow's webhook URL.
    Webhook(WebhookTrigger),
    /// A cron schedule.
    Schedule(ScheduleTrigger),
    /// An instance being enabled.
    Deploy,
    /// An instance being disabled.
    Teardown,
    /// Only the API or CLI (`weft exec`, replays) starts it.
    Manual,
    /// Another flow of the same instance failed (`trigger.body` is
    /// `{execution_id, flow, error, failed_step}`).
    Error,
    /// A message on a subject of an operator-configured broker (NATS
    /// JetStream).
    Queue(QueueTrigger),
}

impl Trigger {
    /// The `type` as written in files.
    pub fn type_name(&self) -> &'static str {
        match self {
            Trigger::Webhook(_) => "webhook",
            Trigger::Schedule(_) => "schedule",
            Trigger::Deploy => "deploy",
            Trigger::Teardown => "teardown",
            Trigger::Manual => "manual",
            Trigger::Error => "error",
            Trigger::Queue(_) => "queue",
        }
    }
}

/// A webhook trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookTrigger {
    /// Answer with the flow's result (`sync`) or at once with 202 (`async`,
    /// the default).
    pub mode: WebhookMode,
    /// Sync only: how long the caller waits before getting 202 and the
    /// execution id; see [`WebhookTrigger::sync_timeout`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// Request authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<WebhookAuth>,
    /// This flow owns the instance's shared endpoint `/hooks/{instance}` and
    /// returns `{ "flow": NAME, "payload": … }` to dispatch.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub preprocess: bool,
}

impl WebhookTrigger {
    /// Default wait of a sync webhook before it answers 202.
    pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

    /// For a sync webhook, how long to wait for the flow (its `timeout`,
    /// else 30 s); `None` for async.
    pub fn sync_timeout(&self) -> Option<Duration> {
        match self.mode {
            WebhookMode::Sync => Some(
                self.timeout
                    .as_ref()
                    .map_or(Self::DEFAULT_SYNC_TIMEOUT, |t| t.duration),
            ),
            WebhookMode::Async => None,
        }
    }
}

/// How a webhook answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookMode {
    /// Wait for the flow and answer with its response.
    Sync,
    /// Answer 202 with the execution id at once.
    #[default]
    Async,
}

/// Webhook request authentication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookAuth {
    /// HMAC-SHA256 of the raw body, hex, in a header.
    pub hmac_sha256: HmacSha256Auth,
}

/// HMAC-SHA256 signature check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacSha256Auth {
    /// The request header carrying the signature (`X-Acme-Signature`).
    pub header: String,
    /// Exactly `{{ config.<key> }}` naming a `secret` config variable.
    pub secret: String,
}

/// A cron schedule trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleTrigger {
    /// A cron expression, or exactly `{{ config.<key> }}` naming a `cron`
    /// config variable.
    pub cron: String,
    /// IANA time zone the expression is read in (default `UTC`).
    pub timezone: String,
    /// What to do about runs missed while the host was down.
    pub catch_up: CatchUp,
}

/// A message-queue trigger: each message on `subject` of `broker` runs
/// the flow once (see `brokers`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueTrigger {
    /// A broker named in the operator's `weft.toml` (`[brokers.NAME]`).
    pub broker: String,
    /// The subject, which may use `{{ config.KEY }}` placeholders
    /// (see [`SubjectTemplate`](super::subject::SubjectTemplate)).
    pub subject: String,
    /// Consumer group: every Weft node of one group shares each
    /// instance's messages (each goes to one of them); another group gets
    /// every message again. Default `weft`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl QueueTrigger {
    /// The group when none is given.
    pub const DEFAULT_GROUP: &'static str = "weft";

    /// The group, defaulted.
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or(Self::DEFAULT_GROUP)
    }
}

/// Missed schedule runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Drop them (default).
    #[default]
    Skip,
    /// Run once for all of them.
    Once,
}

/// One step of a flow: an id plus what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Identifier, unique in the flow (nested steps included); its output is
    /// `steps.<id>` in later templates.
    pub id: String,
    /// What the step does.
    pub kind: StepKind,
}

/// What a step does; decided by which keys the step has.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// `component` + `action`: call a component.
    Action(ActionStep),
    /// `branch`: run the steps of the first case whose `when` is true, else
    /// the `else` case's, if any.
    Branch(Vec<BranchCase>),
    /// `for_each` + `steps`: run `steps` once per item.
    ForEach(ForEachStep),
    /// `respond`: set a sync webhook's HTTP response.
    Respond(RespondStep),
}

impl StepKind {
    /// The name of the kind as used in messages (`action`, `branch`, …).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Action(_) => "action",
            StepKind::Branch(_) => "branch",
            StepKind::ForEach(_) => "for_each",
            StepKind::Respond(_) => "respond",
        }
    }
}

/// A call of one component action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionStep {
    /// `name@version` of an uploaded component.
    pub component: String,
    /// The action key the component exports.
    pub action: String,
    /// The input, templated (default `null`).
    pub input: Value,
    /// Retries of failed attempts (none by default).
    pub retry: Option<RetryPolicy>,
    /// What a final failure does to the flow (default `fail`).
    pub on_error: OnError,
    /// Per-attempt deadline; the operator's default when absent.
    pub timeout: Option<HumanDuration>,
}

impl ActionStep {
    /// `component` split into `(name, version)`, if it has one `@`.
    pub fn component_ref(&self) -> Option<(&str, &str)> {
        split_component_ref(&self.component)
    }
}

/// Splits `name@version`; `None` unless both sides are non-empty.
pub fn split_component_ref(s: &str) -> Option<(&str, &str)> {
    let (name, version) = s.split_once('@')?;
    (!name.is_empty() && !version.is_empty() && !version.contains('@')).then_some((name, version))
}

/// Retries of an action step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 to 20).
    pub attempts: u32,
    /// How the wait grows between attempts (default `exponential`).
    #[serde(default)]
    pub backoff: Backoff,
    /// Wait before the second attempt (default 200ms).
    #[serde(default = "RetryPolicy::default_initial")]
    pub initial: HumanDuration,
    /// Longest wait between attempts (default 30s).
    #[serde(default = "RetryPolicy::default_max")]
    pub max: HumanDuration,
}

impl RetryPolicy {
    /// Most attempts a step may ask for.
    pub const MAX_ATTEMPTS: u32 = 20;

    fn default_initial() -> HumanDuration {
        HumanDuration::from_millis_text(200, "200ms")
    }

    fn default_max() -> HumanDuration {
        HumanDuration::from_millis_text(30_000, "30s")
    }

    /// The wait before attempt `attempt + 1` after attempt `attempt`
    /// (1-based) failed: `initial` (constant) or `initial * 2^(attempt-1)`
    /// (exponential), never above `max`.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let initial = self.initial.duration;
        let delay = match self.backoff {
            Backoff::Constant => initial,
            Backoff::Exponential => {
                let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
                initial.saturating_mul(factor)
            }
        };
        delay.min(self.max.duration)
    }
}

/// Growth of retry waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// Always `initial`.
    Constant,
    /// `initial`, doubled per attempt, capped at `max` (default).
    #[default]
    Exponential,
}

/// What a step's final failure does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The flow fails (default).
    #[default]
    Fail,
    /// The step records its error as its output and the flow goes on.
    Continue,
}

/// One case of a `branch` step.
#[derive(Debug, Clone, PartialEq)]
pub enum BranchCase {
    /// `{ when: "{{ expr }}", steps: [...] }`.
    When {
        /// A single `{{ expr }}`, tested for Jinja truthiness.
        when: String,
        /// Steps run when it is true.
        steps: Vec<Step>,
    },
    /// `{ else: [...] }`, last.
    Else {
        /// Steps run when no `when` matched.
        steps: Vec<Step>,
    },
}

impl BranchCase {
    /// The case's steps.
    pub fn steps(&self) -> &[Step] {
        match self {
            BranchCase::When { steps, .. } | BranchCase::Else { steps } => steps,
        }
    }
}

/// A loop over a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ForEachStep {
    /// A single `{{ expr }}` giving the list (`item` and `index` inside).
    pub for_each: String,
    /// Steps run per item.
    pub steps: Vec<Step>,
    /// Items run at once (default 1, at most 64).
    pub concurrency: Option<u32>,
}

impl ForEachStep {
    /// Most items a `for_each` may run at once.
    pub const MAX_CONCURRENCY: u32 = 64;

    /// `concurrency`, or 1.
    pub fn concurrency(&self) -> u32 {
        self.concurrency.unwrap_or(1)
    }
}

/// A sync webhook's HTTP response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondStep {
    /// HTTP status (default 200).
    #[serde(default = "RespondStep::default_status")]
    pub status: u16,
    /// Response headers; values are templated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Response body, templated (default `null`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub body: Value,
}

impl RespondStep {
    fn default_status() -> u16 {
        200
    }
}

/// A duration written as text (`200ms`, `30s`, `5m`, `1h 30m`), kept as
/// written so it serializes back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HumanDuration {
    /// As written.
    pub text: String,
    /// As parsed by `humantime`.
    pub duration: Duration,
}

impl HumanDuration {
    /// Parses `200ms`, `30s`, `1h 30m`.
    pub fn parse(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text.trim())
            .map(|duration| HumanDuration {
                text: text.to_owned(),
                duration,
            })
            .map_err(|e| {
                let why = match e {
                    humantime::DurationError::UnknownUnit { unit, .. } => {
                        format!("unknown unit \"{unit}\"")
                    }
                    humantime::DurationError::NumberOverflow => "too large".to_owned(),
                    humantime::DurationError::Empty => "empty".to_owned(),
                    _ => "not a duration".to_owned(),
                };
                format!(
                    "invalid duration \"{text}\": {why}; write e.g. \"200ms\", \"30s\", \"5m\" \
                     or \"1h 30m\""
                )
            })
    }

    fn from_millis_text(ms: u64, text: &str) -> Self {
        HumanDuration {
            text: text.to_owned(),
            duration: Duration::from_millis(ms),
        }
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
