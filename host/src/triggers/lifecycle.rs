//! The lifecycle trigger, deploy and teardown as executions:
//! [`FlowLifecycle`] implements the instances' [`Lifecycle`] port by
//! submitting an instance's lifecycle flows through the submit port
//! ([`crate::submit::Submit`]; recorded like any execution),
//! and [`LifecycleFinishes`] passes each one that ends to [`LifecycleEnds`],
//! which tells the instances and so moves the instance's status on (see [`crate::instances::lifecycle`]).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;
use tokio::sync::mpsc;

use crate::instances::{Instances, Lifecycle, LifecycleExecution, LifecycleKind};
use crate::model::{ExecutionRecord, ExecutionStatus};
use crate::storage::InstanceRecord;
use crate::submit::{FinishListener, NewExecution, Submit, is_lifecycle_key};

/// Submits lifecycle flows through the submit port.
#[derive(Clone)]
pub struct FlowLifecycle {
    submit: Arc<dyn Submit>,
}

impl std::fmt::Debug for FlowLifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowLifecycle").finish_non_exhaustive()
    }
}

impl FlowLifecycle {
    /// Lifecycle flows started with `submit`.
    pub fn new(submit: Arc<dyn Submit>) -> Self {
        Self { submit }
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
                .submit
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

/// Passes the lifecycle executions that end on to [`LifecycleEnds`], so a
/// lifecycle transition moves on when its execution ends. The two halves
/// of a channel break the cycle engine → instances → engine: the engine
/// is built with this listener, [`Instances`] after the engine, and
/// [`LifecycleEnds::deliver`] runs once both exist.
#[derive(Debug)]
pub struct LifecycleFinishes {
    ended: mpsc::UnboundedSender<(String, String)>,
}

/// The receiving half of [`LifecycleFinishes`].
#[derive(Debug)]
pub struct LifecycleEnds {
    ended: mpsc::UnboundedReceiver<(String, String)>,
}

/// A listener for the engine and the receiver its ends arrive at.
pub fn lifecycle_finishes() -> (LifecycleFinishes, LifecycleEnds) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (
        LifecycleFinishes { ended: sender },
        LifecycleEnds { ended: receiver },
    )
}

impl FinishListener for LifecycleFinishes {
    fn finished(&self, record: &ExecutionRecord) {
        if let Some(key) = record
            .idempotency_key
            .as_deref()
            .filter(|k| is_lifecycle_key(k))
        {
            // Fails only once the receiver is gone, i.e. at shutdown.
            let _ = self.ended.send((record.instance.clone(), key.to_owned()));
        }
    }
}

impl LifecycleEnds {
    /// Tells `instances` about each lifecycle execution that ends, until
    /// the engine is dropped.
    pub async fn deliver(mut self, instances: Instances) {
        while let Some((instance, key)) = self.ended.recv().await {
            instances.lifecycle_execution_ended(&instance, Some(&key));
        }
    }
}
