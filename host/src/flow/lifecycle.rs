//! Deploy and teardown: enabling an instance runs its `deploy` flows,
//! disabling it runs its `teardown` flows, each to its end, through the
//! durable engine (so they are recorded like any execution).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;

use super::engine::{FlowEngine, NewExecution};
use super::executor::ComponentSource;
use super::record::ExecutionStatus;
use crate::instances::{Lifecycle, LifecycleOutcome};
use crate::integration::{Trigger, split_component_ref};
use crate::registry::ComponentRegistry;
use crate::sandbox::LoadedComponent;
use crate::storage::{InstanceRecord, Storage};

/// Runs lifecycle flows through the engine.
#[derive(Debug, Clone)]
pub struct FlowLifecycle {
    engine: Arc<FlowEngine>,
    store: Arc<dyn Storage>,
}

impl FlowLifecycle {
    /// Lifecycle flows run by `engine`, integrations read from `store`.
    pub fn new(engine: Arc<FlowEngine>, store: Arc<dyn Storage>) -> Self {
        Self { engine, store }
    }

    async fn run(&self, instance: &InstanceRecord, kind: &'static str) -> LifecycleOutcome {
        let integration = match self
            .store
            .get_integration(&instance.integration, instance.version)
        {
            Ok(Some(integration)) => integration,
            Ok(None) | Err(_) => {
                tracing::error!(instance = %instance.id, "integration of instance not found");
                return LifecycleOutcome {
                    ok: false,
                    execution_id: None,
                };
            }
        };
        let flows = integration.model.flows.iter().filter(|f| match kind {
            "deploy" => matches!(f.trigger, Trigger::Deploy),
            _ => matches!(f.trigger, Trigger::Teardown),
        });
        let mut outcome = LifecycleOutcome {
            ok: true,
            execution_id: None,
        };
        for flow in flows {
            let run = self
                .engine
                .run_to_end(NewExecution {
                    instance: instance.id.clone(),
                    flow: flow.name.clone(),
                    trigger: json!({ "type": kind }),
                    ..NewExecution::default()
                })
                .await;
            match run {
                Ok(record) => {
                    outcome.execution_id = Some(record.id.clone());
                    if record.status != ExecutionStatus::Succeeded {
                        outcome.ok = false;
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(instance = %instance.id, flow = %flow.name, error = %e, "lifecycle flow could not run");
                    outcome.ok = false;
                    break;
                }
            }
        }
        outcome
    }
}

impl Lifecycle for FlowLifecycle {
    fn deploy<'a>(&'a self, instance: &'a InstanceRecord) -> BoxFuture<'a, LifecycleOutcome> {
        Box::pin(self.run(instance, "deploy"))
    }

    fn teardown<'a>(&'a self, instance: &'a InstanceRecord) -> BoxFuture<'a, LifecycleOutcome> {
        Box::pin(self.run(instance, "teardown"))
    }
}

impl ComponentSource for ComponentRegistry {
    fn resolve(&self, reference: &str) -> Option<LoadedComponent> {
        let (name, version) = split_component_ref(reference)?;
        self.get(name, version).map(|r| r.component.clone())
    }
}
