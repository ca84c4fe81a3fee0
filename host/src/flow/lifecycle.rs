//! Deploy and teardown through the durable engine: [`FlowLifecycle`]
//! submits an instance's lifecycle flows (recorded like any execution),
//! and [`LifecycleFinishes`] tells the instances when one ends, which
//! moves the instance's status on (see [`crate::instances::lifecycle`]).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;

use super::engine::{FinishListener, FlowEngine, NewExecution};
use super::executor::ComponentSource;
use crate::instances::{Instances, Lifecycle, LifecycleExecution, LifecycleKind};
use crate::integration::split_component_ref;
use crate::model::{ExecutionRecord, ExecutionStatus};
use crate::registry::ComponentRegistry;
use crate::sandbox::LoadedComponent;
use crate::storage::InstanceRecord;

/// Submits lifecycle flows to the engine.
#[derive(Debug, Clone)]
pub struct FlowLifecycle {
    engine: Arc<FlowEngine>,
}

impl FlowLifecycle {
    /// Lifecycle flows run by `engine`.
    pub fn new(engine: Arc<FlowEngine>) -> Self {
        Self { engine }
    }
}

impl Lifecycle for FlowLifecycle {
    fn submit<'a>(
        &'a self,
        instance: &'a InstanceRecord,
        flow: &'a str,
        kind: LifecycleKind,
        key: &'a str,
    ) -> BoxFuture<'a, Result<LifecycleExecution, String>> {
        Box::pin(async move {
            let submitted = self
                .engine
                .submit(NewExecution {
                    instance: instance.id.clone(),
                    flow: flow.to_owned(),
                    trigger: json!({ "type": kind.as_str() }),
                    idempotency_key: Some(key.to_owned()),
                    ..NewExecution::default()
                })
                .await
                .map_err(|e| e.to_string())?;
            let status = submitted.record.status;
            Ok(LifecycleExecution {
                id: submitted.record.id,
                outcome: status
                    .is_finished()
                    .then_some(status == ExecutionStatus::Succeeded),
            })
        })
    }
}

/// Tells the instances about every execution that ends, so a lifecycle
/// transition moves on when its execution ends.
#[derive(Debug)]
pub struct LifecycleFinishes {
    instances: Instances,
}

impl LifecycleFinishes {
    /// A listener for `instances` (the fully wired one).
    pub fn new(instances: Instances) -> Self {
        Self { instances }
    }
}

impl FinishListener for LifecycleFinishes {
    fn finished(&self, record: &ExecutionRecord) {
        self.instances
            .lifecycle_execution_ended(&record.instance, record.idempotency_key.as_deref());
    }
}

impl ComponentSource for ComponentRegistry {
    fn resolve(&self, reference: &str) -> Option<LoadedComponent> {
        let (name, version) = split_component_ref(reference)?;
        self.get(name, version).map(|r| r.component.clone())
    }
}
