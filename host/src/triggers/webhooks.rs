//! The public webhook endpoints, `/hooks/{instance_id}/{flow}` and the
//! preprocess endpoint `/hooks/{instance_id}`, for `POST`, `PUT`, `PATCH`,
//! `GET` and `DELETE`. They take no bearer token: a flow protects itself
//! with `auth: {hmac_sha256: …}`.
//!
//! Per request, in order: the instance must exist and be `active` and the
//! flow must be one of its webhook flows (else 404, nothing stored); the
//! body must fit `[server] hook_max_body` (413) and arrive within
//! `[server] request_timeout` (408); the signature must match
//! (401); a JSON body must parse (400). Then the execution is submitted,
//! which stores it durably before anything is answered, and the answer
//! follows the flow's mode (see [`super::respond`]). The API's request
//! timeout does not apply past the body: a sync flow waits its own
//! `timeout` and then answers 202 with the execution id, so a caller that
//! got an answer always has the id. `HEAD` answers 405 and runs nothing.
//!
//! Headers the caller may send: `Idempotency-Key` (a repeat returns the
//! first execution and starts nothing) and `X-Weft-Callback: URL` (the
//! result is POSTed there when the run ends, see [`super::callback`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest as _, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::MethodFilter;
use axum::routing::on;
use serde_json::json;

use super::error::HookError;
use super::request::trigger_value;
use super::signature;
use super::{respond, start};
use crate::instances::InstanceConfigs;
use crate::integration::{Flow, Trigger, WebhookTrigger};
use crate::storage::{InstanceRecord, InstanceStatus, IntegrationRecord, Storage};
use crate::submit::{NewExecution, Submit, Submitted};
use crate::template::Templates;

/// What the webhook handlers share. Cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct HookState {
    /// Instances, integrations, executions and result tokens.
    pub store: Arc<dyn Storage>,
    /// Instance configs (signing secrets are templates over them).
    pub instances: InstanceConfigs,
    /// Where executions start.
    pub submit: Arc<dyn Submit>,
    /// `[server] request_timeout`: how long a body may take to arrive.
    pub request_timeout: Duration,
    /// `[server] hook_max_body`, in bytes.
    pub max_body: usize,
}

impl std::fmt::Debug for HookState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookState")
            .field("request_timeout", &self.request_timeout)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// The webhook paths of the OpenAPI document (the server merges it).
#[derive(utoipa::OpenApi)]
#[openapi(paths(flow_hook, super::results::result, super::preprocess::hook))]
pub struct HookApi;

/// The webhook routes over `state`, with their own body limit
/// (`[server] hook_max_body`); the server merges them.
pub fn router(state: HookState) -> Router {
    let max_body = state.max_body;
    let methods = MethodFilter::POST
        .or(MethodFilter::PUT)
        .or(MethodFilter::PATCH)
        .or(MethodFilter::GET)
        .or(MethodFilter::DELETE);
    // axum answers HEAD with the GET handler unless HEAD has its own: a
    // HEAD must never start a flow.
    Router::new()
        .route(
            "/hooks/{instance}/{flow}",
            on(methods, flow_hook).on(MethodFilter::HEAD, head_refused),
        )
        .route(
            "/hooks/results/{token}",
            axum::routing::get(super::results::result),
        )
        .route(
            "/hooks/{instance}",
            on(methods, super::preprocess::hook).on(MethodFilter::HEAD, head_refused),
        )
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// The methods a webhook accepts, as the `Allow` header lists them.
pub const ALLOWED_METHODS: &str = "POST, PUT, PATCH, GET, DELETE";

/// `HEAD /hooks/…`: 405 with `Allow`, and nothing runs or is stored.
async fn head_refused() -> Response {
    let mut response = HookError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "webhooks do not answer HEAD (it would run the flow); use one of {ALLOWED_METHODS}"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
    response
}

/// Reads the request body within `[server] request_timeout` (408 past it;
/// no execution exists yet) and `[server] hook_max_body` (413). The
/// webhook routes are outside the API's request timeout, so that a sync
/// flow's wait is bounded by its own `timeout` alone; this keeps a caller
/// from holding a connection open by trickling its body.
pub(super) async fn read_body(state: &HookState, request: Request) -> Result<Bytes, HookError> {
    let limit = state.request_timeout;
    match tokio::time::timeout(limit, Bytes::from_request(request, state)).await {
        Ok(body) => body_or_413(body),
        Err(_) => Err(HookError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "webhook body not received within {} ([server] request_timeout)",
                crate::units::format_duration(limit)
            ),
        )),
    }
}

/// A webhook flow of an active instance.
pub(super) struct Hook {
    pub instance: InstanceRecord,
    pub integration: Arc<IntegrationRecord>,
    pub flow: Flow,
    pub trigger: WebhookTrigger,
}

/// The active instance `id`; 404 when it is unknown or not enabled.
pub(super) fn active_instance(
    state: &HookState,
    id: &str,
) -> Result<(InstanceRecord, Arc<IntegrationRecord>), HookError> {
    let not_found = || HookError::new(StatusCode::NOT_FOUND, format!("no enabled instance {id:?}"));
    let instance = state.store.get_instance(id)?.ok_or_else(not_found)?;
    if instance.status != InstanceStatus::Active {
        return Err(not_found());
    }
    let integration = state
        .store
        .shared_integration(&instance.integration, instance.version)?
        .ok_or_else(not_found)?;
    Ok((instance, integration))
}

