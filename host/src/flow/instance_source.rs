//! [`InstanceSource`]: what the engine reads about an instance to run its
//! flows, a port the engine owns; the instances' read side implements it
//! (wired in `node.rs`), so the engine never names the instances module.

use std::collections::BTreeMap;

use crate::integration::ResolvedConfig;
use crate::storage::{InstanceRecord, IntegrationRecord, SecretBox};

/// The instance facts a run needs beyond the stored records.
pub trait InstanceSource: Send + Sync {
    /// The config a flow of `instance` runs with: defaults applied, secrets
    /// opened and marked for redaction; the error says why it cannot be.
    fn resolve_config(&self, instance: &InstanceRecord) -> Result<ResolvedConfig, String>;

    /// The webhook URL of each webhook flow of `instance`, by flow name.
    fn webhooks(
        &self,
        instance: &InstanceRecord,
        integration: &IntegrationRecord,
    ) -> BTreeMap<String, String>;

    /// The master key's box, for sealing what executions keep in clear.
    fn secret_box(&self) -> SecretBox;
}
