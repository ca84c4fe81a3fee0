//! The web console at `/console`: a sign-in with an API token, then pages
//! for the overview, components, integrations (flows drawn as diagrams),
//! instances and executions (a live list, a step timeline, replay).
//!
//! Everything it serves is inside the binary: one HTML shell, a style
//! sheet and plain scripts under `assets/`, no build step and nothing
//! fetched from elsewhere. The module owns:
//!
//! - [`routes`]: the console's routes, merged beside the API by the
//!   composition root;
//! - [`session`]: sign-in, sign-out and the session cookie;
//! - [`proxy`]: `/console/api/…`, the page's data calls, forwarded to the
//!   API with the session's token, so the API's own access checks decide
//!   what each token sees.
//!
//! Every answer carries a strict Content-Security-Policy (scripts and
//! styles only from this server, no inline script, no framing), and the
//! scripts put every value into the page as text, never as markup.

pub mod proxy;
pub mod session;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde::Deserialize;

use crate::server::AppError;
use crate::server::auth::authenticate;
use crate::storage::Storage;
use session::{Sessions, clear_cookie, set_cookie};

/// The policy on every console answer: scripts, styles, images and
/// connections only from this server; no inline script, no plugins, no
/// framing, no form posts elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What the console's handlers share.
#[derive(Clone)]
pub struct Console {
    /// The API router data calls are forwarded to.
    api: Router,
    store: Arc<dyn Storage>,
    sessions: Arc<Sessions>,
    /// Add `Secure` to the cookie (the server's public URL is HTTPS).
    secure: bool,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("sessions", &self.sessions.len())
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// A console over `api` (the router its data calls go to), checking
    /// sign-in tokens against `store`; `secure` marks the cookie `Secure`.
    pub fn new(api: Router, store: Arc<dyn Storage>, secure: bool) -> Self {
        Self {
            api,
            store,
            sessions: Arc::new(Sessions::default()),
            secure,
        }
    }
}

/// One file of the console: name, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "core.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/core.js"),
    ),
    (
        "overview.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/overview.js"),
    ),
    (
        "catalog.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/catalog.js"),
    ),
    (
        "diagram.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/diagram.js"),
    ),
    (
        "instances.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/instances.js"),
    ),
    (
        "executions.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/executions.js"),
    ),
    (
        "execution.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/execution.js"),
    ),
    (
        "main.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/main.js"),
    ),
];

const INDEX: &str = include_str!("assets/index.html");

/// The console's routes (merged beside the API, under `/console`).
pub fn routes(console: Console) -> Router {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/assets/{file}", get(asset))
        .route(
            "/console/session",
            get(whoami).post(sign_in).delete(sign_out),
        )
        .route("/console/api/{*rest}", any(proxy::forward))
        .layer(axum::middleware::map_response(harden))
        .with_state(console)
}

/// Security headers on every console answer; nothing is cached but the
/// static files.
async fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => AppError::not_found(format!("no console file {file:?}")).into_response(),
    }
}

/// `GET /console/session`: who is signed in (and the CSRF token), or 401.
/// A session whose token was revoked ends here.
async fn whoami(State(console): State<Console>, headers: HeaderMap) -> Response {
    let Some((id, session)) = console.sessions.find(&headers) else {
        return AppError::unauthorized("not signed in").into_response();
    };
    match authenticate(console.store.as_ref(), &session.token) {
        Ok(Some(_)) => Json(session.view()).into_response(),
        Ok(None) => {
            console.sessions.close(&id);
            (
                [(header::SET_COOKIE, clear_cookie(console.secure))],
                AppError::unauthorized("the token of this session was revoked; sign in again"),
            )
                .into_response()
        }
        Err(e) => AppError::internal(e).into_response(),
    }
}

/// Body of `POST /console/session`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

/// `POST /console/session` with `{"token": …}` (JSON only, so a page on
/// another site cannot post it): opens a session for a valid operator or
/// tenant token; an unknown or revoked one answers 401.
async fn sign_in(State(console): State<Console>, headers: HeaderMap, body: String) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "sign in with a JSON body {\"token\": \"…\"}",
        )
        .into_response();
    }
    if !proxy::same_origin(&headers) {
        return AppError::forbidden("cross-origin sign-in refused").into_response();
    }
    let Ok(SignIn { token }) = serde_json::from_str::<SignIn>(&body) else {
        return AppError::bad_request("sign in with a JSON body {\"token\": \"…\"}")
            .into_response();
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return AppError::unauthorized("enter an API token (operator or tenant)").into_response();
    }
    let caller = match authenticate(console.store.as_ref(), &token) {
        Ok(Some(caller)) => caller,
        Ok(None) => {
            tracing::info!("console sign-in refused: unknown token");
            return AppError::unauthorized("this token is not valid: it is unknown or was revoked")
                .into_response();
        }
        Err(e) => return AppError::internal(e).into_response(),
    };
    tracing::info!(tenant = ?caller.tenant(), "console sign-in");
    let (id, session) = console.sessions.open(token, caller);
    (
        [(header::SET_COOKIE, set_cookie(&id, console.secure))],
        Json(session.view()),
    )
        .into_response()
}

/// `DELETE /console/session`: signs out (CSRF token required).
async fn sign_out(State(console): State<Console>, headers: HeaderMap) -> Response {
    if let Some((id, session)) = console.sessions.find(&headers) {
        if !session.csrf_ok(&headers) || !proxy::same_origin(&headers) {
            return AppError::forbidden("missing or wrong X-Weft-Csrf header").into_response();
        }
        console.sessions.close(&id);
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_cookie(console.secure))],
    )
        .into_response()
}
