//! Instances: an integration version deployed for one tenant with its own
//! config and secrets, and its lifecycle (`created → deploying → active |
//! deploy_failed`, `active → disabling → disabled`; see [`lifecycle`]).
//!
//! Secrets are sealed with the master key before they reach storage and
//! are opened only to resolve the config a flow runs with
//! ([`Instances::resolve_config`]). Enabling and disabling submit the
//! integration's deploy and teardown flows through the [`Lifecycle`] port
//! (implemented by the lifecycle trigger, `triggers::FlowLifecycle`, over
//! the submit port); the status follows their executions' ends. Changes
//! are told to an [`InstanceListener`] (the scheduler). This module names
//! neither the engine nor the triggers.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::integration::{
    Integration, ResolvedConfig, Trigger, ValidationError, ValidationErrors, config_ref,
    validate_instance_config,
};
use crate::integration_versions;
pub use lifecycle::{
    Lifecycle, LifecycleExecution, LifecycleKind, LifecycleStarted, lifecycle_key,
};

pub mod lifecycle;
use crate::model::SealedSecret;
use crate::sandbox::HostPattern;
use crate::storage::{
    CryptoError, InstanceRecord, InstanceStatus, IntegrationRecord, SecretBox, Storage,
    StorageError,
};

/// Why an instance operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// No such instance (or not visible to the caller).
    #[error("instance {0:?} not found")]
    NotFound(String),
    /// The integration reference names nothing stored.
    #[error("integration {0:?} not found")]
    UnknownIntegration(String),
    /// The tenant does not exist.
    #[error("tenant {0:?} not found")]
    UnknownTenant(String),
    /// Config or secrets do not fit the integration.
    #[error("instance config is invalid")]
    Invalid(ValidationErrors),
    /// The instance's status does not allow the operation (`enable` of an
    /// active instance, anything while deploying or disabling).
    #[error("instance {id:?} is {}; {hint}", status.as_str())]
    WrongState {
        /// The instance.
        id: String,
        /// Its status.
        status: InstanceStatus,
        /// What would be allowed instead.
        hint: &'static str,
    },
    /// A stored secret does not open.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Told when an instance's status or config changes (the scheduler plugs
/// in here).
pub trait InstanceListener: Send + Sync {
    /// `instance` as it now is (anything but `active` runs no schedules).
    fn changed(&self, instance: &InstanceRecord);
}

/// A request to create an instance.
#[derive(Clone, Debug, Default)]
pub struct NewInstance {
    /// `name@version`, or `name` for the latest version.
    pub integration: String,
    /// Owning tenant.
    pub tenant: String,
    /// Plain config values.
    pub config: Map<String, Value>,
    /// Secret values in clear (sealed before storing).
    pub secrets: BTreeMap<String, String>,
    /// Outbound host patterns added to the operator allowlist.
    pub outbound_allow: Vec<String>,
}

/// A change to an instance's config: given keys replace stored ones, a
/// `null` config value removes the key.
#[derive(Clone, Debug, Default)]
pub struct InstanceUpdate {
    /// Config values to set (or remove with `null`).
    pub config: Map<String, Value>,
    /// Secrets to set.
    pub secrets: BTreeMap<String, String>,
    /// Move to another version of the same integration (`name@version`,
    /// or `name` for the latest); an active instance re-runs its deploy
    /// flows ([`Instances::upgrade_deploy`]).
    pub integration: Option<String>,
    /// Replaces the instance's outbound host patterns.
    pub outbound_allow: Option<Vec<String>>,
}

/// Checks outbound host patterns (`api.acme.example:443`,
/// `*.acme.example`), naming each bad one by its position.
pub fn check_outbound_allow(patterns: &[String]) -> Result<(), InstanceError> {
    let errors: Vec<ValidationError> = patterns
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            p.parse::<HostPattern>()
                .err()
                .map(|e| ValidationError::new(format!("outbound_allow[{i}]"), e.to_string()))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(InstanceError::Invalid(ValidationErrors(errors)))
    }
}

/// Checks every secret a webhook signature check (`auth: hmac_sha256`)
/// uses is at least [`MIN_SECRET_BYTES`] long: an empty or short key lets
/// anyone forge signatures. Errors name the secret (`secrets.<key>`).
pub fn check_signing_secrets(
    integration: &Integration,
    resolved: &ResolvedConfig,
) -> Result<(), InstanceError> {
    let mut errors: Vec<ValidationError> = Vec::new();
    for flow in &integration.flows {
        let Trigger::Webhook(webhook) = &flow.trigger else {
            continue;
        };
        let Some(key) = webhook
            .auth
            .as_ref()
            .and_then(|a| config_ref(&a.hmac_sha256.secret))
        else {
            continue;
        };
        let Some(secret) = resolved.get(key).and_then(Value::as_str) else {
            continue;
        };
        let path = format!("secrets.{key}");
        if secret.len() < MIN_SECRET_BYTES && !errors.iter().any(|e| e.path == path) {
            errors.push(ValidationError::new(
                path,
                format!(
                    "signing secret '{key}' is {} bytes; the webhook signature check of flow '{}' needs at least {MIN_SECRET_BYTES}",
                    secret.len(),
                    flow.name
                ),
            ));
        }
    }
    ValidationErrors::check(errors).map_err(InstanceError::Invalid)
}

