//! Unauthenticated operational routes: `/healthz` (the process answers),
//! `/readyz` (storage and registry are loaded), `/metrics` (Prometheus) and
//! `/v1/openapi.json`.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;

/// Liveness: always 200 while the process serves.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "alive")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: 200 once started, 503 while shutting down or while the
/// store does not answer (a database that went away). One line per
/// configured broker follows (`broker events: connected`, `broker events:
/// disconnected for 12s`); a broker that is down does not make the node
/// unready, since webhooks and schedules still work without it. On a
/// store shared by several nodes, a line says whether this node fires the
/// schedules (`scheduler: leader`) or stands by (`scheduler: standby`).
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (status, mut body) = if state.ready.load(Ordering::Relaxed) {
        let store = state.store.clone();
        match tokio::task::spawn_blocking(move || store.check()).await {
            Ok(Ok(())) => (StatusCode::OK, "ready\n".to_owned()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "not ready: the store does not answer");
                (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n"))
            }
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")),
        }
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_owned())
    };
    if state.store.shared() {
        let role = if state.scheduler.is_leader() {
            "leader"
        } else {
            "standby"
        };
        body.push_str(&format!("scheduler: {role}\n"));
    }
    for broker in state.brokers.status() {
        let line = match (broker.connected, broker.down_for_ms) {
            (true, _) => format!("broker {}: connected\n", broker.name),
            (false, Some(ms)) => format!(
                "broker {}: disconnected for {}s, reconnecting\n",
                broker.name,
                ms / 1000
            ),
            (false, None) => format!("broker {}: disconnected, reconnecting\n", broker.name),
        };
        body.push_str(&line);
    }
    (status, body)
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::openapi::document())
}
