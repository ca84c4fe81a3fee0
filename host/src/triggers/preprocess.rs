//! The instance's shared endpoint `/hooks/{instance_id}`: the integration's
//! preprocess flow (`trigger: {type: webhook, preprocess: true}`) runs to
//! its end on the request, and its output `{"flow": NAME, "payload": …}`
//! picks the webhook flow that then runs with `trigger.body = payload`
//! (the original body when `payload` is absent) and
//! `trigger.preprocess_execution` set. The answer is the chosen flow's
//! (202 for async flows, its response for sync ones).
//!
//! The chosen flow's own `auth` is checked against the original request
//! (the same raw body and headers) before its execution is created, exactly
//! as on `/hooks/{instance_id}/{flow}`: the shared endpoint is no way around
//! a flow's signature. A request it refuses answers 401, the chosen flow
//! never runs, and the preprocess execution is marked failed with the
//! reason.
//!
//! A preprocess output that names no webhook flow of the integration marks
//! the preprocess execution failed with that message and answers 422
//! `{execution_id, error}`; a failed preprocess run answers 500.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::error::HookError;
use super::request::trigger_value;
use super::respond;
use super::webhooks::HookState;
use super::webhooks::{
    Hook, active_instance, answer, authenticate, caller_options, read_body, submit, webhook_flow,
};
use crate::integration::Trigger;
use crate::model::ExecutionStatus;
use crate::submit::NewExecution;

/// `/hooks/{instance_id}`.
#[utoipa::path(method(post, put, patch, get, delete), path = "/hooks/{instance}", tag = "webhooks",
    params(("instance" = String, Path)),
    security(()),
    request_body(content = String, description = "any body: JSON when its content type is JSON, else text"),
    responses(
        (status = 200, description = "the dispatched sync flow's response"),
        (status = 202, description = "the dispatched flow's `{execution_id}`"),
        (status = 401, description = "missing or bad HMAC signature (of the preprocess flow or of the flow it chose)"),
        (status = 404, description = "unknown or disabled instance, or no preprocess flow"),
        (status = 422, description = "the preprocess flow named no webhook flow")))]
pub(crate) async fn hook(
    State(state): State<HookState>,
    Path(instance): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, HookError> {
    let (instance, integration) = active_instance(&state, &instance)?;
    let Some(flow) = integration.model.preprocess_flow().cloned() else {
        return Err(HookError::new(
            StatusCode::NOT_FOUND,
            format!(
                "integration {} has no preprocess flow; post to /hooks/{}/FLOW",
                integration.reference(),
                instance.id
            ),
        ));
    };
    let Trigger::Webhook(trigger) = flow.trigger.clone() else {
        return Err(HookError::internal(
            "preprocess flow without a webhook trigger",
        ));
    };
    let pre = Hook {
        instance,
        integration,
        flow,
        trigger,
    };
    let body = read_body(&state, request).await?;
    authenticate(&state, &pre, &headers, &body)?;
    let (key, callback) = caller_options(&headers)?;
    let trigger = trigger_value(&method, &headers, uri.query(), &body)
        .map_err(|e| HookError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let record = state
        .submit
        .run_to_end(NewExecution {
            instance: pre.instance.id.clone(),
            flow: pre.flow.name.clone(),
            trigger: trigger.clone(),
            idempotency_key: key.clone(),
            ..NewExecution::default()
        })
        .await
        .map_err(HookError::from)?;
    match record.status {
        ExecutionStatus::Succeeded => {}
        ExecutionStatus::Failed => return Ok(respond::from_record(&record)),
        // Run by another host process before a restart: still going.
        ExecutionStatus::Queued | ExecutionStatus::Running => {
            return Ok(super::start::accepted(&record.id));
        }
    }
    let output = record.output.clone().unwrap_or(Value::Null);
    let target = match choose(&output) {
        Ok(name) => {
            webhook_flow(pre.instance.clone(), pre.integration.clone(), name).map_err(|e| {
                format!(
                    "preprocess flow {:?} chose a flow that does not exist: {e}",
                    pre.flow.name
                )
            })
        }
        Err(e) => Err(e),
    };
    let target = match target {
        Ok(target) => target,
        Err(message) => return Ok(reject(&state, &record.id, &message)),
    };
    if let Err(refused) = authenticate(&state, &target, &headers, &body) {
        // The preprocess record is left as it is: with a repeated
        // Idempotency-Key it is an earlier, legitimate request's.
        tracing::info!(
            instance = %target.instance.id,
            flow = %target.flow.name,
            preprocess_execution = %record.id,
            reason = %refused.message,
            "dispatched webhook refused by the target flow's auth"
        );
        return Err(refused);
    }
    let mut trigger = trigger;
    if let Some(payload) = output.get("payload") {
        trigger["body"] = payload.clone();
    }
    trigger["preprocess_execution"] = Value::String(record.id.clone());
    let submitted = submit(&state, &target, trigger, key, callback).await?;
    Ok(answer(&state, &target, submitted).await)
}

/// The flow name a preprocess output chooses.
fn choose(output: &Value) -> Result<&str, String> {
    output.get("flow").and_then(Value::as_str).ok_or_else(|| {
        let shown: String = output.to_string().chars().take(200).collect();
        format!(
            "preprocess output must be {{\"flow\": NAME, \"payload\": …}} with NAME a string; got {shown}"
        )
    })
}

/// Marks the preprocess execution failed with `message` and answers 422.
fn reject(state: &HookState, id: &str, message: &str) -> Response {
    mark_failed(state, id, message);
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "execution_id": id, "error": message })),
    )
        .into_response()
}

/// Marks the preprocess execution `id` failed with `message`.
fn mark_failed(state: &HookState, id: &str, message: &str) {
    let marked = state.store.update_execution(id, &mut |r| {
        r.status = ExecutionStatus::Failed;
        r.error = Some(message.to_owned());
        r.finished_at = Some(Utc::now());
    });
    if let Err(e) = marked {
        tracing::error!(execution_id = %id, error = %e, "cannot mark the preprocess execution failed");
    }
}
