//! Running one flow of one instance: rendering each step's input, calling
//! the component in its own sandboxed instance with retries, following
//! `branch`, `for_each` and `respond`, and reporting every finished step to
//! an observer that persists it. Given the records of steps that already
//! finished, a run resumes after them instead of repeating them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::record::{
    ExecutionStatus, FlowResponse, FlowResult, StepFailure, StepRecord, StepStatus,
};
use super::redact::Redactor;
use crate::integration::{
    ActionStep, BranchCase, Flow, ForEachStep, OnError, ResolvedConfig, RespondStep, Step, StepKind,
};
use crate::sandbox::{HostPattern, LoadedComponent, Sandbox, StateStore, StepContext, StepRequest};
use crate::template::Templates;

/// Where the executor finds components by `name@version`.
pub trait ComponentSource: Send + Sync {
    /// The component, if known.
    fn resolve(&self, reference: &str) -> Option<LoadedComponent>;
}

/// Receives progress as it happens, to persist it.
pub trait ExecutionObserver: Send + Sync {
    /// A step (at any depth) finished; its record is final.
    /// The executor awaits it before the next step starts, so a record
    /// persisted here is durable before anything later happens.
    fn step_finished<'a>(&'a self, record: &'a StepRecord) -> BoxFuture<'a, ()>;
    /// A `respond` step produced the flow's HTTP response.
    fn responded(&self, response: &FlowResponse);
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
    /// The trigger payload (`trigger.*`).
    pub trigger: Value,
    /// The instance's configuration, secrets included (for rendering).
    pub config: ResolvedConfig,
    /// Records of steps that already finished (resume), by path.
    pub completed: HashMap<String, StepRecord>,
}

/// Runs flows.
pub struct Executor {
    sandbox: Arc<Sandbox>,
    templates: Templates,
    components: Arc<dyn ComponentSource>,
    state: Arc<dyn StateStore>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").finish_non_exhaustive()
    }
}

/// A flow stopped by a failed step.
struct Stop(String);

/// Per-run data shared by every step.
struct RunCx<'a> {
    run: &'a FlowRun,
    observer: &'a dyn ExecutionObserver,
    redactor: Redactor,
    base: Map<String, Value>,
    response: std::sync::Mutex<Option<FlowResponse>>,
}

/// What steps of one scope see: outputs of earlier steps, and the loop item.
#[derive(Clone, Default)]
struct Scope {
    steps: Map<String, Value>,
    item: Option<(Value, usize)>,
}

impl RunCx<'_> {
    fn context(&self, scope: &Scope) -> Value {
        let mut ctx = self.base.clone();
        ctx.insert("steps".into(), Value::Object(scope.steps.clone()));
        if let Some((item, index)) = &scope.item {
            ctx.insert("item".into(), item.clone());
            ctx.insert("index".into(), json!(index));
        }
        Value::Object(ctx)
    }

    async fn record(&self, record: StepRecord) {
        self.observer.step_finished(&record).await;
    }
}

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
    json!({ "error": { "code": failure.code, "message": failure.message } })
}

