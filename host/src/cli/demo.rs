//! `weft serve --demo FILE`: seeds a ready-to-call demo (the integration in
//! FILE, tenant `demo`, one enabled instance, waiting for its deploy flows to
//! end) and prints its webhook URLs.
//! Idempotent: a second start with the same data dir reuses all three.

use std::path::Path;

use anyhow::Context as _;

use crate::instances::NewInstance;
use crate::integration_versions::PushError;
use crate::server::AppState;
use crate::storage::{Inserted, InstanceStatus, TenantRecord};

/// The demo tenant's name.
pub const DEMO_TENANT: &str = "demo";

/// How long seeding waits for the demo instance's deploy flows to end
/// before printing it as it is (`deploying`) and serving anyway.
const DEMO_DEPLOY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// Seeds the demo and prints how to call it.
pub async fn seed(state: &AppState, file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("failed to read demo integration {}", file.display()))?;
    let integration = match crate::server::integrations::push(state, text).await {
        Ok(pushed) => pushed.record,
        Err(PushError::Conflict(reference)) => {
            // The file changed since the data dir was seeded: keep using
            // the stored version.
            tracing::warn!(integration = %reference, "demo file differs from the stored version; using the stored one");
            let model = crate::integration::parse(&std::fs::read_to_string(file)?)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            state
                .store
                .get_integration(&model.name, model.version)?
                .with_context(|| format!("integration {reference} vanished"))?
        }
        Err(PushError::Invalid(errors)) => {
            anyhow::bail!("demo integration {} is invalid:\n{errors}", file.display())
        }
        Err(e) => return Err(e.into()),
    };
    let tenant = TenantRecord {
        name: DEMO_TENANT.to_owned(),
        created_at: chrono::Utc::now(),
    };
    if let Inserted::Created = state.store.insert_tenant(&tenant)? {
        tracing::info!(tenant = DEMO_TENANT, "demo tenant created");
    }
    let existing = state
        .store
        .list_instances(Some(DEMO_TENANT))?
        .into_iter()
        .find(|i| i.integration == integration.name && i.version == integration.version);
    let mut instance = match existing {
        Some(instance) => instance,
        None => state.instances.create(NewInstance {
            integration: integration.reference(),
            tenant: DEMO_TENANT.to_owned(),
            ..NewInstance::default()
        })?,
    };
    if instance.status.is_transitional() {
        // A restart during the demo's own deploy: it resumes by itself.
        instance = state
            .instances
            .wait_settled(&instance.id, DEMO_DEPLOY_DEADLINE)
            .await?;
    }
    if instance.status != InstanceStatus::Active {
        state.instances.enable(&instance.id).await?;
        instance = state
            .instances
            .wait_settled(&instance.id, DEMO_DEPLOY_DEADLINE)
            .await?;
    }
    let webhooks = state.instances.webhooks(&instance, &integration);
    println!(
        "demo: instance {} of {} for tenant {} ({})",
        instance.id,
        integration.reference(),
        DEMO_TENANT,
        instance.status.as_str()
    );
    for (flow, url) in &webhooks {
        println!("demo: webhook {flow:<8} {url}");
    }
    if let Some((flow, url)) = webhooks
        .iter()
        .find(|(f, _)| f.as_str() == "echo")
        .or(webhooks.iter().next())
    {
        println!(
            "demo: try flow {flow}:\n\n    curl -X POST {url} -H 'content-type: application/json' -d '{{\"text\": \"hello\"}}'\n"
        );
    }
    Ok(())
}
