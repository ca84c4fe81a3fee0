//! `/v1/executions` and the manual trigger `POST
//! /v1/instances/{id}/flows/{flow}/run`: listing executions (newest first,
//! cursor pagination), showing one with every step record, replaying one,
//! and starting a `manual` flow. Tenant tokens see only their tenant's
//! executions and instances; anything else answers 404 as if it did not
//! exist.
//!
//! Starting an execution (run or replay) answers `202 {"execution_id": …}`
//! with `Location: /v1/executions/{id}` only once the execution is durable.
//! Both need the instance to be `active`: a created, failed or disabled
//! instance answers 409 naming its status, so nothing runs against an
//! instance whose deploy flows did not succeed or whose teardown ran.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{AppError, ErrorBody};
use super::extract::{Visible, VisibleExecution, VisibleInstance};
use crate::flow::NewExecution;
use crate::integration::{Trigger, hint};
use crate::model::{ExecutionRecord, ExecutionStatus, StepRecord};
use crate::storage::{ExecutionFilter, InstanceRecord, InstanceStatus};
use crate::triggers::request::manual_trigger;
use crate::triggers::start::{self, Started};

/// Page size of `GET /v1/executions` when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page `GET /v1/executions` returns, so one request cannot make
/// the server read and encode the whole history.
pub const MAX_LIMIT: usize = 500;

/// An execution in a listing: no trigger payload, no steps.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionSummary {
    /// UUIDv7 id (sorts by creation time).
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Instance id.
    pub instance: String,
    /// `name@version` of the integration.
    pub integration: String,
    /// Flow name.
    pub flow: String,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub status: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The execution this one replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// Times a worker picked it up again after the host stopped mid-run.
    pub resumed: u32,
    /// Times it was retried from its failed step (`POST …/retry`).
    pub retries: u32,
    /// RFC 3339 time it was queued.
    pub created_at: String,
    /// RFC 3339 time a worker first started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// RFC 3339 time it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Milliseconds from start to end, once ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
}

impl From<&ExecutionRecord> for ExecutionSummary {
    fn from(r: &ExecutionRecord) -> Self {
        let duration_ms = match (r.started_at, r.finished_at) {
            (Some(start), Some(end)) => Some((end - start).num_milliseconds()),
            _ => None,
        };
        Self {
            id: r.id.clone(),
            tenant: r.tenant.clone(),
            instance: r.instance.clone(),
            integration: r.integration.clone(),
            flow: r.flow.clone(),
            status: r.status.as_str().to_owned(),
            error: r.error.clone(),
            replay_of: r.replay_of.clone(),
            resumed: r.resumed,
            retries: r.retries,
            created_at: r.created_at.to_rfc3339(),
            started_at: r.started_at.map(|t| t.to_rfc3339()),
            finished_at: r.finished_at.map(|t| t.to_rfc3339()),
            duration_ms,
        }
    }
}

/// An execution with its trigger payload, result and every step record
/// (input as rendered, output, logs, duration, fuel, peak memory, attempts,
/// error, start time). Secrets are `***` throughout.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionView {
    /// Everything a listing shows.
    #[serde(flatten)]
    pub summary: ExecutionSummary,
    /// The trigger payload (`trigger.*` in templates).
    #[schema(value_type = Object)]
    pub trigger: Value,
    /// The last top-level step's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub output: Option<Value>,
    /// The `respond` step's response (status, headers, body).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub response: Option<Value>,
    /// The caller's `Idempotency-Key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The `X-Weft-Callback` URL: scheme, host and path only (its user,
    /// password and query are never shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    /// What delivering the callback ended in (`delivered: HTTP 200
    /// (attempt 1 of 3)`, `failed after 3 attempts: …`, `refused: …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_outcome: Option<String>,
    /// Step records in the order steps started; nested steps have paths
    /// like `route.ship` or `each[2].ship`.
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<StepRecord>,
    /// The failed runs a flow-level `retry` ran again, oldest first
    /// (`failed_step`, `error`, `failed_at`, `retry_at`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub attempts: Vec<crate::model::FlowAttempt>,
}

