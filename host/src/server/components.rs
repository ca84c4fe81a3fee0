//! `/v1/components`: upload, list, show and delete components.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::{AppError, ErrorBody};
use super::extract::Operator;
use crate::storage::ComponentRecord;

/// One action of a component.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionView {
    /// Identifier used in integration files.
    pub key: String,
    /// Human title.
    pub title: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of the input.
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// JSON Schema of the output.
    #[schema(value_type = Object)]
    pub output_schema: Value,
}

/// A registered component.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentView {
    /// Name from `describe()`.
    pub name: String,
    /// Version from `describe()`.
    pub version: String,
    /// What it is for.
    pub description: String,
    /// Hex SHA-256 of the `.wasm`.
    pub sha256: String,
    /// Size of the `.wasm` in bytes.
    pub size: u64,
    /// Registered from the built-ins directory.
    pub builtin: bool,
    /// Outbound hosts it declares.
    pub hosts: Vec<String>,
    /// Its actions.
    pub actions: Vec<ActionView>,
    /// RFC 3339 time it was stored.
    pub created_at: String,
}

impl From<ComponentRecord> for ComponentView {
    fn from(r: ComponentRecord) -> Self {
        Self {
            description: r.manifest.description,
            hosts: r.manifest.hosts,
            actions: r
                .manifest
                .actions
                .into_iter()
                .map(|a| ActionView {
                    key: a.key,
                    title: a.title,
                    description: a.description,
                    input_schema: a.input_schema,
                    output_schema: a.output_schema,
                })
                .collect(),
            name: r.name,
            version: r.version,
            sha256: r.sha256,
            size: r.size,
            builtin: r.builtin,
            created_at: r.created_at.to_rfc3339(),
        }
    }
}

/// Uploads a component.
#[utoipa::path(post, path = "/v1/components", tag = "components",
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "the .wasm component"),
    responses(
        (status = 201, description = "registered", body = ComponentView),
        (status = 200, description = "the same bytes were already registered", body = ComponentView),
        (status = 409, description = "name@version exists with other bytes", body = ErrorBody),
        (status = 413, description = "larger than the body limit", body = ErrorBody),
        (status = 422, description = "not a weft:connector component", body = ErrorBody),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    _operator: Operator,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ComponentView>), AppError> {
    let bytes = body?;
    let upload = state.registry.upload(bytes.to_vec(), false).await?;
    let status = if upload.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(upload.record.into())))
}

/// Lists components.
#[utoipa::path(get, path = "/v1/components", tag = "components",
    responses((status = 200, body = Vec<ComponentView>)))]
pub async fn list(State(state): State<AppState>, _caller: Caller) -> Json<Vec<ComponentView>> {
    Json(state.registry.list().into_iter().map(Into::into).collect())
}

/// Shows one component.
#[utoipa::path(get, path = "/v1/components/{name}/{version}", tag = "components",
    params(("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = ComponentView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<ComponentView>, AppError> {
    let entry = state
        .registry
        .get(&name, &version)
        .ok_or_else(|| AppError::not_found(format!("component {name}@{version} not found")))?;
    Ok(Json(entry.record.clone().into()))
}

/// Deletes a component no integration version uses.
#[utoipa::path(delete, path = "/v1/components/{name}/{version}", tag = "components",
    params(("name" = String, Path), ("version" = String, Path)),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "an integration version uses it", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    _operator: Operator,
    Path((name, version)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    state.registry.delete(&name, &version).await?;
    Ok(StatusCode::NO_CONTENT)
}
