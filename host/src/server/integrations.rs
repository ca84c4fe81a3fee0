//! `/v1/integrations`: upload (YAML or JSON), list and show integration
//! versions.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::{AppError, ErrorBody};
use super::extract::Operator;
use crate::integration::Catalog;
use crate::integration_versions::{self, PushError, Pushed};
use crate::storage::IntegrationRecord;

/// A flow, summarised.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowView {
    /// Flow name.
    pub name: String,
    /// Trigger type (`webhook`, `schedule`, `deploy`, `teardown`, `manual`).
    pub trigger: String,
}

/// An integration version.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    /// Integration name.
    pub name: String,
    /// Version number.
    pub version: u32,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its flows.
    pub flows: Vec<FlowView>,
    /// Config variable keys.
    pub config: Vec<String>,
    /// Components its flows call.
    pub components: Vec<String>,
    /// RFC 3339 time it was stored.
    pub created_at: String,
    /// The file as uploaded (on show only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The parsed definition as JSON, defaults written out (on show only;
    /// the console draws its flows from it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub definition: Option<serde_json::Value>,
}

impl IntegrationView {
    fn new(r: IntegrationRecord, with_text: bool) -> Self {
        Self {
            flows: r
                .model
                .flows
                .iter()
                .map(|f| FlowView {
                    name: f.name.clone(),
                    trigger: f.trigger.type_name().to_owned(),
                })
                .collect(),
            config: r.model.config.iter().map(|c| c.key.clone()).collect(),
            description: r.model.description.clone(),
            name: r.name,
            version: r.version,
            components: r.components,
            created_at: r.created_at.to_rfc3339(),
            definition: with_text
                .then(|| serde_json::to_value(&r.model).ok())
                .flatten(),
            text: with_text.then_some(r.text),
        }
    }
}

/// Uploads an integration version.
#[utoipa::path(post, path = "/v1/integrations", tag = "integrations",
    request_body(content = String, content_type = "application/yaml", description = "the integration file, YAML or JSON"),
    responses(
        (status = 201, description = "stored", body = IntegrationView),
        (status = 200, description = "the same text was already stored", body = IntegrationView),
        (status = 409, description = "name@version exists with another text", body = ErrorBody),
        (status = 422, description = "invalid; every problem in details", body = ErrorBody),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    _operator: Operator,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IntegrationView>), AppError> {
    let text = String::from_utf8(body?.to_vec())
        .map_err(|_| AppError::bad_request("integration file is not valid utf-8"))?;
    let pushed = push(&state, text).await?;
    let status = if pushed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(IntegrationView::new(pushed.record, false))))
}

/// Pushes an integration version, validated against the registered
/// components under the registry's change lock (none of them can be
/// deleted until it is stored). The upload route and `weft demo` use it.
pub async fn push(state: &AppState, text: String) -> Result<Pushed, PushError> {
    let _changes = state.registry.lock_changes().await;
    let mut catalog = Catalog::of(&state.registry.manifests());
    // Queue triggers must name a broker of this server's weft.toml.
    catalog.brokers = Some(state.brokers.names());
    integration_versions::push(&catalog, state.store.as_ref(), text)
}

/// Lists integration versions.
#[utoipa::path(get, path = "/v1/integrations", tag = "integrations",
    responses((status = 200, body = Vec<IntegrationView>)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<IntegrationView>>, AppError> {
    let all = state.store.list_integrations()?;
    Ok(Json(
        all.into_iter()
            .map(|r| IntegrationView::new(r, false))
            .collect(),
    ))
}

/// Shows the latest version of an integration.
#[utoipa::path(get, path = "/v1/integrations/{name}", tag = "integrations",
    params(("name" = String, Path)),
    responses((status = 200, body = IntegrationView), (status = 404, body = ErrorBody)))]
pub async fn show_latest(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<IntegrationView>, AppError> {
    let record = state
        .store
        .latest_integration(&name)?
        .ok_or_else(|| AppError::not_found(format!("integration {name:?} not found")))?;
    Ok(Json(IntegrationView::new(record, true)))
}

/// Shows one integration version.
#[utoipa::path(get, path = "/v1/integrations/{name}/{version}", tag = "integrations",
    params(("name" = String, Path), ("version" = u32, Path)),
    responses((status = 200, body = IntegrationView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<IntegrationView>, AppError> {
    let missing = || AppError::not_found(format!("integration {name}@{version} not found"));
    let number: u32 = version.parse().map_err(|_| missing())?;
    let record = state
        .store
        .get_integration(&name, number)?
        .ok_or_else(missing)?;
    Ok(Json(IntegrationView::new(record, true)))
}

/// Deletes an integration version no instance uses.
#[utoipa::path(delete, path = "/v1/integrations/{name}/{version}", tag = "integrations",
    params(("name" = String, Path), ("version" = u32, Path)),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "an instance uses this version (named)", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    _operator: Operator,
    Path((name, version)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let missing = || AppError::not_found(format!("integration {name}@{version} not found"));
    let number: u32 = version.parse().map_err(|_| missing())?;
    if state.store.get_integration(&name, number)?.is_none() {
        return Err(missing());
    }
    let users: Vec<String> = state
        .store
        .instances_of_integration(&name)?
        .into_iter()
        .filter(|i| i.version == number)
        .map(|i| i.id)
        .collect();
    if !users.is_empty() {
        return Err(AppError::conflict(format!(
            "integration {name}@{number} is used by instance(s) {}; delete them or move them to another version first",
            users.join(", ")
        )));
    }
    state.store.delete_integration(&name, number)?;
    tracing::info!(integration = %name, version = number, "integration version deleted");
    Ok(StatusCode::NO_CONTENT)
}