impl From<ExecutionRecord> for ExecutionView {
    fn from(r: ExecutionRecord) -> Self {
        Self {
            summary: ExecutionSummary::from(&r),
            response: r
                .response
                .as_ref()
                .map(|resp| serde_json::to_value(resp).unwrap_or(Value::Null)),
            trigger: r.trigger,
            output: r.output,
            idempotency_key: r.idempotency_key,
            callback: r.callback.as_deref().map(crate::triggers::loggable_url),
            callback_outcome: r.callback_outcome,
            attempts: r.attempts,
            // Sealed copies are for resuming, never for showing.
            steps: r
                .steps
                .into_iter()
                .map(|s| StepRecord {
                    sealed_output: None,
                    ..s
                })
                .collect(),
        }
    }
}

/// A page of `GET /v1/executions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionPage {
    /// Newest first.
    pub executions: Vec<ExecutionSummary>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Filters of `GET /v1/executions`; every value is checked, and a bad one
/// answers 400 naming it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this instance's executions.
    pub instance: Option<String>,
    /// Only this flow's executions.
    pub flow: Option<String>,
    /// Only executions with this status (`queued`, `running`, `succeeded`,
    /// `failed`).
    pub status: Option<String>,
    /// Only this tenant's (operator; a tenant token always sees only its own).
    pub tenant: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The store filter for `caller`, or `None` when nothing can match (a
    /// tenant token asking for another tenant).
    pub(super) fn filter(self, caller: &Caller) -> Result<Option<ExecutionFilter>, AppError> {
        let status = self
            .status
            .map(|s| s.parse::<ExecutionStatus>())
            .transpose()
            .map_err(AppError::bad_request)?;
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(AppError::bad_request(format!(
                        "limit {text:?} is not a number from 1 to {MAX_LIMIT}"
                    )));
                }
            },
        };
        if let Some(cursor) = &self.cursor
            && uuid::Uuid::parse_str(cursor).is_err()
        {
            return Err(AppError::bad_request(format!(
                "cursor {cursor:?} is not valid; pass the next_cursor of the previous page"
            )));
        }
        let tenant = match (caller.tenant(), self.tenant) {
            (Some(own), Some(named)) if own != named => return Ok(None),
            (Some(own), _) => Some(own.to_owned()),
            (None, named) => named,
        };
        Ok(Some(ExecutionFilter {
            tenant,
            instance: self.instance,
            flow: self.flow,
            status,
            before: self.cursor,
            limit,
        }))
    }
}

/// 409 unless the instance is `active`.
fn require_active(instance: &InstanceRecord) -> Result<(), AppError> {
    if instance.status == InstanceStatus::Active {
        return Ok(());
    }
    Err(AppError::conflict(format!(
        "instance {:?} is {}, not active; enable it first (weft instance enable {})",
        instance.id,
        instance.status.as_str(),
        instance.id
    )))
}

#[utoipa::path(get, path = "/v1/executions", tag = "executions", params(ListQuery),
    responses(
        (status = 200, body = ExecutionPage),
        (status = 400, description = "an unknown status, a limit outside 1..=500, a bad cursor or an unknown filter", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ExecutionPage>, AppError> {
    let Query(query) = query.map_err(|e| AppError::bad_request(e.body_text()))?;
    let Some(mut filter) = query.filter(&caller)? else {
        return Ok(Json(ExecutionPage {
            executions: Vec::new(),
            next_cursor: None,
        }));
    };
    let limit = filter.limit;
    // One more than asked tells whether there is a next page.
    filter.limit = limit + 1;
    let mut records = state.store.list_executions(&filter)?;
    let next_cursor = if records.len() > limit {
        records.truncate(limit);
        records.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(Json(ExecutionPage {
        executions: records.iter().map(ExecutionSummary::from).collect(),
        next_cursor,
    }))
}

/// Shows an execution with its trigger payload and every step record.
#[utoipa::path(get, path = "/v1/executions/{id}", tag = "executions",
    params(("id" = String, Path)),
    responses((status = 200, body = ExecutionView), (status = 404, body = ErrorBody)))]
pub async fn show(Visible(record): VisibleExecution) -> Json<ExecutionView> {
    Json(record.into())
}

/// The instance of `original` must still exist and be active (replay and
/// retry both run it again).
fn require_active_instance_of(
    state: &AppState,
    original: &ExecutionRecord,
) -> Result<(), AppError> {
    let id = &original.id;
    let instance = state
        .store
        .get_instance(&original.instance)?
        .ok_or_else(|| {
            AppError::conflict(format!(
                "instance {:?} of execution {id:?} no longer exists",
                original.instance
            ))
        })?;
    require_active(&instance)
}

/// Starts a new execution with the same trigger payload, linked to the
/// original by `replay_of`.
#[utoipa::path(post, path = "/v1/executions/{id}/replay", tag = "executions",
    params(("id" = String, Path)),
    responses(
        (status = 202, body = Started, headers(("Location" = String, description = "/v1/executions/{new id}"))),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the instance is not active", body = ErrorBody),
        (status = 429, description = "the tenant has `max_queued_per_tenant` executions queued; nothing stored; see `Retry-After`", body = ErrorBody),
    ))]
