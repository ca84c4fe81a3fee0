//! The flow engine's Prometheus metrics: executions by status, step
//! duration and fuel, queue depth and submits refused (429) by tenant,
//! queue wait, and failures by tenant, integration and flow.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use std::sync::Weak;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::TypedMetric as _;

use super::FlowEngine;
use crate::metrics::Metrics;
use crate::model::{ExecutionStatus, StepRecord};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailedLabels {
    tenant: String,
    integration: String,
    flow: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabel {
    kind: String,
    status: &'static str,
}

/// Handles to the engine's metrics.
#[derive(Debug)]
pub struct EngineMetrics {
    /// Executions stored (`weft_executions_submitted_total`).
    pub submitted: Counter,
    /// Submits refused because the tenant's queue was full
    /// (`weft_executions_refused_total`).
    refused: Counter,
    /// The same by tenant (`weft_queue_rejected_total{tenant}`).
    rejected: Family<TenantLabel, Counter>,
    executions: Family<StatusLabel, Counter>,
    failed: Family<FailedLabels, Counter>,
    steps: Family<StepLabel, Histogram>,
    step_fuel: Histogram,
    /// Seconds from queued to started (`weft_queue_wait_seconds`).
    pub queue_wait: Histogram,
}

impl EngineMetrics {
    /// Creates and registers the metrics.
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            submitted: Counter::default(),
            refused: Counter::default(),
            rejected: Family::default(),
            executions: Family::default(),
            failed: Family::default(),
            steps: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.0, 16))
            }),
            step_fuel: Histogram::new(exponential_buckets(1000.0, 4.0, 12)),
            queue_wait: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
        };
        metrics.register(
            "executions_submitted",
            "Executions stored and queued",
            this.submitted.clone(),
        );
        metrics.register(
            "executions_refused",
            "Submits refused because the tenant had max_queued_per_tenant executions queued",
            this.refused.clone(),
        );
        metrics.register(
            "executions",
            "Executions that ended, by status",
            this.executions.clone(),
        );
        metrics.register(
            "executions_failed",
            "Executions that failed, by tenant, integration (name) and flow",
            this.failed.clone(),
        );
        metrics.register(
            "step_duration_seconds",
            "Step wall time (including retries), by kind and status",
            this.steps.clone(),
        );
        metrics.register(
            "step_fuel",
            "Fuel used per action step",
            this.step_fuel.clone(),
        );
        metrics.register(
            "queue_rejected",
            "Submits refused with 429 because the tenant had max_queued_per_tenant executions queued, by tenant",
            this.rejected.clone(),
        );
        metrics.register(
            "queue_wait_seconds",
            "Time from queued to started",
            this.queue_wait.clone(),
        );
        this
    }

    /// Exposes `weft_queue_depth{tenant}`, read from `engine` at each
    /// scrape (nothing once the engine is gone).
    pub fn export_queues(metrics: &Metrics, engine: Weak<FlowEngine>) {
        metrics.register_collector(Box::new(QueueCollector(engine)));
    }

    /// Counts a submit of `tenant` refused because its queue was full.
    pub fn refused(&self, tenant: &str) {
        self.refused.inc();
        self.rejected
            .get_or_create(&TenantLabel {
                tenant: tenant.to_owned(),
            })
            .inc();
    }

    /// Counts an ended execution.
    pub fn finished(&self, status: ExecutionStatus) {
        self.executions
            .get_or_create(&StatusLabel {
                status: status.as_str(),
            })
            .inc();
    }

    /// Counts a failed execution by tenant, integration name and flow.
    pub fn failed(&self, record: &crate::model::ExecutionRecord) {
        let integration = record
            .integration
            .split_once('@')
            .map_or(record.integration.as_str(), |(name, _)| name);
        self.failed
            .get_or_create(&FailedLabels {
                tenant: record.tenant.clone(),
                integration: integration.to_owned(),
                flow: record.flow.clone(),
            })
            .inc();
    }

    /// Records a finished step.
    pub fn step(&self, record: &StepRecord) {
        let status = match record.status {
            crate::model::StepStatus::Succeeded => "succeeded",
            crate::model::StepStatus::Failed => "failed",
        };
        self.steps
            .get_or_create(&StepLabel {
                kind: record.kind.clone(),
                status,
            })
            .observe(record.duration.as_secs_f64());
        if record.kind == "action" {
            self.step_fuel.observe(record.fuel_used as f64);
        }
    }
}

/// Renders the engine's queue depth by tenant at scrape time.
#[derive(Debug)]
struct QueueCollector(Weak<FlowEngine>);

impl Collector for QueueCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let Some(engine) = self.0.upgrade() else {
            return Ok(());
        };
        let family = Family::<TenantLabel, Gauge>::default();
        for (tenant, depth) in engine.queue_depths() {
            family
                .get_or_create(&TenantLabel { tenant })
                .set(i64::try_from(depth).unwrap_or(i64::MAX));
        }
        let metric = encoder.encode_descriptor(
            "queue_depth",
            "Executions waiting for a worker, by tenant",
            None,
            Family::<TenantLabel, Gauge>::TYPE,
        )?;
        family.encode(metric)
    }
}
