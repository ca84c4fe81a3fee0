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
use crate::storage::{InstanceRecord, Storage, StorageError};

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

/// A record a path's `{id}` names: its id type, what the 404 calls it,
/// how to find it and whose it is.
pub trait PathRecord: Sized + Send {
    /// The id's type; a malformed id is a 404 saying why.
    type Id: FromStr<Err = IdError>;
    /// What a 404 calls it (`instance`).
    const KIND: &'static str;
    /// Looks it up.
    fn find(store: &dyn Storage, id: &Self::Id) -> Result<Option<Self>, StorageError>;
    /// Its tenant.
    fn tenant(&self) -> &str;
}

impl PathRecord for InstanceRecord {
    type Id = InstanceId;
    const KIND: &'static str = "instance";
    fn find(store: &dyn Storage, id: &InstanceId) -> Result<Option<Self>, StorageError> {
        store.get_instance(id.as_str())
    }
    fn tenant(&self) -> &str {
        &self.tenant
    }
}

impl PathRecord for ExecutionRecord {
    type Id = ExecutionId;
    const KIND: &'static str = "execution";
    fn find(store: &dyn Storage, id: &ExecutionId) -> Result<Option<Self>, StorageError> {
        store.get_execution(id.as_str())
    }
    fn tenant(&self) -> &str {
        &self.tenant
    }
}

/// The record the path's `{id}` names, if the caller may see it; 404
/// otherwise, exactly as for one that does not exist.
#[derive(Debug, Clone)]
pub struct Visible<R>(pub R);

/// The instance named by the path's `{id}`, visible to the caller.
pub type VisibleInstance = Visible<InstanceRecord>;

/// The execution named by the path's `{id}`, visible to the caller.
pub type VisibleExecution = Visible<ExecutionRecord>;

impl<R: PathRecord> FromRequestParts<AppState> for Visible<R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Path(mut params) = Path::<BTreeMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::bad_request(e.body_text()))?;
        let raw = params
            .remove("id")
            .ok_or_else(|| AppError::internal("route without an {id} parameter"))?;
        let id: R::Id = raw
            .parse()
            .map_err(|e: IdError| AppError::not_found(e.to_string()))?;
        match R::find(state.store.as_ref(), &id)? {
            Some(record) if caller.sees(record.tenant()) => Ok(Self(record)),
            _ => Err(AppError::not_found(format!(
                "{} {raw:?} not found",
                R::KIND
            ))),
        }
    }
}
