//! `/v1/instances`: create, list, show, update, enable and disable
//! instances. Tenant tokens see only their tenant's instances; any other id
//! answers 404 as if it did not exist. Secrets are never shown (`***`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{AppError, ErrorBody};
use super::extract::{AppJson, Visible, VisibleInstance};
use crate::instances::{InstanceUpdate, LifecycleStarted, NewInstance};
use crate::storage::{InstanceRecord, InstanceStatus};
use crate::triggers::start;

/// An instance as shown: config values, secrets as `***`, webhook URLs.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceView {
    /// UUIDv7 id.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// `name@version` of the integration.
    pub integration: String,
    /// `created`, `deploying`, `active`, `deploy_failed`, `disabling` or
    /// `disabled`.
    pub status: String,
    /// Plain config values as given.
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Secret keys, each shown as `***`.
    pub secrets: BTreeMap<String, String>,
    /// Webhook URL of each webhook flow.
    pub webhooks: BTreeMap<String, String>,
    /// RFC 3339 time each schedule flow fires next (only while the
    /// instance is active).
    pub schedules: BTreeMap<String, String>,
    /// Last deploy/teardown execution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_lifecycle_execution: Option<String>,
    /// Outbound host patterns the operator added to the allowlist for this
    /// instance (within what each component declares).
    pub outbound_allow: Vec<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

/// Body of `POST /v1/instances`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInstance {
    /// `name@version`, or `name` for the latest version.
    pub integration: String,
    /// Owning tenant (a tenant token may omit it).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Plain config values.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Secret values (stored encrypted, never shown).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Operator only: outbound host patterns added to the operator
    /// allowlist for this instance (e.g. `api.acme.example:443`), still
    /// within what each component declares. A tenant token giving it (even
    /// empty) answers 403.
    #[serde(default)]
    pub outbound_allow: Option<Vec<String>>,
}

/// Body of `PATCH /v1/instances/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchInstance {
    /// Config values to set; `null` removes one.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Secrets to set.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Another version of the same integration (`name@version`); an
    /// active instance re-runs its deploy flows.
    #[serde(default)]
    pub integration: Option<String>,
    /// Operator only: replaces the instance's outbound host patterns. A
    /// tenant token giving it (even empty) answers 403.
    #[serde(default)]
    pub outbound_allow: Option<Vec<String>>,
}

/// Filters of `GET /v1/instances`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this tenant's instances.
    pub tenant: Option<String>,
}

fn view(state: &AppState, record: InstanceRecord) -> Result<InstanceView, AppError> {
    let mut schedules = BTreeMap::new();
    let webhooks = match state.instances.integration_of(&record) {
        Ok(integration) => {
            for flow in &integration.model.flows {
                if let crate::integration::Trigger::Schedule(_) = flow.trigger
                    && let Some(entry) = state.store.get_schedule(&record.id, &flow.name)?
                {
                    schedules.insert(flow.name.clone(), entry.due.to_rfc3339());
                }
            }
            state.instances.webhooks(&record, &integration)
        }
        Err(e) => {
            tracing::warn!(instance = %record.id, error = %e, "instance without its integration");
            BTreeMap::new()
        }
    };
    Ok(InstanceView {
        integration: record.integration_ref(),
        status: record.status.as_str().to_owned(),
        secrets: record
            .secrets
            .keys()
            .map(|k| (k.clone(), "***".to_owned()))
            .collect(),
        webhooks,
        schedules,
        id: record.id,
        tenant: record.tenant,
        config: record.config,
        last_lifecycle_execution: record.last_lifecycle_execution,
        outbound_allow: record.outbound_allow,
        created_at: record.created_at.to_rfc3339(),
        updated_at: record.updated_at.to_rfc3339(),
    })
}

/// 403 when a tenant token tries to set `outbound_allow`: what a tenant's
/// steps may reach is the operator's decision, so a tenant can neither
/// widen nor clear it.
fn outbound_allow_by_operator(
    caller: &Caller,
    outbound_allow: Option<&Vec<String>>,
) -> Result<(), AppError> {
    match (caller, outbound_allow) {
        (Caller::Tenant(tenant), Some(_)) => Err(AppError::forbidden(format!(
            "outbound_allow can be set only with an operator token (this is a token of tenant {tenant:?})"
        ))),
        _ => Ok(()),
    }
}

/// Creates an instance.
#[utoipa::path(post, path = "/v1/instances", tag = "instances", request_body = CreateInstance,
    responses(
        (status = 201, body = InstanceView),
        (status = 403, description = "a tenant token naming another tenant or setting outbound_allow", body = ErrorBody),
        (status = 422, description = "unknown integration or tenant, invalid config", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateInstance>,
) -> Result<(StatusCode, Json<InstanceView>), AppError> {
    outbound_allow_by_operator(&caller, body.outbound_allow.as_ref())?;
    let tenant = match (caller.tenant(), body.tenant) {
        (Some(own), Some(named)) if own != named => {
            return Err(AppError::forbidden(format!(
                "a token of tenant {own:?} cannot create instances for tenant {named:?}"
            )));
        }
        (Some(own), _) => own.to_owned(),
        (None, Some(named)) => named,
        (None, None) => {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "tenant is required with an operator token",
            ));
        }
    };
    let record = state.instances.create(NewInstance {
        integration: body.integration,
        tenant,
        config: body.config,
        secrets: body.secrets,
        outbound_allow: body.outbound_allow.unwrap_or_default(),
    })?;
    Ok((StatusCode::CREATED, Json(view(&state, record)?)))
}

