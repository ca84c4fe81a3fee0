//! Prometheus metrics served at `GET /metrics`.
//!
//! One [`Metrics`] per server, shared as `Arc<Metrics>`. Each subsystem owns
//! its metric handles as fields here (cheap clones of atomics) and the text
//! exposition is rendered from one `prometheus-client` registry, under the
//! `weft_` prefix. A subsystem either adds fields in [`Metrics::new`] or,
//! like the flow engine's execution counters and step histograms,
//! registers its own at start with [`Metrics::register`].

use std::sync::{Arc, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Metric, Registry};

use crate::sandbox::OutboundStats;

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: RwLock<Registry>,
    /// Components compiled from `.wasm` bytes (uploads, built-ins seen for
    /// the first time, and recompilations after an engine change); loading
    /// a stored artifact does not count. Exposed as
    /// `weft_component_compilations_total`.
    pub component_compilations: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric of the control plane registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("weft");
        let component_compilations = Counter::default();
        registry.register(
            "component_compilations",
            "Components compiled from their bytes (not loaded from a stored artifact)",
            component_compilations.clone(),
        );
        Self {
            registry: RwLock::new(registry),
            component_compilations,
        }
    }

    /// Registers another metric (`name` without the `weft_` prefix; counters
    /// get `_total` appended).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .register(name, help, metric);
    }

    /// Registers a collector, read at each scrape.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .register_collector(collector);
    }

    /// Exposes the sandbox's outbound request counters as
    /// `weft_outbound_requests_total{component, outcome}`, read at each scrape.
    pub fn export_outbound(&self, stats: Arc<OutboundStats>) {
        self.registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .register_collector(Box::new(OutboundCollector(stats)));
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboundLabels {
    component: String,
    outcome: &'static str,
}

/// Renders [`OutboundStats`] at scrape time.
#[derive(Debug)]
struct OutboundCollector(Arc<OutboundStats>);

impl Collector for OutboundCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let family = Family::<OutboundLabels, Counter>::default();
        for count in self.0.snapshot() {
            family
                .get_or_create(&OutboundLabels {
                    component: count.component,
                    outcome: count.outcome.as_str(),
                })
                .inc_by(count.count);
        }
        let metric = encoder.encode_descriptor(
            "outbound_requests",
            "Outbound HTTP requests of components, by outcome",
            None,
            Family::<OutboundLabels, Counter>::TYPE,
        )?;
        family.encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_counts_are_exposed() {
        let metrics = Metrics::new();
        let stats = Arc::new(OutboundStats::default());
        metrics.export_outbound(stats.clone());
        stats.record("acme@1.0.0", crate::sandbox::OutboundOutcome::Denied);
        stats.record("acme@1.0.0", crate::sandbox::OutboundOutcome::Denied);
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"weft_outbound_requests_total{component="acme@1.0.0",outcome="denied"} 2"#
            ),
            "{text}"
        );
    }

    #[test]
    fn compilations_counter_is_exposed() {
        let metrics = Metrics::new();
        metrics.component_compilations.inc();
        let text = metrics.encode();
        assert!(
            text.contains("weft_component_compilations_total 1"),
            "{text}"
        );
    }
}