/// The webhook flow `name` of an instance (not its preprocess flow).
pub(super) fn webhook_flow(
    instance: InstanceRecord,
    integration: Arc<IntegrationRecord>,
    name: &str,
) -> Result<Hook, String> {
    let flow = integration.model.flow(name).cloned();
    match flow {
        Some(flow) => match &flow.trigger {
            Trigger::Webhook(trigger) if !trigger.preprocess => Ok(Hook {
                trigger: trigger.clone(),
                flow,
                instance,
                integration,
            }),
            _ => Err(not_a_webhook(&integration, name)),
        },
        None => Err(not_a_webhook(&integration, name)),
    }
}

fn not_a_webhook(integration: &IntegrationRecord, name: &str) -> String {
    let names: Vec<&str> = integration
        .model
        .flows
        .iter()
        .filter(|f| matches!(&f.trigger, Trigger::Webhook(w) if !w.preprocess))
        .map(|f| f.name.as_str())
        .collect();
    format!(
        "integration {} has no webhook flow {name:?} (webhook flows: {})",
        integration.reference(),
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    )
}

/// The body, or 413 naming the limit.
fn body_or_413(body: Result<Bytes, BytesRejection>) -> Result<Bytes, HookError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            HookError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "webhook body exceeds the limit ([server] hook_max_body)",
            )
        } else {
            HookError::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {}", e.body_text()),
            )
        }
    })
}

/// Checks the flow's signature, if it asks for one; 401 otherwise.
pub(super) fn authenticate(
    state: &HookState,
    hook: &Hook,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), HookError> {
    let Some(auth) = &hook.trigger.auth else {
        return Ok(());
    };
    let auth = &auth.hmac_sha256;
    let config = state
        .instances
        .resolve_config(&hook.instance)
        .map_err(HookError::internal)?;
    let secret = Templates::new()
        .render_string(&auth.secret, &json!({ "config": config.to_context() }))
        .map_err(HookError::internal)?;
    let header = auth.header.to_ascii_lowercase();
    let given = headers.get(header.as_str()).map(|v| v.as_bytes());
    signature::verify(&header, given, secret.as_bytes(), body)
        .map_err(|e| HookError::new(StatusCode::UNAUTHORIZED, e.to_string()))
}

/// `Idempotency-Key` and `X-Weft-Callback`, checked (see [`super::start`]).
pub(super) fn caller_options(
    headers: &HeaderMap,
) -> Result<(Option<String>, Option<String>), HookError> {
    Ok((
        start::idempotency_key(headers)?,
        start::callback_url(headers)?,
    ))
}

/// Submits an execution of `hook` (durable when it returns).
pub(super) async fn submit(
    state: &HookState,
    hook: &Hook,
    trigger: serde_json::Value,
    key: Option<String>,
    callback: Option<String>,
) -> Result<Submitted, HookError> {
    state
        .submit
        .submit(NewExecution {
            instance: hook.instance.id.clone(),
            flow: hook.flow.name.clone(),
            trigger,
            idempotency_key: key,
            callback,
            replay_of: None,
            sync: hook.trigger.sync_timeout().is_some(),
        })
        .await
        .map_err(HookError::from)
}

/// Answers a submitted execution of `hook` by its mode.
pub(super) async fn answer(state: &HookState, hook: &Hook, submitted: Submitted) -> Response {
    match hook.trigger.sync_timeout() {
        Some(timeout) => respond::sync(state.store.as_ref(), submitted, timeout).await,
        None => start::submitted(&submitted),
    }
}

#[utoipa::path(method(post, put, patch, get, delete), path = "/hooks/{instance}/{flow}", tag = "webhooks",
    params(("instance" = String, Path), ("flow" = String, Path)),
    security(()),
    request_body(content = String, description = "any body: JSON when its content type is JSON, else text"),
    responses(
        (status = 200, description = "sync: the flow's response, or its last step's output"),
        (status = 202, description = "async: `{execution_id}`, with `Location`; sync past its timeout: also `result_url` and `X-Weft-Result-Url`, readable without a token"),
        (status = 400, description = "malformed JSON body or bad `Idempotency-Key`"),
        (status = 401, description = "missing or bad HMAC signature"),
        (status = 404, description = "unknown or disabled instance, or unknown flow"),
        (status = 413, description = "body over the webhook limit"),
        (status = 429, description = "the tenant has `max_queued_per_tenant` executions queued; nothing stored; see `Retry-After`"),
        (status = 500, description = "sync: the flow failed; `{execution_id, error: \"flow failed\"}` (or the flow's `on_failure` answer); the error itself is on the execution")))]
pub(crate) async fn flow_hook(
    State(state): State<HookState>,
    Path((instance, flow)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, HookError> {
    let (instance, integration) = active_instance(&state, &instance)?;
    let hook = webhook_flow(instance, integration, &flow)
        .map_err(|e| HookError::new(StatusCode::NOT_FOUND, e))?;
    let body = read_body(&state, request).await?;
    authenticate(&state, &hook, &headers, &body)?;
    let (key, callback) = caller_options(&headers)?;
    let trigger = trigger_value(&method, &headers, uri.query(), &body)
        .map_err(|e| HookError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let submitted = submit(&state, &hook, trigger, key, callback).await?;
    Ok(answer(&state, &hook, submitted).await)
}
