//! `/v1/tenants` and `/v1/tokens`: operator-only management of tenants and
//! API tokens. Tokens are listed by id and prefix, never in full (only
//! their hash is stored); a revoked token answers 401 from the next
//! request on.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{generate_token, token_record};
use super::error::{AppError, ErrorBody};
use super::extract::{AppJson, Operator};
use crate::instances::check_tenant_name;
use crate::storage::{Inserted, TenantRecord, TokenRecord};

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
    _operator: Operator,
    AppJson(body): AppJson<CreateTenant>,
) -> Result<(StatusCode, Json<TenantView>), AppError> {
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

/// Deletes a tenant without instances and revokes its tokens.
#[utoipa::path(delete, path = "/v1/tenants/{name}", tag = "tenants",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "deleted; its tokens are revoked"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the tenant has instances (named)", body = ErrorBody),
    ))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    _operator: Operator,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    if state.store.get_tenant(&name)?.is_none() {
        return Err(AppError::not_found(format!("tenant {name:?} not found")));
    }
    let instances = state.store.list_instances(Some(name.as_str()))?;
    if !instances.is_empty() {
        let ids: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
        return Err(AppError::conflict(format!(
            "tenant {name:?} has {} instance(s) ({}); delete them first",
            ids.len(),
            ids.join(", ")
        )));
    }
    state.store.delete_tenant(&name)?;
    tracing::info!(tenant = %name, "tenant deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Lists tenants.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants",
    responses((status = 200, body = Vec<TenantView>)))]
pub async fn list_tenants(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<Json<Vec<TenantView>>, AppError> {
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
    _operator: Operator,
    AppJson(body): AppJson<CreateToken>,
) -> Result<(StatusCode, Json<TokenCreated>), AppError> {
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

/// A token as listed: never the token itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Token id (pass it to `DELETE /v1/tokens/{id}`).
    pub id: String,
    /// The token's first characters, to tell tokens apart; null for tokens
    /// created before prefixes were kept.
    pub prefix: Option<String>,
    /// Its tenant, or null for an operator token.
    pub tenant: Option<String>,
    /// `env` (`WEFT_OPERATOR_TOKEN`), `generated` (first start) or `api`.
    pub origin: String,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl From<TokenRecord> for TokenView {
    fn from(r: TokenRecord) -> Self {
        Self {
            id: r.id,
            prefix: r.prefix,
            tenant: r.tenant,
            origin: r.origin,
            created_at: r.created_at.to_rfc3339(),
        }
    }
}

/// Lists tokens, oldest first.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses(
        (status = 200, body = Vec<TokenView>),
        (status = 403, description = "a tenant token", body = ErrorBody),
    ))]
pub async fn list_tokens(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<Json<Vec<TokenView>>, AppError> {
    let tokens = state.store.list_tokens()?;
    Ok(Json(tokens.into_iter().map(Into::into).collect()))
}

/// Revokes a token: it answers 401 from the next request on. The last
/// operator token cannot be revoked (409), so the operator is never locked
/// out.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "revoked"),
        (status = 403, description = "a tenant token", body = ErrorBody),
        (status = 404, description = "no such token", body = ErrorBody),
        (status = 409, description = "the last operator token", body = ErrorBody),
    ))]
pub async fn revoke_token(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let tokens = state.store.list_tokens()?;
    let Some(token) = tokens.iter().find(|t| t.id == id) else {
        return Err(AppError::not_found(format!("token {id:?} not found")));
    };
    if token.tenant.is_none() && tokens.iter().filter(|t| t.tenant.is_none()).count() == 1 {
        return Err(AppError::conflict(format!(
            "token {id:?} is the last operator token; create another (weft token create) before revoking it"
        )));
    }
    state.store.delete_token(&id)?;
    tracing::info!(token_id = %id, tenant = ?token.tenant, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}
