//! What a caller starting an execution over HTTP sends and gets back, the
//! same for webhooks (`/hooks/…`), the manual route (`POST
//! /v1/instances/{id}/flows/{flow}/run`), replays and lifecycle
//! transitions:
//!
//! - `Idempotency-Key`: absent or blank means none; otherwise 1 to
//!   [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters (surrounding spaces
//!   are trimmed), else 400;
//! - `X-Weft-Callback`: an `http://` or `https://` URL with a host, else
//!   400 (webhooks only);
//! - the answer once the execution is durable: `202` with a JSON body,
//!   `Location: /v1/executions/{id}` and `X-Weft-Execution-Id` (plus
//!   `Idempotent-Replayed: true` when a repeated key found the first one).

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::submit::Submitted;

/// The request header naming an idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The request header naming a callback URL.
pub const CALLBACK_HEADER: &str = "x-weft-callback";
/// The response header carrying the execution id.
pub const EXECUTION_HEADER: &str = "x-weft-execution-id";
/// The response header saying a repeated `Idempotency-Key` found the
/// first execution.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest accepted idempotency key, in bytes (keys are stored with each
/// execution and indexed).
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A caller header that cannot be used (answers 400).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The value is not visible ASCII text.
    #[error("header {name} is not ASCII text")]
    NotText {
        /// Lowercase header name.
        name: &'static str,
    },
    /// The key is too long or holds spaces or control characters.
    #[error(
        "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters; got {len} bytes{}",
        if *.spaces { " with spaces or control characters" } else { "" }
    )]
    BadKey {
        /// Its length in bytes, trimmed.
        len: usize,
        /// Whether it holds a character that is not visible ASCII.
        spaces: bool,
    },
    /// The callback is not an `http(s)://` URL with a host.
    #[error("invalid X-Weft-Callback URL {url:?}: {reason}")]
    BadCallback {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
}

/// A header's value, trimmed; `None` when absent or blank.
fn text(headers: &HeaderMap, name: &'static str) -> Result<Option<String>, HeaderError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| HeaderError::NotText { name })?
        .trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// The `Idempotency-Key` header, checked (see the module docs).
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, HeaderError> {
    let Some(key) = text(headers, IDEMPOTENCY_HEADER)? else {
        return Ok(None);
    };
    let spaces = !key.bytes().all(|b| b.is_ascii_graphic());
    if spaces || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(HeaderError::BadKey {
            len: key.len(),
            spaces,
        });
    }
    Ok(Some(key))
}

/// The `X-Weft-Callback` header, checked to be an `http(s)://` URL with a
/// host (whether it may be reached is the callback's business).
pub fn callback_url(headers: &HeaderMap) -> Result<Option<String>, HeaderError> {
    let Some(url) = text(headers, CALLBACK_HEADER)? else {
        return Ok(None);
    };
    let bad = |reason: String| HeaderError::BadCallback {
        url: url.clone(),
        reason,
    };
    let parsed = url::Url::parse(&url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad("expected an http:// or https:// URL".to_owned()));
    }
    Ok(Some(url))
}

/// The body of a 202 that started (or, for a repeated key, found) an
/// execution.
#[derive(Debug, Serialize, ToSchema)]
pub struct Started {
    /// The execution (for a repeated `Idempotency-Key`, the first one).
    pub execution_id: String,
    /// The execution a replay replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
}

/// `202 {"execution_id"}` with `Location` and `X-Weft-Execution-Id`.
pub fn accepted(execution_id: &str) -> Response {
    accepted_with(
        execution_id,
        &Started {
            execution_id: execution_id.to_owned(),
            replay_of: None,
        },
    )
}

/// `202` with `body`, `Location: /v1/executions/{execution_id}` and
/// `X-Weft-Execution-Id`.
pub fn accepted_with(execution_id: &str, body: &impl Serialize) -> Response {
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/executions/{execution_id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    with_execution_id(response, execution_id)
}

/// The 202 of a submitted execution (see [`accepted`]); for a repeated
/// `Idempotency-Key`, which found the first execution and started
/// nothing, also `Idempotent-Replayed: true`.
pub fn submitted(submitted: &Submitted) -> Response {
    let mut response = accepted(&submitted.record.id);
    if !submitted.created {
        response.headers_mut().insert(
            HeaderName::from_static(REPLAYED_HEADER),
            HeaderValue::from_static("true"),
        );
    }
    response
}

/// `response` with `X-Weft-Execution-Id: execution_id`.
pub fn with_execution_id(mut response: Response, execution_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(execution_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(EXECUTION_HEADER), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, value: &[u8]) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_bytes(value).unwrap());
        map
    }

    #[test]
    fn idempotency_keys_follow_one_rule() {
        let key = |v: &[u8]| idempotency_key(&headers(IDEMPOTENCY_HEADER, v));
        assert_eq!(key(b" order-42 "), Ok(Some("order-42".to_owned())));
        assert_eq!(key(b"  "), Ok(None));
        assert_eq!(idempotency_key(&HeaderMap::new()), Ok(None));
        assert_eq!(
            key(b"a b"),
            Err(HeaderError::BadKey {
                len: 3,
                spaces: true
            })
        );
        assert_eq!(
            key(&[b'k'; MAX_IDEMPOTENCY_KEY]).unwrap().unwrap().len(),
            255
        );
        let long = key(&[b'k'; MAX_IDEMPOTENCY_KEY + 1]).unwrap_err();
        assert!(long.to_string().contains("got 256 bytes"), "{long}");
        assert_eq!(
            key("ключ".as_bytes()),
            Err(HeaderError::NotText {
                name: IDEMPOTENCY_HEADER
            })
        );
    }

    #[test]
    fn callbacks_must_be_http_urls() {
        let url = |v: &str| callback_url(&headers(CALLBACK_HEADER, v.as_bytes()));
        assert_eq!(
            url("https://example.com/done"),
            Ok(Some("https://example.com/done".to_owned()))
        );
        assert!(url("ftp://example.com/").is_err());
        assert!(url("not a url").is_err());
    }

    #[test]
    fn accepted_answers_202_with_location_and_id() {
        let response = accepted("0190-abc");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(
            response.headers()[header::LOCATION],
            "/v1/executions/0190-abc"
        );
        assert_eq!(response.headers()[EXECUTION_HEADER], "0190-abc");
    }
}
