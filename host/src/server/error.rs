//! [`AppError`]: what a failed request answers. Clients get a status and a
//! clear lowercase message (plus `details`, one line per problem, for
//! validation failures); internal causes go to the log, never to clients.
//! The response carries an [`ErrorReport`] that the server's logging
//! middleware writes once; the submit port's errors are mapped to HTTP by
//! the webhook trigger's [`HookError`] (one mapping for both), JSON body
//! rejections here (for [`super::extract::AppJson`]).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::instances::InstanceError;
use crate::integration::ValidationErrors;
use crate::integration_versions::PushError;
use crate::registry::RegistryError;
use crate::storage::StorageError;
use crate::submit::EngineError;
use crate::triggers::error::lowercase_first;
use crate::triggers::start::HeaderError;
use crate::triggers::{ErrorReport, HookError};

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, lowercase.
    pub error: String,
    /// Every problem, `path: message`, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// A failed request.
#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    message: String,
    details: Vec<String>,
    /// The internal cause of a 500 (logged, never sent).
    cause: Option<String>,
    /// Seconds for `Retry-After` (429).
    retry_after: Option<u64>,
}

impl AppError {
    /// An error answering `status` with `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: lowercase_first(message.into()),
            details: Vec::new(),
            cause: None,
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 422 with one detail line per problem.
    pub fn invalid(message: impl Into<String>, errors: &ValidationErrors) -> Self {
        let mut error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, message);
        error.details = errors.errors().iter().map(ToString::to_string).collect();
        error
    }

    /// 500: tells the client only that it failed; `cause` goes to the log.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error; see the server log",
        );
        error.cause = Some(cause.to_string());
        error
    }

    /// The status it answers.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message the client sees.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let report = ErrorReport {
            message: self.message.clone(),
            cause: self.cause,
        };
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let retry_after = self.retry_after;
        let body = ErrorBody {
            error: self.message,
            details: self.details,
        };
        let mut response = (self.status, Json(body)).into_response();
        if unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(report);
        response
    }
}

impl From<HookError> for AppError {
    fn from(e: HookError) -> Self {
        let mut error = Self::new(e.status, e.message);
        error.cause = e.cause;
        error.retry_after = e.retry_after;
        error
    }
}

/// Errors the API answers exactly as the webhook trigger does: one
/// mapping ([`HookError`]'s) for both.
macro_rules! as_hook_errors {
    ($($error:ty),*) => {
        $(impl From<$error> for AppError {
            fn from(e: $error) -> Self {
                HookError::from(e).into()
            }
        })*
    };
}

as_hook_errors!(StorageError, EngineError, HeaderError);

impl From<RegistryError> for AppError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Rejected(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            RegistryError::Conflict { .. } | RegistryError::InUse { .. } => {
                Self::conflict(e.to_string())
            }
            RegistryError::NotFound(_) => Self::not_found(e.to_string()),
            RegistryError::Storage(_) | RegistryError::Internal(_) => Self::internal(e),
        }
    }
}

impl From<PushError> for AppError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::Invalid(errors) => {
                let n = errors.errors().len();
                let message = if n == 1 {
                    format!("integration is invalid: {}", errors.errors()[0])
                } else {
                    format!("integration is invalid: {n} problems")
                };
                Self::invalid(message, &errors)
            }
            PushError::Conflict(_) => Self::conflict(e.to_string()),
            PushError::Storage(e) => Self::internal(e),
        }
    }
}

impl From<InstanceError> for AppError {
    fn from(e: InstanceError) -> Self {
        match e {
            InstanceError::NotFound(_) => Self::not_found(e.to_string()),
            InstanceError::WrongState { .. } => Self::conflict(e.to_string()),
            InstanceError::UnknownIntegration(_) | InstanceError::UnknownTenant(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            InstanceError::Invalid(errors) => {
                let n = errors.errors().len();
                let message = if n == 1 {
                    format!("instance config is invalid: {}", errors.errors()[0])
                } else {
                    format!("instance config is invalid: {n} problems")
                };
                Self::invalid(message, &errors)
            }
            InstanceError::Crypto(_) | InstanceError::Storage(_) => Self::internal(e),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for AppError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        Self::new(e.status(), e.body_text())
    }
}

impl From<axum::extract::rejection::BytesRejection> for AppError {
    fn from(e: axum::extract::rejection::BytesRejection) -> Self {
        Self::new(e.status(), e.body_text())
    }
}