/// Lists instances (a tenant token: its own only).
#[utoipa::path(get, path = "/v1/instances", tag = "instances", params(ListQuery),
    responses((status = 200, body = Vec<InstanceView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<InstanceView>>, AppError> {
    let tenant = match (caller.tenant(), query.tenant.as_deref()) {
        (Some(own), Some(named)) if own != named => return Ok(Json(Vec::new())),
        (Some(own), _) => Some(own),
        (None, named) => named,
    };
    let records = state.store.list_instances(tenant)?;
    let views = records
        .into_iter()
        .map(|r| view(&state, r))
        .collect::<Result<_, _>>()?;
    Ok(Json(views))
}

/// Shows an instance with its webhook URLs.
#[utoipa::path(get, path = "/v1/instances/{id}", tag = "instances",
    params(("id" = String, Path)),
    responses((status = 200, body = InstanceView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Visible(record): VisibleInstance,
) -> Result<Json<InstanceView>, AppError> {
    Ok(Json(view(&state, record)?))
}

/// Updates config values and secrets (re-validated as a whole).
#[utoipa::path(patch, path = "/v1/instances/{id}", tag = "instances",
    params(("id" = String, Path)), request_body = PatchInstance,
    responses(
        (status = 200, body = InstanceView),
        (status = 403, description = "a tenant token setting outbound_allow", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Visible(before): VisibleInstance,
    AppJson(body): AppJson<PatchInstance>,
) -> Result<Json<InstanceView>, AppError> {
    outbound_allow_by_operator(&caller, body.outbound_allow.as_ref())?;
    let record = state.instances.update(
        &before.id,
        InstanceUpdate {
            config: body.config,
            secrets: body.secrets,
            integration: body.integration,
            outbound_allow: body.outbound_allow,
        },
    )?;
    let record = state.instances.upgrade_deploy(&before, record).await?;
    Ok(Json(view(&state, record)?))
}

/// Deletes an instance that is disabled or was never enabled: its
/// schedules, state and idempotency keys go with it; its executions stay
/// (readable by id and in lists) until retention prunes them.
#[utoipa::path(delete, path = "/v1/instances/{id}", tag = "instances",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the instance is not `created` or `disabled` (status named)", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Visible(record): VisibleInstance,
) -> Result<StatusCode, AppError> {
    let id = &record.id;
    if !matches!(
        record.status,
        InstanceStatus::Created | InstanceStatus::Disabled
    ) {
        return Err(AppError::conflict(format!(
            "instance {id} is {}; only a disabled or never enabled instance can be deleted (disable it first)",
            record.status.as_str()
        )));
    }
    state.store.delete_instance(id)?;
    tracing::info!(instance = %id, "instance deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Answer of `enable` and `disable`: the transition has started.
#[derive(Debug, Serialize, ToSchema)]
pub struct LifecycleAccepted {
    /// The lifecycle execution now running (`null` when the integration
    /// has no such flows and the status is already final).
    pub execution_id: Option<String>,
    /// The instance.
    pub instance: String,
    /// Its status now: `deploying` or `disabling` until the flows end
    /// (poll `GET /v1/instances/{id}`), then `active`, `deploy_failed` or
    /// `disabled`.
    pub status: String,
}

fn lifecycle_accepted(started: LifecycleStarted) -> Response {
    let body = LifecycleAccepted {
        execution_id: started.execution_id,
        instance: started.instance.id,
        status: started.instance.status.as_str().to_owned(),
    };
    match &body.execution_id {
        Some(id) => start::accepted_with(id, &body),
        None => (StatusCode::ACCEPTED, Json(body)).into_response(),
    }
}

/// Enables an instance: stores `deploying`, starts its deploy flows and
/// answers at once; the status becomes `active` or `deploy_failed` when
/// they end (durably, also across a restart of the host).
#[utoipa::path(post, path = "/v1/instances/{id}/enable", tag = "instances",
    params(("id" = String, Path)),
    responses(
        (status = 202, body = LifecycleAccepted, headers(("Location" = String, description = "/v1/executions/{deploy execution id}"))),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the instance is active, deploying or disabling", body = ErrorBody),
    ))]
pub async fn enable(
    State(state): State<AppState>,
    Visible(instance): VisibleInstance,
) -> Result<Response, AppError> {
    Ok(lifecycle_accepted(
        state.instances.enable(&instance.id).await?,
    ))
}

/// Disables an instance: stores `disabling` (its hooks and schedules stop
/// at once), starts its teardown flows and answers at once; the status
/// becomes `disabled` when they end.
#[utoipa::path(post, path = "/v1/instances/{id}/disable", tag = "instances",
    params(("id" = String, Path)),
    responses(
        (status = 202, body = LifecycleAccepted, headers(("Location" = String, description = "/v1/executions/{teardown execution id}"))),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the instance is created, disabled, deploying or disabling", body = ErrorBody),
    ))]
pub async fn disable(
    State(state): State<AppState>,
    Visible(instance): VisibleInstance,
) -> Result<Response, AppError> {
    Ok(lifecycle_accepted(
        state.instances.disable(&instance.id).await?,
    ))
}
