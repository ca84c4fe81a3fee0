//! The API's extractors, in the style of axum's `examples/error-handling`:
//! every rejection is an [`AppError`], so a handler's signature says what
//! it needs and the error answers stay one shape.
//!
//! - [`AppJson`]: a JSON body; a rejection (bad JSON, wrong content type,
//!   too large) maps to an `AppError` in one place.
//! - [`Operator`]: an operator token (401 without a token, 403 for a
//!   tenant's); see [`Caller`] for any token.
//! - [`VisibleInstance`] and [`VisibleExecution`]: the instance or
//!   execution the path's `{id}` names, if the caller may see it; 404
//!   otherwise, also for an id that is not one ([`InstanceId`],
//!   [`ExecutionId`]), so a tenant cannot tell another tenant's from a
//!   missing one.

use std::collections::BTreeMap;
use std::str::FromStr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;

use super::AppState;
use super::auth::Caller;
use super::error::AppError;
use crate::model::{ExecutionId, ExecutionRecord, IdError, InstanceId};
use crate::storage::{InstanceRecord, StorageError};

/// A JSON request body whose rejection is an [`AppError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(Self(value))
    }
}

/// The caller holds an operator token (else 401, or 403 for a tenant's).
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Caller::from_request_parts(parts, state)
            .await?
            .require_operator()?;
        Ok(Operator)
    }
}

/// The record the path's `{id}` names, if `caller` may see it: `kind`
/// names it in the 404, `I` parses the id (a malformed one is a 404 saying
/// why), `get` looks it up and `tenant` says whose it is.
async fn visible<I, R>(
    parts: &mut Parts,
    state: &AppState,
    kind: &str,
    get: impl FnOnce(&I) -> Result<Option<R>, StorageError>,
    tenant: impl FnOnce(&R) -> &str,
) -> Result<R, AppError>
where
    I: FromStr<Err = IdError>,
{
    let caller = Caller::from_request_parts(parts, state).await?;
    let Path(mut params) = Path::<BTreeMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|e| AppError::bad_request(e.body_text()))?;
    let raw = params
        .remove("id")
        .ok_or_else(|| AppError::internal("route without an {id} parameter"))?;
    let id: I = raw
        .parse()
        .map_err(|e: IdError| AppError::not_found(e.to_string()))?;
    match get(&id)? {
        Some(record) if caller.sees(tenant(&record)) => Ok(record),
        _ => Err(AppError::not_found(format!("{kind} {raw:?} not found"))),
    }
}

/// The instance named by the path's `{id}`, visible to the caller.
#[derive(Debug, Clone)]
pub struct VisibleInstance(pub InstanceRecord);

impl FromRequestParts<AppState> for VisibleInstance {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let store = state.store.clone();
        visible(
            parts,
            state,
            "instance",
            |id: &InstanceId| store.get_instance(id.as_str()),
            |r| &r.tenant,
        )
        .await
        .map(Self)
    }
}

/// The execution named by the path's `{id}`, visible to the caller.
#[derive(Debug, Clone)]
pub struct VisibleExecution(pub ExecutionRecord);

impl FromRequestParts<AppState> for VisibleExecution {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let store = state.store.clone();
        visible(
            parts,
            state,
            "execution",
            |id: &ExecutionId| store.get_execution(id.as_str()),
            |r| &r.tenant,
        )
        .await
        .map(Self)
    }
}
