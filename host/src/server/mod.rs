//! The HTTP API (`weft serve`): [`AppState`] holds everything handlers
//! share, [`router`] builds the axum router and merges the webhook
//! trigger's (tests can drive it without a socket), [`serve`] runs it until
//! a shutdown signal, letting in-flight requests finish. Handlers take the
//! [`extract`]ors (a JSON body, an operator, a visible instance or
//! execution) whose rejections are [`AppError`]s; every error response is
//! logged once, by one middleware, inside a span naming the matched route.
//!
//! Routes (all JSON, bearer tokens, see [`auth`]):
//!
//! | route | who |
//! | --- | --- |
//! | `POST /v1/components`, `DELETE /v1/components/{name}/{version}` | operator |
//! | `GET /v1/components`, `GET /v1/components/{name}/{version}` | any token |
//! | `POST /v1/integrations`, `DELETE /v1/integrations/{name}/{version}` | operator |
//! | `GET /v1/integrations`, `GET /v1/integrations/{name}[/{version}]` | any token |
//! | `GET|POST /v1/tenants`, `DELETE /v1/tenants/{name}`, `GET|POST /v1/tokens`, `DELETE /v1/tokens/{id}` | operator |
//! | `GET|POST /v1/instances`, `GET|PATCH|DELETE /v1/instances/{id}`, `POST …/enable`, `POST …/disable` | operator, or the owning tenant |
//! | `GET /v1/executions`, `GET /v1/executions/events` (server-sent events), `GET /v1/executions/{id}`, `POST …/replay`, `POST …/retry`, `POST /v1/instances/{id}/flows/{flow}/run` | operator, or the owning tenant |
//! | `POST|PUT|PATCH|GET|DELETE /hooks/{instance}[/{flow}]` | anyone (HMAC per flow; the webhook trigger's router, see [`crate::triggers::webhooks`]) |
//! | `GET /hooks/results/{token}` | anyone holding the token (see [`crate::triggers::results`]) |
//! | `GET /healthz`, `/readyz`, `/metrics`, `/v1/openapi.json` | anyone |

pub mod access;
pub mod auth;
pub mod components;
pub mod error;
pub mod events;
pub mod executions;
pub mod extract;
pub mod instance_state;
pub mod instances;
pub mod integrations;
pub mod openapi;
pub mod system;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{delete, get, post};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use error::AppError;

use crate::config::ServerConfig;
use crate::instances::Instances;
use crate::metrics::Metrics;
use crate::registry::ComponentRegistry;
use crate::sandbox::Sandbox;
use crate::storage::Storage;
use crate::triggers::{ErrorReport, HookState};

/// What every handler shares. Cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    /// Durable storage.
    pub store: Arc<dyn Storage>,
    /// Loaded components.
    pub registry: Arc<ComponentRegistry>,
    /// Instance operations (secrets sealing, lifecycle hook).
    pub instances: Instances,
    /// The durable flow engine.
    pub engine: Arc<crate::flow::FlowEngine>,
    /// Where the manual run route and the webhooks start executions (the
    /// engine, through the submit port).
    pub submit: Arc<dyn crate::submit::Submit>,
    /// The sandbox steps run in.
    pub sandbox: Arc<Sandbox>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The `[server]` settings.
    pub config: Arc<ServerConfig>,
    /// The webhook trigger's state (its router is merged in).
    pub hooks: HookState,
    /// Cleared when shutdown begins (`/readyz` answers 503).
    pub ready: Arc<AtomicBool>,
    /// The message brokers of queue triggers (`/readyz` shows them).
    pub brokers: Arc<crate::brokers::Brokers>,
    /// The schedule trigger (`/readyz` shows whether this node leads).
    pub scheduler: Arc<crate::triggers::Scheduler>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The API router with its limits: body size (413 past
/// `[server] max_body`), request timeout (408 past
/// `[server] request_timeout`; not on `/hooks/…`, whose sync flows have
/// their own timeout and always answer with the execution id) and request
/// tracing.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body.as_usize();
    let timeout = state.config.request_timeout;
    Router::new()
        .route(
            "/v1/components",
            get(components::list).post(components::upload),
        )
        .route(
            "/v1/components/{name}/{version}",
            get(components::show).delete(components::delete),
        )
        .route(
            "/v1/integrations",
            get(integrations::list).post(integrations::upload),
        )
        .route("/v1/integrations/{name}", get(integrations::show_latest))
        .route(
            "/v1/integrations/{name}/{version}",
            get(integrations::show).delete(integrations::delete),
        )
        .route(
            "/v1/tenants",
            get(access::list_tenants).post(access::create_tenant),
        )
        .route("/v1/tenants/{name}", delete(access::delete_tenant))
        .route(
            "/v1/tokens",
            get(access::list_tokens).post(access::create_token),
        )
        .route("/v1/tokens/{id}", delete(access::revoke_token))
        .route(
            "/v1/instances",
            get(instances::list).post(instances::create),
        )
        .route(
            "/v1/instances/{id}",
            get(instances::show)
                .patch(instances::update)
                .delete(instances::delete),
        )
        .route("/v1/instances/{id}/enable", post(instances::enable))
        .route("/v1/instances/{id}/disable", post(instances::disable))
        .route(
            "/v1/instances/{id}/state",
            get(instance_state::show).delete(instance_state::delete),
        )
        .route(
            "/v1/instances/{id}/flows/{flow}/run",
            post(executions::run_flow),
        )
        .route("/v1/executions", get(executions::list))
        .route("/v1/executions/events", get(events::events))
        .route("/v1/executions/{id}", get(executions::show))
        .route("/v1/executions/{id}/replay", post(executions::replay))
        .route("/v1/executions/{id}/retry", post(executions::retry))
        .route("/v1/openapi.json", get(system::openapi))
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .fallback(|| async { AppError::not_found("no such route") })
        // The webhook routes are merged after this layer, so it does not
        // cover them: a sync flow's own `timeout` bounds its wait (then 202
        // with the execution id), and reading a webhook body is bounded by
        // `request_timeout` in the handler.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state.clone())
        .merge(crate::triggers::webhooks::router(state.hooks.clone()))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(log_errors))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(DefaultOnRequest::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}

/// The span of one request: its method and the route it matched
/// (`/hooks/{instance}/{flow}`), never the raw URI, whose path names
/// instances and whose query may carry a webhook's tokens.
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        version = ?request.version(),
    )
}

/// Logs each error response once, from its [`ErrorReport`], inside the
/// request's span: a 500 with its internal cause at `error`, other server
/// errors at `warn`, refusals (4xx) at `debug`.
async fn log_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(report) = response.extensions().get::<ErrorReport>() {
        let status = response.status();
        match &report.cause {
            Some(cause) => {
                tracing::error!(%status, error = %report.message, %cause, "request failed");
            }
            None if status.is_server_error() => {
                tracing::warn!(%status, error = %report.message, "request failed");
            }
            None => tracing::debug!(%status, error = %report.message, "request refused"),
        }
    }
    response
}

/// Serves `app` (see [`router`]) on `listener` until `shutdown` completes,
/// then clears `ready` and waits for in-flight requests to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            ready.store(false, std::sync::atomic::Ordering::Relaxed);
            tracing::info!("shutting down: finishing in-flight requests");
        })
        .await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
