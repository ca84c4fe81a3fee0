//! Running one flow of one instance: rendering each step's input, calling
//! the component in its own sandboxed instance with retries, following
//! `branch`, `for_each` and `respond`, and reporting every finished step to
//! an observer that persists it. Given the records of steps that already
//! finished, a run resumes after them instead of repeating them.
//!
//! Records never hold a secret: inputs are recorded as rendered from a
//! view whose secrets are already `***` ([`context`]), outputs, logs and
//! errors are redacted, and an output that held a secret is kept sealed
//! next to its record ([`Sealer`]) so a resumed run reads what the
//! interrupted one would have.

mod action;
mod context;
mod control;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use self::context::{Out, RunCx, Scope, Seen};
use super::record::FlowResult;
use super::sealed::Sealer;
use crate::integration::{Flow, OnError, ResolvedConfig, Step, StepKind};
use crate::model::{ExecutionStatus, FlowResponse, StepFailure, StepRecord, StepStatus};
use crate::sandbox::{ComponentSource, HostPattern, Sandbox, StateStore};
use crate::submit::LiveAnswer;
use crate::template::Templates;

/// Receives progress as it happens, to persist it.
pub trait ExecutionObserver: Send + Sync {
    /// A step (at any depth) finished; its record is final. The executor
    /// awaits it before the next step starts.
    fn step_finished<'a>(&'a self, record: &'a StepRecord) -> BoxFuture<'a, ()>;
    /// A component is about to be called: it may act outside the host, so
    /// every step recorded before must be durable first (host-only steps,
    /// such as `respond`, do not wait for earlier records). The default
    /// has nothing to wait for.
    fn before_action(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
    /// A `respond` step produced the flow's HTTP response: `live` is what
    /// the caller gets, `stored` the redacted copy to keep. Told before
    /// the next step starts; a response no step follows is not told here
    /// but comes with the run's result (the end stores and answers it in
    /// one write).
    fn responded(&self, live: &FlowResponse, stored: &FlowResponse);
}

/// The instance a flow runs for, as templates see it (`instance.*`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InstanceInfo {
    /// Instance id.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Webhook URL per webhook flow.
    pub webhooks: BTreeMap<String, String>,
    /// Hosts this instance may reach on top of the operator allowlist
    /// (validated at instance creation); not visible to templates.
    #[serde(default, skip_serializing)]
    pub outbound_allow: Vec<HostPattern>,
}

/// One flow run to execute.
#[derive(Debug)]
pub struct FlowRun {
    /// Execution id.
    pub execution_id: String,
    /// The flow, from the instance's integration version.
    pub flow: Flow,
    /// The instance.
    pub instance: InstanceInfo,
    /// The trigger payload (`trigger.*`), in clear.
    pub trigger: Value,
    /// The instance's configuration, secrets included (for rendering).
    pub config: ResolvedConfig,
    /// Records of steps that already finished (resume), by path.
    pub completed: HashMap<String, StepRecord>,
}

/// Bounds on the work of one execution's loops (`[engine]` in `weft.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowLimits {
    /// Most items one `for_each` may iterate over. Default 10,000.
    pub for_each_max_items: usize,
    /// Most `for_each` items one execution may start, over all its loops
    /// (nested ones included). Default 100,000.
    pub for_each_max_total: usize,
}

impl Default for FlowLimits {
    /// The `[engine]` defaults.
    fn default() -> Self {
        let config = crate::config::EngineConfig::default();
        Self {
            for_each_max_items: config.for_each_max_items,
            for_each_max_total: config.for_each_max_total,
        }
    }
}

/// Runs flows.
pub struct Executor {
    sandbox: Arc<Sandbox>,
    templates: Templates,
    components: Arc<dyn ComponentSource>,
    state: Arc<dyn StateStore>,
    sealer: Option<Sealer>,
    limits: FlowLimits,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A flow stopped by a failed step.
struct Stop(String);

fn child_path(prefix: &str, id: &str) -> String {
    if prefix.is_empty() {
        id.to_owned()
    } else {
        format!("{prefix}.{id}")
    }
}

/// What a failure of `step` does to the flow (only action steps may
/// continue).
fn on_error(step: &Step) -> OnError {
    match &step.kind {
        StepKind::Action(action) => action.on_error,
        _ => OnError::Fail,
    }
}

/// The output later steps see for a step that failed with `on_error: continue`.
fn error_output(failure: &StepFailure) -> Value {
    json!({ "error": failure.to_flow_value() })
}

impl Executor {
    /// An executor running steps in `sandbox`, components from `components`,
    /// the `state` import backed by `state`, with default [`FlowLimits`]
    /// and no sealing (a resumed run then reads redacted outputs).
    pub fn new(
        sandbox: Arc<Sandbox>,
        components: Arc<dyn ComponentSource>,
        state: Arc<dyn StateStore>,
    ) -> Self {
        Self {
            sandbox,
            templates: Templates::new(),
            components,
            state,
            sealer: None,
            limits: FlowLimits::default(),
        }
    }

