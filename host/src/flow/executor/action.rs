//! Action steps: the input rendered twice (for the component, and for the
//! record from the redacted view), the component called in a fresh
//! sandboxed instance per attempt, retryable failures retried with
//! jittered backoff. What reaches the server log is redacted first.

use std::time::Duration;

use tracing::Instrument;

use super::context::{Out, RunCx, Scope};
use super::{Executor, idempotency_key};
use crate::integration::ActionStep;
use crate::model::{StepFailure, StepRecord};
use crate::sandbox::{LogLevel, LogLine, LogSource, StepContext, StepRequest, line_cost};
use crate::units::ByteSize;

impl Executor {
    pub(super) async fn run_action(
        &self,
        cx: &RunCx<'_>,
        action: &ActionStep,
        scope: &Scope,
        path: &str,
        record: &mut StepRecord,
    ) -> Result<Out, StepFailure> {
        let views = cx.views(scope);
        let (input, shown) = cx.render(&self.templates, &action.input, &views, "input")?;
        // Written straight into bytes (a `Value`'s `Display` goes through
        // the formatter one token at a time).
        let input_text = serde_json::to_string(&input)
            .map_err(|e| StepFailure::other("template", format!("input: {e}")))?;
        record.input = Some(shown.unwrap_or(input));
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
        let idempotency_key = idempotency_key(&cx.run.execution_id, path);
        let max_attempts = action.retry.as_ref().map_or(1, |r| r.attempts.max(1));
        let host_config: serde_json::Map<String, serde_json::Value> = cx
            .run
            .config
            .values
            .iter()
            .filter(|(k, v)| v.is_string() && !cx.run.config.is_secret(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        cx.observer.before_action().await;
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
                host_config: host_config.clone(),
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
            // Every attempt's lines are kept, oldest first, within one
            // attempt's log budget (the oldest go first past it).
            record.logs.extend(cx.redactor.logs(outcome.logs));
            if attempt > 1 {
                trim_logs(&mut record.logs, limits.logs.as_usize());
            }
            let last_http_status = outcome.last_http_status;
            match outcome.result {
                Ok(output) => return Ok(Out::plain(output)),
                Err(error) if error.is_retryable() && attempt < max_attempts => {
                    let policy = action.retry.as_ref().expect("retries imply a policy");
                    let delay = jitter(policy.delay_after(attempt));
                    let error = cx.redactor.text(&error.to_string());
                    tracing::info!(step = %path, attempt, %error, ?delay, "retrying step");
                    record.logs.push(LogLine {
                        level: LogLevel::Warn,
                        source: LogSource::Host,
                        message: format!(
                            "attempt {attempt} of {max_attempts} failed: {error}; retrying in {} ms",
                            delay.as_millis()
                        ),
                        at: Some(chrono::Utc::now()),
                    });
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(StepFailure::from_step_error(error, last_http_status)),
            }
        }
    }
}

/// Drops the oldest lines until what is left costs at most `budget` (as the
/// log book counts), saying so in a `host` line first.
fn trim_logs(logs: &mut Vec<LogLine>, budget: usize) {
    let mut total: usize = logs.iter().map(|l| line_cost(&l.message)).sum();
    let mut dropped = 0;
    while total > budget && dropped < logs.len() {
        total -= line_cost(&logs[dropped].message);
        dropped += 1;
    }
    if dropped > 0 {
        logs.drain(..dropped);
        logs.insert(
            0,
            LogLine {
                level: LogLevel::Warn,
                source: LogSource::Host,
                message: format!(
                    "{dropped} log lines of earlier attempts dropped: all attempts together keep at most {}",
                    ByteSize(budget as u64)
                ),
                at: logs.first().and_then(|l| l.at),
            },
        );
    }
}

/// Between half and all of `delay`, so retries of many executions spread out.
fn jitter(delay: Duration) -> Duration {
    use rand::Rng;
    delay.mul_f64(rand::rng().random_range(0.5..=1.0))
}
