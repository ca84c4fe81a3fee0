//! `/v1/tenants` and `/v1/tokens`: operator-only management of tenants and
//! API tokens.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Caller, generate_token, token_record};
use super::error::{AppError, ErrorBody};
use crate::instances::check_tenant_name;
use crate::storage::{Inserted, TenantRecord};

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// Unique slug.
    pub name: String,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl From<TenantRecord> for TenantView {
    fn from(r: TenantRecord) -> Self {
        Self {
            name: r.name,
            created_at: r.created_at.to_rfc3339(),
        }
    }
}

/// Body of `POST /v1/tenants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// Slug: lowercase letters, digits and `-`.
    pub name: String,
}

/// Creates a tenant.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = CreateTenant,
    responses(
        (status = 201, body = TenantView),
        (status = 409, description = "exists", body = ErrorBody),
        (status = 422, description = "invalid name", body = ErrorBody),
    ))]
pub async fn create_tenant(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateTenant>, JsonRejection>,
) -> Result<(StatusCode, Json<TenantView>), AppError> {
    caller.require_operator()?;
    let Json(body) = body?;
    check_tenant_name(&body.name)
        .map_err(|e| AppError::new(StatusCode::UNPROCESSABLE_ENTITY, e.message))?;
    let record = TenantRecord {
        name: body.name,
        created_at: chrono::Utc::now(),
    };
    match state.store.insert_tenant(&record)? {
        Inserted::Created => {
            tracing::info!(tenant = %record.name, "tenant created");
            Ok((StatusCode::CREATED, Json(record.into())))
        }
        Inserted::Exists(_) => Err(AppError::conflict(format!(
            "tenant {:?} already exists",
            record.name
        ))),
    }
}

/// Lists tenants.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants",
    responses((status = 200, body = Vec<TenantView>)))]
pub async fn list_tenants(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TenantView>>, AppError> {
    caller.require_operator()?;
    let tenants = state.store.list_tenants()?;
    Ok(Json(tenants.into_iter().map(Into::into).collect()))
}

/// Body of `POST /v1/tokens`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// The tenant the token acts for; absent for an operator token.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// A newly created token: shown once, stored only as its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCreated {
    /// Token id.
    pub id: String,
    /// The token itself; it cannot be shown again.
    pub token: String,
    /// Its tenant, or null for an operator token.
    pub tenant: Option<String>,
}

/// Creates a token.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses(
        (status = 201, body = TokenCreated),
        (status = 422, description = "unknown tenant", body = ErrorBody),
    ))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> Result<(StatusCode, Json<TokenCreated>), AppError> {
    caller.require_operator()?;
    let Json(body) = body?;
    if let Some(tenant) = &body.tenant
        && state.store.get_tenant(tenant)?.is_none()
    {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("tenant {tenant:?} not found"),
        ));
    }
    let token = generate_token();
    let record = token_record(&token, body.tenant.clone(), "api");
    state.store.put_token(&record)?;
    tracing::info!(token_id = %record.id, tenant = ?record.tenant, "token created");
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id: record.id,
            token,
            tenant: body.tenant,
        }),
    ))
}