    /// The same executor, sealing outputs that hold secrets with `sealer`
    /// (and opening them on resume).
    pub fn with_sealer(mut self, sealer: Sealer) -> Self {
        self.sealer = Some(sealer);
        self
    }

    /// The same executor with these loop bounds.
    pub fn with_limits(mut self, limits: FlowLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Runs (or resumes) a flow to its end.
    pub async fn run(&self, run: &FlowRun, observer: &dyn ExecutionObserver) -> FlowResult {
        let span = tracing::info_span!(
            "weft.execution",
            execution_id = %run.execution_id,
            tenant = %run.instance.tenant,
            instance = %run.instance.id,
            flow = %run.flow.name,
        );
        let cx = RunCx::new(run, observer, self.sealer.as_ref());
        let mut scope = Scope::default();
        let outcome = self
            .run_steps(&cx, &run.flow.steps, &mut scope, "")
            .instrument(span)
            .await;
        if let (Err(Stop(message)), Some(on_failure)) = (&outcome, &run.flow.on_failure) {
            self.failure_response(&cx, &on_failure.respond, scope, message);
        }
        let responses = cx.response.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (live_response, response) = match responses {
            Some((live, stored)) => (Some(live), Some(stored)),
            None => (None, None),
        };
        match outcome {
            Ok(output) => FlowResult {
                status: ExecutionStatus::Succeeded,
                output: match output.shown {
                    Some(shown) => shown,
                    None => output.real.clone(),
                },
                error: None,
                response,
                failed_step: None,
                retryable: false,
                live: Some(Arc::new(LiveAnswer {
                    output: output.real,
                    response: live_response,
                })),
            },
            Err(Stop(message)) => {
                let failed = cx.failed.lock().unwrap_or_else(|e| e.into_inner()).clone();
                FlowResult {
                    response,
                    // An answer no step followed (the `on_failure` one) goes
                    // to the caller in clear too.
                    live: live_response.map(|response| {
                        Arc::new(LiveAnswer {
                            output: Value::Null,
                            response: Some(response),
                        })
                    }),
                    retryable: failed.as_ref().is_some_and(|(_, f)| f.retryable),
                    failed_step: failed.map(|(path, _)| path),
                    ..FlowResult::failed(cx.redactor.text(&message))
                }
            }
        }
    }

    /// Renders a flow's `on_failure` answer, unless a `respond` step
    /// already answered; one that does not render leaves the generic answer.
    fn failure_response(
        &self,
        cx: &RunCx<'_>,
        respond: &crate::integration::RespondStep,
        mut scope: Scope,
        message: &str,
    ) {
        if cx
            .response
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return;
        }
        let failed = cx.failed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let error = match failed {
            Some((path, failure)) => {
                let mut error = failure.to_flow_value();
                error["step"] = Value::String(path);
                error
            }
            None => json!({ "message": cx.redactor.text(message) }),
        };
        scope.error = Some(Seen::new(&error, None));
        if let Err(failure) = self.respond(cx, respond, &scope) {
            tracing::warn!(
                execution_id = %cx.run.execution_id,
                error = %failure.message,
                "on_failure answer did not render; answering the generic failure"
            );
        }
    }

    fn run_steps<'a>(
        &'a self,
        cx: &'a RunCx<'a>,
        steps: &'a [Step],
        scope: &'a mut Scope,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Out, Stop>> {
        Box::pin(async move {
            let mut last = Out::plain(Value::Null);
            for (n, step) in steps.iter().enumerate() {
                let path = child_path(prefix, &step.id);
                let output = match cx.run.completed.get(&path) {
                    Some(done) => resumed_output(cx, step, &path, done)?,
                    None => self.run_step(cx, step, scope, &path).await?,
                };
                // Only the last output is needed besides its views.
                let seen = if n + 1 == steps.len() {
                    let seen = Seen::new(&output.real, output.shown.as_ref());
                    last = output;
                    seen
                } else {
                    Seen::from_out(output)
                };
                scope.steps.insert(step.id.clone(), seen);
            }
            Ok(last)
        })
    }