impl Executor {
    /// An executor running steps in `sandbox`, components from `components`,
    /// the `state` import backed by `state`.
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
        }
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
        let mut base = Map::new();
        base.insert("trigger".into(), run.trigger.clone());
        base.insert("config".into(), run.config.to_context());
        base.insert("instance".into(), json!(run.instance));
        base.insert(
            "execution".into(),
            json!({ "id": run.execution_id, "flow": run.flow.name }),
        );
        let cx = RunCx {
            run,
            observer,
            redactor: Redactor::new(run.config.secret_values()),
            base,
            response: std::sync::Mutex::new(None),
        };
        let mut scope = Scope::default();
        let outcome = self
            .run_steps(&cx, &run.flow.steps, &mut scope, "")
            .instrument(span)
            .await;
        let response = cx.response.lock().unwrap_or_else(|e| e.into_inner()).take();
        match outcome {
            Ok(output) => FlowResult {
                status: ExecutionStatus::Succeeded,
                output: cx.redactor.value(&output),
                error: None,
                response,
            },
            Err(Stop(message)) => FlowResult {
                status: ExecutionStatus::Failed,
                output: Value::Null,
                error: Some(cx.redactor.text(&message)),
                response,
            },
        }
    }

    fn run_steps<'a>(
        &'a self,
        cx: &'a RunCx<'a>,
        steps: &'a [Step],
        scope: &'a mut Scope,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Value, Stop>> {
        Box::pin(async move {
            let mut last = Value::Null;
            for step in steps {
                let path = child_path(prefix, &step.id);
                let output = match cx.run.completed.get(&path) {
                    Some(done) => match (&done.output, &done.error) {
                        (Some(output), _) => output.clone(),
                        // A step that failed the flow before the host died
                        // fails it again on resume, instead of continuing.
                        (None, Some(failure)) if on_error(step) == OnError::Fail => {
                            return Err(Stop(format!("step '{path}' failed: {}", failure.message)));
                        }
                        (None, Some(failure)) => error_output(failure),
                        (None, None) => Value::Null,
                    },
                    None => self.run_step(cx, step, scope, &path).await?,
                };
                scope.steps.insert(step.id.clone(), output.clone());
                last = output;
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
    ) -> Result<Value, Stop> {
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
            Ok(output) => {
                record.output = Some(cx.redactor.value(&output));
                cx.record(record).await;
                Ok(output)
            }
            Err(failure) => {
                let failure = cx.redactor.failure(failure);
                let message = format!("step '{path}' failed: {}", failure.message);
                record.status = StepStatus::Failed;
                record.error = Some(failure.clone());
                cx.record(record).await;
                match on_error(step) {
                    OnError::Continue => Ok(error_output(&failure)),
                    OnError::Fail => Err(Stop(message)),
                }
            }
        }
    }

    async fn run_action(
        &self,
        cx: &RunCx<'_>,
        action: &ActionStep,
        scope: &Scope,
        path: &str,
        record: &mut StepRecord,
    ) -> Result<Value, StepFailure> {
        let ctx = cx.context(scope);
        let input = render_fields(&self.templates, &action.input, &ctx, "input")?;
        record.input = Some(cx.redactor.value(&input));
        let component = self.components.resolve(&action.component).ok_or_else(|| {
            StepFailure::other(
                "component_missing",
                format!("component {} is not registered", action.component),
            )
        })?;
        let mut limits = self.sandbox.limits().clone();
        if let Some(timeout) = &action.timeout {
            limits.timeout = timeout.duration;
        }
        let input_text = input.to_string();
        let idempotency_key = idempotency_key(&cx.run.execution_id, path);
        let max_attempts = action.retry.as_ref().map_or(1, |r| r.attempts.max(1));
        let mut attempt = 1;
        loop {
            let request = StepRequest {
                action: action.action.clone(),
                input: input_text.clone(),
                context: StepContext {
                    execution_id: cx.run.execution_id.clone(),
                    tenant: cx.run.instance.tenant.clone(),
                    instance: cx.run.instance.id.clone(),
                    flow: cx.run.flow.name.clone(),
                    step: path.to_owned(),
                    attempt,
                    idempotency_key: idempotency_key.clone(),
                },
                limits: limits.clone(),
                state: self.state.clone(),
                outbound_allow: cx.run.instance.outbound_allow.clone(),
            };
            let span = tracing::info_span!("weft.step", step = %path, attempt);
            let outcome = self
                .sandbox
                .run_step(&component, request)
                .instrument(span)
                .await;
            record.attempts = attempt;
            record.fuel_used += outcome.fuel_used;
            record.peak_memory = record.peak_memory.max(outcome.peak_memory);
            record.logs = cx.redactor.logs(outcome.logs);
            match outcome.result {
                Ok(output) => return Ok(output),
                Err(error) if error.is_retryable() && attempt < max_attempts => {
                    let policy = action.retry.as_ref().expect("retries imply a policy");
                    let delay = jitter(policy.delay_after(attempt));
                    tracing::info!(step = %path, attempt, error = %error, ?delay, "retrying step");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(StepFailure::from_step_error(error)),
            }
        }
    }

    async fn run_branch(
        &self,
        cx: &RunCx<'_>,
        cases: &[BranchCase],
        scope: &Scope,
        path: &str,
    ) -> Result<Value, StepFailure> {
        let ctx = cx.context(scope);
        for (index, case) in cases.iter().enumerate() {
            let chosen = match case {
                BranchCase::When { when, .. } => {
                    self.templates.eval_truthy(when, &ctx).map_err(|e| {
                        StepFailure::other("template", format!("branch[{index}].when: {e}"))
                    })?
                }
                BranchCase::Else { .. } => true,
            };
            if chosen {
                let mut inner = scope.clone();
                return self
                    .run_steps(cx, case.steps(), &mut inner, path)
                    .await
                    .map_err(|Stop(message)| StepFailure::other("nested", message));
            }
        }
        Ok(Value::Null)
    }

    async fn run_for_each(
        &self,
        cx: &RunCx<'_>,
        each: &ForEachStep,
        scope: &Scope,
        path: &str,
    ) -> Result<Value, StepFailure> {
        let ctx = cx.context(scope);
        let items = self
            .templates
            .eval_expression(&each.for_each, &ctx)
            .map_err(|e| StepFailure::other("template", format!("for_each: {e}")))?;
        let items = match items {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => {
                return Err(StepFailure::other(
                    "template",
                    format!("for_each: expected a list, got {}", type_name(&other)),
                ));
            }
        };
        let concurrency = each.concurrency().max(1) as usize;
        let results: Vec<Result<Value, Stop>> = stream::iter(items.into_iter().enumerate())
            .map(|(index, item)| {
                let mut inner = Scope {
                    steps: scope.steps.clone(),
                    item: Some((item, index)),
                };
                let prefix = format!("{path}[{index}]");
                async move { self.run_steps(cx, &each.steps, &mut inner, &prefix).await }
            })
            .buffered(concurrency)
            .collect()
            .await;
        let mut outputs = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(output) => outputs.push(output),
                Err(Stop(message)) => return Err(StepFailure::other("nested", message)),
            }
        }
        Ok(Value::Array(outputs))
    }

    fn respond(
        &self,
        cx: &RunCx<'_>,
        respond: &RespondStep,
        scope: &Scope,
    ) -> Result<Value, StepFailure> {
        let ctx = cx.context(scope);
        let body = render_fields(&self.templates, &respond.body, &ctx, "respond.body")?;
        let mut headers = BTreeMap::new();
        for (name, value) in &respond.headers {
            let rendered = self.templates.render_string(value, &ctx).map_err(|e| {
                StepFailure::other("template", format!("respond.headers.{name}: {e}"))
            })?;
            headers.insert(name.clone(), rendered);
        }
        let response = FlowResponse {
            status: respond.status,
            headers,
            body: body.clone(),
        };
        let mut slot = cx.response.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            cx.observer.responded(&response);
            *slot = Some(response);
        }
        Ok(body)
    }
}

/// Renders every string leaf of `value`, naming the field in errors
/// (`input.sku: …`).
fn render_fields(
    templates: &Templates,
    value: &Value,
    ctx: &Value,
    path: &str,
) -> Result<Value, StepFailure> {
    match value {
        Value::String(_) => templates
            .render_value(value, ctx)
            .map_err(|e| StepFailure::other("template", format!("{path}: {e}"))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| render_fields(templates, v, ctx, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    render_fields(templates, v, ctx, &format!("{path}.{k}"))?,
                ))
            })
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
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
    let digest = Sha256::digest(format!("{execution_id}/{path}").as_bytes());
    hex::encode(&digest[..16])
}

/// Between half and all of `delay`, so retries of many executions spread out.
fn jitter(delay: Duration) -> Duration {
    use rand::Rng;
    delay.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests;
