//! [`HookError`]: what a refused webhook request answers, `{"error": …}`
//! with its status (and `Retry-After` for 429), and the one mapping of
//! the submit port's [`EngineError`] to HTTP, which the API's run, replay
//! and retry routes share. Every error response carries an
//! [`ErrorReport`] extension, which the server's one logging middleware
//! writes to the log once, inside the request's span.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::start::HeaderError;
use crate::storage::StorageError;
use crate::submit::{EngineError, QUEUE_FULL_RETRY_AFTER};

/// What an error response tells the log (a response extension, never
/// sent): the message the client got and, for a 500, the internal cause
/// the client did not get.
#[derive(Clone, Debug)]
pub struct ErrorReport {
    /// The message in the response body.
    pub message: String,
    /// The internal cause behind a 500.
    pub cause: Option<String>,
}

/// A refused or failed webhook request.
#[derive(Debug)]
pub struct HookError {
    /// The status it answers.
    pub status: StatusCode,
    /// The message, lowercase.
    pub message: String,
    /// The internal cause of a 500 (logged, never sent).
    pub cause: Option<String>,
    /// Seconds for `Retry-After` (429).
    pub retry_after: Option<u64>,
}

impl HookError {
    /// An error answering `status` with `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: lowercase_first(message.into()),
            cause: None,
            retry_after: None,
        }
    }

    /// 500: the client learns only that it failed; `cause` goes to the log.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error; see the server log",
        );
        error.cause = Some(cause.to_string());
        error
    }
}

/// `text` with its first letter lowercase, unless it opens an acronym
/// (`JSON`): error messages start lowercase.
pub fn lowercase_first(text: String) -> String {
    let mut chars = text.chars();
    match chars.next() {
        // Keep acronyms (`JSON`) as they are.
        Some(c) if c.is_uppercase() && !chars.next().is_some_and(char::is_uppercase) => {
            c.to_lowercase().chain(text.chars().skip(1)).collect()
        }
        _ => text,
    }
}

impl IntoResponse for HookError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(ErrorReport {
            message: self.message,
            cause: self.cause,
        });
        response
    }
}

impl From<StorageError> for HookError {
    fn from(e: StorageError) -> Self {
        Self::internal(e)
    }
}

impl From<HeaderError> for HookError {
    fn from(e: HeaderError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

/// The one mapping of [`EngineError`] to HTTP: unknown instance, flow or
/// execution 404, a full queue 429 with `Retry-After`, retrying a run
/// that did not fail 409, storage 500.
impl From<EngineError> for HookError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownInstance(_)
            | EngineError::UnknownFlow { .. }
            | EngineError::UnknownExecution(_) => Self::new(StatusCode::NOT_FOUND, e.to_string()),
            EngineError::QueueFull { .. } => {
                let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, e.to_string());
                error.retry_after = Some(QUEUE_FULL_RETRY_AFTER.as_secs().max(1));
                error
            }
            EngineError::NotFailed { .. } => Self::new(StatusCode::CONFLICT, e.to_string()),
            EngineError::Storage(e) => Self::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_start_lowercase_but_keep_acronyms() {
        assert_eq!(lowercase_first("Failed to parse".into()), "failed to parse");
        assert_eq!(lowercase_first("JSON is bad".into()), "JSON is bad");
        let refused = HookError::new(StatusCode::BAD_REQUEST, "Bad body");
        assert_eq!(refused.message, "bad body");
    }

    #[test]
    fn a_full_queue_answers_429_with_retry_after() {
        let error = HookError::from(EngineError::QueueFull {
            tenant: "acme".into(),
            limit: 3,
        });
        assert_eq!(error.status, StatusCode::TOO_MANY_REQUESTS);
        let response = error.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        assert!(response.extensions().get::<ErrorReport>().is_some());
    }
}