    async fn run_step(
        &self,
        cx: &RunCx<'_>,
        step: &Step,
        scope: &Scope,
        path: &str,
    ) -> Result<Out, Stop> {
        cx.announce_response();
        let started = Instant::now();
        let mut record = StepRecord {
            path: path.to_owned(),
            step: step.id.clone(),
            kind: step.kind.name().to_owned(),
            component: None,
            action: None,
            status: StepStatus::Succeeded,
            input: None,
            output: None,
            error: None,
            logs: Vec::new(),
            attempts: 0,
            duration: Duration::ZERO,
            fuel_used: 0,
            peak_memory: 0,
            started_at: Utc::now(),
            sealed_output: None,
        };
        let result = match &step.kind {
            StepKind::Action(action) => {
                record.component = Some(action.component.clone());
                record.action = Some(action.action.clone());
                self.run_action(cx, action, scope, path, &mut record).await
            }
            StepKind::Branch(cases) => self.run_branch(cx, cases, scope, path).await,
            StepKind::ForEach(each) => self.run_for_each(cx, each, scope, path).await,
            StepKind::Respond(respond) => self.respond(cx, respond, scope),
        };
        record.duration = started.elapsed();
        match result {
            Ok(out) => {
                // Without secrets or blanked headers the record shows the
                // output itself.
                let shown = cx.distinct.then(|| match out.shown {
                    Some(shown) => shown,
                    None => cx.redactor.value(&out.real),
                });
                let shown = shown.filter(|shown| *shown != out.real);
                if let (Some(_), Some(sealer)) = (&shown, cx.sealer) {
                    record.sealed_output =
                        Some(sealer.seal_output(&cx.run.execution_id, path, &out.real));
                }
                // The record takes the output for the observer and gives
                // it back, rather than keeping a copy.
                let (real, shown) = match shown {
                    None => {
                        record.output = Some(out.real);
                        let real = cx.record(record).await.output;
                        (real.expect("the output was just recorded"), None)
                    }
                    Some(shown) => {
                        record.output = Some(shown);
                        (out.real, cx.record(record).await.output)
                    }
                };
                Ok(Out { real, shown })
            }
            Err(failure) => {
                let failure = cx.redactor.failure(failure);
                let message = format!("step '{path}' failed: {}", failure.message);
                record.status = StepStatus::Failed;
                record.error = Some(failure.clone());
                cx.record(record).await;
                if on_error(step) == OnError::Fail {
                    let mut failed = cx.failed.lock().unwrap_or_else(|e| e.into_inner());
                    if failed.is_none() {
                        *failed = Some((path.to_owned(), failure.clone()));
                    }
                }
                match on_error(step) {
                    OnError::Continue => Ok(Out::plain(error_output(&failure))),
                    OnError::Fail => Err(Stop(message)),
                }
            }
        }
    }
}

impl RunCx<'_> {
    /// Hands `record` to the observer, and back.
    async fn record(&self, record: StepRecord) -> StepRecord {
        self.observer.step_finished(&record).await;
        record
    }
}

/// What a step that finished before a restart gives later steps: its
/// output in clear (opened from its sealed copy when it held a secret)
/// and as recorded.
fn resumed_output(cx: &RunCx<'_>, step: &Step, path: &str, done: &StepRecord) -> Result<Out, Stop> {
    match (&done.output, &done.error) {
        (Some(output), _) => match (&done.sealed_output, cx.sealer) {
            (None, _) => Ok(Out::plain(output.clone())),
            (Some(sealed), Some(sealer)) => {
                let real = sealer
                    .open_output(&cx.run.execution_id, path, sealed)
                    .map_err(|e| Stop(format!("step '{path}' cannot resume: {e}")))?;
                Ok(Out {
                    real,
                    shown: Some(output.clone()),
                })
            }
            (Some(_), None) => Err(Stop(format!(
                "step '{path}' cannot resume: its output is sealed and no key was given"
            ))),
        },
        // A step that failed the flow before the host died fails it again
        // on resume, instead of continuing.
        (None, Some(failure)) if on_error(step) == OnError::Fail => {
            let mut failed = cx.failed.lock().unwrap_or_else(|e| e.into_inner());
            if failed.is_none() {
                *failed = Some((path.to_owned(), failure.clone()));
            }
            Err(Stop(format!("step '{path}' failed: {}", failure.message)))
        }
        (None, Some(failure)) => Ok(Out::plain(error_output(failure))),
        (None, None) => Ok(Out::plain(Value::Null)),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Stable per step of an execution, whatever the attempt.
pub fn idempotency_key(execution_id: &str, path: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::new()
        .chain_update(execution_id.as_bytes())
        .chain_update(b"/")
        .chain_update(path.as_bytes())
        .finalize();
    let mut key = String::with_capacity(32);
    for byte in &digest[..16] {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    key
}

#[cfg(test)]
mod tests;
