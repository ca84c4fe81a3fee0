//! The console's data calls: `/console/api/…` is forwarded to `/v1/…` of
//! the API router in-process, with the session's token as the bearer
//! token. The API's own handlers decide what the caller may see and do
//! (nothing is re-checked or widened here), and its error answers reach
//! the page unchanged.
//!
//! A request that changes something (any method but `GET` and `HEAD`)
//! must carry the session's CSRF token in `X-Weft-Csrf` and, when the
//! browser names an `Origin`, come from this server's own origin;
//! otherwise it answers 403 and nothing is forwarded. Only the request
//! headers the API reads (`Content-Type`, `Accept`, `Idempotency-Key`)
//! are forwarded, so the browser's cookies never reach the API.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt as _;

use super::Console;
use crate::server::AppError;

/// Request headers passed on to the API.
const FORWARDED: &[header::HeaderName] = &[header::CONTENT_TYPE, header::ACCEPT];

/// Whether a browser's `Origin` (when it sent one) is this server's own:
/// its host and port are the request's `Host`.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    });
    matches!((origin, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// The API path for a console path: `/console/api/x?q` → `/v1/x?q`.
fn api_uri(uri: &Uri) -> Result<Uri, AppError> {
    let path = uri.path();
    let rest = path
        .strip_prefix("/console/api")
        .filter(|rest| rest.starts_with('/'))
        .ok_or_else(|| AppError::not_found("no such console route"))?;
    if rest.split('/').any(|s| s == ".." || s == ".") {
        return Err(AppError::bad_request(format!(
            "path {path:?} has a dot segment"
        )));
    }
    let target = match uri.query() {
        Some(query) => format!("/v1{rest}?{query}"),
        None => format!("/v1{rest}"),
    };
    target
        .parse()
        .map_err(|_| AppError::bad_request(format!("path {path:?} is not a valid uri")))
}

/// `ANY /console/api/{*rest}`: forwards to the API as the session's token.
pub async fn forward(State(console): State<Console>, request: Request) -> Response {
    match forwarded(&console, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn forwarded(console: &Console, request: Request) -> Result<Response, AppError> {
    let (parts, body) = request.into_parts();
    let Some((_, session)) = console.sessions.find(&parts.headers) else {
        return Err(AppError::unauthorized(
            "not signed in to the console (or the session ended); sign in again",
        ));
    };
    let changes = !matches!(parts.method, Method::GET | Method::HEAD);
    if changes && !same_origin(&parts.headers) {
        return Err(AppError::forbidden(
            "cross-origin request refused: the console accepts changes only from its own pages",
        ));
    }
    if changes && !session.csrf_ok(&parts.headers) {
        return Err(AppError::forbidden(
            "missing or wrong X-Weft-Csrf header: reload the console and try again",
        ));
    }
    let mut inner = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(api_uri(&parts.uri)?);
    for name in FORWARDED {
        if let Some(value) = parts.headers.get(name) {
            inner = inner.header(name, value);
        }
    }
    if let Some(value) = parts.headers.get("idempotency-key") {
        inner = inner.header("idempotency-key", value);
    }
    let bearer = HeaderValue::from_str(&format!("Bearer {}", session.token))
        .map_err(|_| AppError::unauthorized("the session's token is not a header value"))?;
    let inner = inner
        .header(header::AUTHORIZATION, bearer)
        .body(Body::new(body))
        .map_err(AppError::internal)?;
    let mut response = match console.api.clone().oneshot(inner).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // The API's Location names `/v1/…`; the page does not follow it.
    response.headers_mut().remove(header::LOCATION);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_paths_map_to_api_paths() {
        let uri: Uri = "/console/api/executions?status=failed".parse().unwrap();
        assert_eq!(api_uri(&uri).unwrap(), "/v1/executions?status=failed");
        let uri: Uri = "/console/api/../hooks/x".parse().unwrap();
        assert_eq!(api_uri(&uri).unwrap_err().status(), 400);
        let uri: Uri = "/console/apix".parse().unwrap();
        assert_eq!(api_uri(&uri).unwrap_err().status(), 404);
    }

    #[test]
    fn only_the_own_origin_may_change_things() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&headers));
    }
}