/// Shortest signing secret accepted, in bytes. 16 bytes (128 bits) is the
/// floor for an HMAC key an attacker must not guess; senders such as GitHub
/// and Stripe hand out longer ones.
pub const MIN_SECRET_BYTES: usize = 16;

/// The read side of instances: stored records, their integration and the
/// config a flow runs with (secrets opened), and webhook URLs. This is what
/// the engine and the scheduler need; it submits nothing, so they can be
/// built before [`Instances`] (which submits lifecycle flows to them).
#[derive(Clone)]
pub struct InstanceConfigs {
    store: Arc<dyn Storage>,
    secrets: SecretBox,
    public_url: String,
}

impl std::fmt::Debug for InstanceConfigs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceConfigs")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// Instance operations over storage.
#[derive(Clone)]
pub struct Instances {
    configs: InstanceConfigs,
    lifecycle: Arc<dyn Lifecycle>,
    listener: Arc<dyn InstanceListener>,
    /// Woken whenever a status changes ([`Instances::wait_settled`]).
    status_changed: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Instances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instances")
            .field("configs", &self.configs)
            .finish_non_exhaustive()
    }
}

fn seal_context(instance: &str, key: &str) -> String {
    format!("{instance}/{key}")
}

impl InstanceConfigs {
    /// The read side over `store`; secrets open with `secrets`; webhook
    /// URLs start with `public_url`.
    pub fn new(store: Arc<dyn Storage>, secrets: SecretBox, public_url: &str) -> Self {
        Self {
            store,
            secrets,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    fn seal_all(
        &self,
        id: &str,
        secrets: &BTreeMap<String, String>,
    ) -> BTreeMap<String, SealedSecret> {
        secrets
            .iter()
            .map(|(k, v)| (k.clone(), self.secrets.seal(&seal_context(id, k), v)))
            .collect()
    }

    /// The stored instance.
    pub fn get(&self, id: &str) -> Result<InstanceRecord, InstanceError> {
        self.store
            .get_instance(id)?
            .ok_or_else(|| InstanceError::NotFound(id.to_owned()))
    }

    /// The integration version an instance runs (shared: the store keeps
    /// decoded versions, and every execution resolves its config).
    pub fn integration_of(
        &self,
        instance: &InstanceRecord,
    ) -> Result<Arc<IntegrationRecord>, InstanceError> {
        self.store
            .shared_integration(&instance.integration, instance.version)?
            .ok_or_else(|| InstanceError::UnknownIntegration(instance.integration_ref()))
    }

    /// The master key's box, for sealing what executions keep in clear
    /// (see `flow::Sealer`).
    pub fn secret_box(&self) -> SecretBox {
        self.secrets.clone()
    }

    /// The instance's secrets in clear (for resolving, never for showing).
    fn open_secrets(
        &self,
        instance: &InstanceRecord,
    ) -> Result<BTreeMap<String, String>, InstanceError> {
        instance
            .secrets
            .iter()
            .map(|(k, sealed)| {
                let value = self
                    .secrets
                    .open(&seal_context(&instance.id, k), k, sealed)?;
                Ok((k.clone(), value))
            })
            .collect()
    }

    /// The config a flow of `instance` runs with: values with defaults,
    /// secrets opened, secret keys marked for redaction.
    pub fn resolve_config(
        &self,
        instance: &InstanceRecord,
    ) -> Result<ResolvedConfig, InstanceError> {
        let integration = self.integration_of(instance)?;
        let secrets = self.open_secrets(instance)?;
        validate_instance_config(&integration.model, &instance.config, &secrets)
            .map_err(InstanceError::Invalid)
    }

    /// The webhook URL of each webhook flow: `{public_url}/hooks/{id}/{flow}`,
    /// and `{public_url}/hooks/{id}` for a preprocess flow.
    pub fn webhooks(
        &self,
        instance: &InstanceRecord,
        integration: &IntegrationRecord,
    ) -> BTreeMap<String, String> {
        integration
            .model
            .flows
            .iter()
            .filter_map(|flow| match &flow.trigger {
                Trigger::Webhook(w) if w.preprocess => Some((
                    flow.name.clone(),
                    format!("{}/hooks/{}", self.public_url, instance.id),
                )),
                Trigger::Webhook(_) => Some((
                    flow.name.clone(),
                    format!("{}/hooks/{}/{}", self.public_url, instance.id, flow.name),
                )),
                _ => None,
            })
            .collect()
    }
}

impl Instances {
    /// Instance operations over `configs`: enabling and disabling submit
    /// lifecycle flows through `lifecycle`; `listener` is told about every
    /// status and config change.
    pub fn new(
        configs: InstanceConfigs,
        lifecycle: Arc<dyn Lifecycle>,
        listener: Arc<dyn InstanceListener>,
    ) -> Self {
        Self {
            configs,
            lifecycle,
            listener,
            status_changed: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The read side these operations share with the engine.
    pub fn configs(&self) -> &InstanceConfigs {
        &self.configs
    }

    fn notify(&self, instance: &InstanceRecord) {
        self.listener.changed(instance);
    }

    /// Creates an instance after checking its config against the
    /// integration.
    pub fn create(&self, new: NewInstance) -> Result<InstanceRecord, InstanceError> {
        let integration =
            integration_versions::find(self.configs.store.as_ref(), &new.integration)?
                .ok_or_else(|| InstanceError::UnknownIntegration(new.integration.clone()))?;
        if self.configs.store.get_tenant(&new.tenant)?.is_none() {
            return Err(InstanceError::UnknownTenant(new.tenant));
        }
        let resolved = validate_instance_config(&integration.model, &new.config, &new.secrets)
            .map_err(InstanceError::Invalid)?;
        check_signing_secrets(&integration.model, &resolved)?;
        check_outbound_allow(&new.outbound_allow)?;
        let id = crate::model::InstanceId::new().into_string();
        let now = chrono::Utc::now();
        let record = InstanceRecord {
            secrets: self.configs.seal_all(&id, &new.secrets),
            id,
            tenant: new.tenant,
            integration: integration.name,
            version: integration.version,
            config: new.config,
            status: InstanceStatus::Created,
            last_lifecycle_execution: None,
            lifecycle_run: None,
            created_at: now,
            updated_at: now,
            outbound_allow: new.outbound_allow,
        };
        self.configs.store.create_instance(&record)?;
        tracing::info!(instance = %record.id, tenant = %record.tenant, integration = %record.integration_ref(), "instance created");
        Ok(record)
    }

    /// Applies a config change after re-validating the whole config.
    pub fn update(
        &self,
        id: &str,
        update: InstanceUpdate,
    ) -> Result<InstanceRecord, InstanceError> {
        let current = self.get(id)?;
        if update.integration.is_some() && current.status.is_transitional() {
            // Its lifecycle flows run from the version it has now.
            return Err(InstanceError::WrongState {
                id: id.to_owned(),
                status: current.status,
                hint: "wait until its lifecycle flows end before changing its integration",
            });
        }
        let integration = match &update.integration {
            // Only versions of the same integration: another integration
            // would make the stored config and state meaningless.
            Some(reference) => integration_versions::find(self.configs.store.as_ref(), reference)?
                .filter(|i| i.name == current.integration)
                .map(Arc::new)
                .ok_or_else(|| InstanceError::UnknownIntegration(reference.clone()))?,
            None => self.integration_of(&current)?,
        };
        let mut config = current.config.clone();
        for (key, value) in update.config {
            if value.is_null() {
                config.remove(&key);
            } else {
                config.insert(key, value);
            }
        }
        let mut secrets = self.configs.open_secrets(&current)?;
        secrets.extend(update.secrets.clone());
        let resolved = validate_instance_config(&integration.model, &config, &secrets)
            .map_err(InstanceError::Invalid)?;
        check_signing_secrets(&integration.model, &resolved)?;
        if let Some(patterns) = &update.outbound_allow {
            check_outbound_allow(patterns)?;
        }
        let sealed = self.configs.seal_all(id, &update.secrets);
        let version = integration.version;
        let updated = self.configs.store.update_instance(id, &mut |record| {
            record.version = version;
            record.config = config.clone();
            record.secrets.extend(sealed.clone());
            if let Some(patterns) = &update.outbound_allow {
                record.outbound_allow = patterns.clone();
            }
            record.updated_at = chrono::Utc::now();
        })?;
        let updated = updated.ok_or_else(|| InstanceError::NotFound(id.to_owned()))?;
        self.notify(&updated);
        Ok(updated)
    }

    /// The stored instance.
    pub fn get(&self, id: &str) -> Result<InstanceRecord, InstanceError> {
        self.configs.get(id)
    }

    /// The integration version an instance runs.
    pub fn integration_of(
        &self,
        instance: &InstanceRecord,
    ) -> Result<Arc<IntegrationRecord>, InstanceError> {
        self.configs.integration_of(instance)
    }

    /// The config a flow of `instance` runs with (see
    /// [`InstanceConfigs::resolve_config`]).
    pub fn resolve_config(
        &self,
        instance: &InstanceRecord,
    ) -> Result<ResolvedConfig, InstanceError> {
        self.configs.resolve_config(instance)
    }

    /// The webhook URL of each webhook flow (see
    /// [`InstanceConfigs::webhooks`]).
    pub fn webhooks(
        &self,
        instance: &InstanceRecord,
        integration: &IntegrationRecord,
    ) -> BTreeMap<String, String> {
        self.configs.webhooks(instance, integration)
    }
}

/// Checks a tenant name: a slug of lowercase letters, digits and `-`,
/// starting with a letter, at most 64 characters.
pub fn check_tenant_name(name: &str) -> Result<(), ValidationError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "name",
            format!(
                "invalid tenant name {name:?}: use lowercase letters, digits and '-', starting with a letter (at most 64)"
            ),
        ))
    }
}