pub async fn replay(
    State(state): State<AppState>,
    Visible(original): VisibleExecution,
) -> Result<Response, AppError> {
    require_active_instance_of(&state, &original)?;
    let submitted = state.engine.replay(&original.id).await?;
    let id = submitted.record.id;
    Ok(start::accepted_with(
        &id,
        &Started {
            execution_id: id.clone(),
            replay_of: Some(original.id),
        },
    ))
}

/// Retries a failed execution from its failed step, as the same
/// execution: back to `queued`, `retries` counted; steps that succeeded are
/// not run again and their recorded outputs feed the later steps.
#[utoipa::path(post, path = "/v1/executions/{id}/retry", tag = "executions",
    params(("id" = String, Path)),
    responses(
        (status = 202, body = Started, headers(("Location" = String, description = "/v1/executions/{id}"))),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the execution is not failed, or the instance is not active", body = ErrorBody),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    Visible(failed): VisibleExecution,
) -> Result<Response, AppError> {
    require_active_instance_of(&state, &failed)?;
    let retried = state.engine.retry(&failed.id).await?;
    Ok(start::accepted(&retried.id))
}

/// Starts a `manual` flow of an instance; the JSON body is the trigger
/// body (`trigger.body`; an empty body is `{}`).
#[utoipa::path(post, path = "/v1/instances/{id}/flows/{flow}/run", tag = "executions",
    params(
        ("id" = String, Path),
        ("flow" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "a repeated key returns the first execution for this instance and flow"),
    ),
    request_body(content = Object, description = "the trigger body"),
    responses(
        (status = 202, body = Started, headers(("Location" = String, description = "/v1/executions/{id}"))),
        (status = 400, description = "the body is not JSON, or a bad Idempotency-Key", body = ErrorBody),
        (status = 404, description = "no such instance or flow", body = ErrorBody),
        (status = 409, description = "the flow is not manual, or the instance is not active", body = ErrorBody),
        (status = 429, description = "the tenant has `max_queued_per_tenant` executions queued; nothing stored; see `Retry-After`", body = ErrorBody),
    ))]
pub async fn run_flow(
    State(state): State<AppState>,
    Visible(instance): VisibleInstance,
    Path((_id, flow)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let integration = state.instances.integration_of(&instance)?;
    let Some(found) = integration.model.flow(&flow) else {
        let names = integration.model.flows.iter().map(|f| f.name.as_str());
        return Err(AppError::not_found(format!(
            "integration {} has no flow {flow:?}{}",
            integration.reference(),
            hint(&flow, names)
        )));
    };
    if found.trigger != Trigger::Manual {
        return Err(AppError::conflict(format!(
            "flow {flow:?} has a {} trigger; only flows with trigger type manual can be run this way",
            found.trigger.type_name()
        )));
    }
    require_active(&instance)?;
    let idempotency_key = start::idempotency_key(&headers)?;
    let body = body?;
    let payload: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::bad_request(format!("the body is not valid JSON: {e}")))?
    };
    let submitted = state
        .submit
        .submit(NewExecution {
            instance: instance.id,
            flow,
            trigger: manual_trigger(payload),
            idempotency_key,
            ..NewExecution::default()
        })
        .await?;
    Ok(start::submitted(&submitted))
}
