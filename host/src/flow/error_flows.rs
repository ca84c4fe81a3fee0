//! Failure alerting: when an execution fails, the integration's error
//! flows (`trigger: {type: error}`) of the same instance are queued with
//! the failed execution's summary as `trigger.body`. An error flow's own
//! failure starts none (no loops).

use super::engine::FlowEngine;
use crate::integration::{Trigger, split_component_ref};
use crate::model::ExecutionRecord;
use crate::submit::NewExecution;

impl FlowEngine {
    /// Queues the integration's error flows (`trigger: {type: error}`)
    /// for a failed execution of another flow of the same instance. They
    /// are stored now and fsynced with the next group commit.
    pub(super) fn start_error_flows(&self, failed: &ExecutionRecord, failed_step: Option<&str>) {
        let Some((name, version)) = split_component_ref(&failed.integration)
            .and_then(|(n, v)| Some((n, v.parse::<u32>().ok()?)))
        else {
            return;
        };
        let Ok(Some(integration)) = self.store.get_integration(name, version) else {
            return;
        };
        let model = &integration.model;
        // An error flow that fails starts no other: no loops.
        if model
            .flow(&failed.flow)
            .is_none_or(|f| f.trigger == Trigger::Error)
        {
            return;
        }
        let body = serde_json::json!({
            "execution_id": failed.id,
            "flow": failed.flow,
            "error": failed.error,
            "failed_step": failed_step,
        });
        for flow in model.flows.iter().filter(|f| f.trigger == Trigger::Error) {
            let new = NewExecution {
                instance: failed.instance.clone(),
                flow: flow.name.clone(),
                trigger: serde_json::json!({ "type": "error", "body": body }),
                idempotency_key: Some(format!("error-flow:{}", failed.id)),
                ..NewExecution::default()
            };
            if let Err(e) = self.store_and_queue(new) {
                tracing::warn!(
                    execution_id = %failed.id,
                    error_flow = %flow.name,
                    error = %e,
                    "cannot start the error flow"
                );
            }
        }
    }
}
