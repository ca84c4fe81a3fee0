//! `/v1/instances/{id}/state`: what an instance's flows keep in state, to
//! look at and to reset. `scope=instance` (the default) is the state its
//! flows share, `scope=flow&flow=F` one flow's own; execution state lives
//! only while its execution runs. Tenant-scoped like every instance route:
//! another tenant's instance answers 404.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{AppError, ErrorBody};
use super::extract::{Visible, VisibleInstance};
use crate::sandbox::{StateError, StateScope};
use crate::storage::InstanceRecord;

/// Which state: `?scope=instance|flow&flow=F[&key=K]`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StateQuery {
    /// `instance` (default; `flow` when `flow` is given) or `flow`.
    pub scope: Option<String>,
    /// The flow, for `scope=flow`.
    pub flow: Option<String>,
    /// One key (DELETE only): remove just it.
    pub key: Option<String>,
}

/// One scope's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateView {
    /// Instance id.
    pub instance: String,
    /// `instance` or `flow`.
    pub scope: String,
    /// The flow, for `scope=flow`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Every key with its value, as components stored them.
    pub entries: BTreeMap<String, String>,
    /// Bytes of keys plus values (what the scope quota counts).
    pub bytes: u64,
}

/// What a DELETE removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateDeleted {
    /// Keys removed.
    pub deleted: usize,
}

fn state_failed(e: StateError) -> AppError {
    AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The scope a query names, checked against the instance's flows.
fn scope_of(
    state: &AppState,
    instance: &InstanceRecord,
    query: &StateQuery,
) -> Result<(StateScope, Option<String>), AppError> {
    let scope = query.scope.as_deref().unwrap_or(if query.flow.is_some() {
        "flow"
    } else {
        "instance"
    });
    match (scope, &query.flow) {
        ("instance", None) => Ok((
            StateScope::Instance {
                instance: instance.id.clone(),
            },
            None,
        )),
        ("instance", Some(_)) => Err(AppError::bad_request(
            "flow is only for scope=flow (instance state is shared by every flow)",
        )),
        ("flow", None) => Err(AppError::bad_request("scope=flow needs flow=NAME")),
        ("flow", Some(flow)) => {
            let integration = state.instances.integration_of(instance)?;
            if integration.model.flow(flow).is_none() {
                let names = integration.model.flows.iter().map(|f| f.name.as_str());
                return Err(AppError::not_found(format!(
                    "integration {} has no flow {flow:?}{}",
                    integration.reference(),
                    crate::integration::hint(flow, names)
                )));
            }
            Ok((
                StateScope::Flow {
                    instance: instance.id.clone(),
                    flow: flow.clone(),
                },
                Some(flow.clone()),
            ))
        }
        (other, _) => Err(AppError::bad_request(format!(
            "unknown scope {other:?}: use instance or flow (execution state lives only while its execution runs)"
        ))),
    }
}

/// Shows one scope of an instance's state.
#[utoipa::path(get, path = "/v1/instances/{id}/state", tag = "instances",
    params(("id" = String, Path), StateQuery),
    responses(
        (status = 200, body = StateView),
        (status = 400, description = "an unknown scope, scope=flow without flow, or key given", body = ErrorBody),
        (status = 404, description = "unknown instance (or another tenant's), or unknown flow", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Visible(instance): VisibleInstance,
    Query(query): Query<StateQuery>,
) -> Result<Json<StateView>, AppError> {
    if query.key.is_some() {
        return Err(AppError::bad_request(
            "key is only for DELETE; GET shows the whole scope",
        ));
    }
    let (scope, flow) = scope_of(&state, &instance, &query)?;
    let store = state.store.as_ref();
    let mut entries = BTreeMap::new();
    for key in store.keys(&scope, "").map_err(state_failed)? {
        if let Some(value) = store.get(&scope, &key).map_err(state_failed)? {
            entries.insert(key, value);
        }
    }
    let bytes = store.usage(&scope).map_err(state_failed)?.bytes;
    Ok(Json(StateView {
        instance: instance.id,
        scope: scope.kind().to_owned(),
        flow,
        entries,
        bytes,
    }))
}

/// Removes one key (`key=K`) or every key of one scope of an instance's
/// state.
#[utoipa::path(delete, path = "/v1/instances/{id}/state", tag = "instances",
    params(("id" = String, Path), StateQuery),
    responses(
        (status = 200, body = StateDeleted),
        (status = 400, description = "an unknown scope, or scope=flow without flow", body = ErrorBody),
        (status = 404, description = "unknown instance (or another tenant's), or unknown flow", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Visible(instance): VisibleInstance,
    Query(query): Query<StateQuery>,
) -> Result<Json<StateDeleted>, AppError> {
    let (scope, _) = scope_of(&state, &instance, &query)?;
    let store = state.store.as_ref();
    let deleted = match &query.key {
        Some(key) => {
            let present = store.get(&scope, key).map_err(state_failed)?.is_some();
            store.delete(&scope, key).map_err(state_failed)?;
            usize::from(present)
        }
        None => {
            let keys = store.keys(&scope, "").map_err(state_failed)?.len();
            store.clear(&scope).map_err(state_failed)?;
            keys
        }
    };
    Ok(Json(StateDeleted { deleted }))
}
