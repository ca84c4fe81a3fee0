//! Result URLs for webhook callers whose sync flow outlived its `timeout`:
//! the 202 then carries `result_url` (and `X-Weft-Result-Url`), a path
//! `/hooks/results/{token}` that anyone holding it can read without a
//! bearer token. The token is 256 random bits, stored only as its SHA-256,
//! scoped to that one execution and valid for [`RESULT_TTL_HOURS`] hours
//! (expired ones are removed on lookup and when executions are pruned).
//!
//! `GET /hooks/results/{token}` answers what the webhook would have
//! answered, from the stored (redacted) record: the flow's response or last
//! output once it succeeded, its `on_failure` answer or the generic 500
//! once it failed, 202 while it runs; 404 for an unknown or expired token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::error::HookError;
use super::respond;
use super::start::with_execution_id;
use super::webhooks::HookState;
use crate::storage::Storage;

/// How long a result URL stays readable.
pub const RESULT_TTL_HOURS: i64 = 24;

/// The header naming the result URL on a timed-out sync webhook's 202.
pub const RESULT_URL_HEADER: &str = "x-weft-result-url";

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Mints a result URL for `execution` (its path, `/hooks/results/…`);
/// `None` if it could not be stored.
pub fn mint(store: &dyn Storage, execution: &str) -> Option<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let expires = chrono::Utc::now() + chrono::Duration::hours(RESULT_TTL_HOURS);
    match store.put_result_token(&hash(&token), execution, expires) {
        Ok(()) => Some(format!("/hooks/results/{token}")),
        Err(e) => {
            tracing::error!(execution_id = %execution, error = %e, "cannot store a result token");
            None
        }
    }
}

/// The 202 of a sync webhook past its `timeout`: `{execution_id,
/// result_url}` with `Location` (the API's view, for operators) and
/// `X-Weft-Result-Url` (for the caller, no token needed).
pub fn timed_out(store: &dyn Storage, execution: &str) -> Response {
    let Some(url) = mint(store, execution) else {
        return super::start::accepted(execution);
    };
    let mut response = super::start::accepted_with(
        execution,
        &json!({ "execution_id": execution, "result_url": url }),
    );
    if let Ok(value) = HeaderValue::from_str(&url) {
        response.headers_mut().insert(RESULT_URL_HEADER, value);
    }
    response
}

/// Reads the result of the execution a result token is for.
#[utoipa::path(get, path = "/hooks/results/{token}", tag = "webhooks",
    params(("token" = String, Path)),
    security(()),
    responses(
        (status = 200, description = "the flow's stored (redacted) response or output"),
        (status = 202, description = "still running: `{execution_id, status}`"),
        (status = 404, description = "unknown or expired token"),
        (status = 500, description = "the flow failed: `{execution_id, error: \"flow failed\"}` or its `on_failure` answer")))]
pub(crate) async fn result(
    State(state): State<HookState>,
    Path(token): Path<String>,
) -> Result<Response, HookError> {
    let gone = || HookError::new(StatusCode::NOT_FOUND, "unknown or expired result token");
    let id = state
        .store
        .find_result_token(&hash(&token), chrono::Utc::now())?
        .ok_or_else(gone)?;
    let record = state.store.get_execution(&id)?.ok_or_else(gone)?;
    if record.status.is_finished() {
        return Ok(respond::from_record(&record));
    }
    let body = json!({ "execution_id": record.id, "status": record.status.as_str() });
    Ok(with_execution_id(
        (StatusCode::ACCEPTED, Json(body)).into_response(),
        &record.id,
    ))
}
