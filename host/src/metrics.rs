//! Prometheus metrics served at `GET /metrics`.
//!
//! One [`Metrics`] per server, shared as `Arc<Metrics>`. Each subsystem owns
//! its metric handles as fields here (cheap clones of atomics) and the text
//! exposition is rendered from one `prometheus-client` registry, under the
//! `weft_` prefix. A subsystem added later (the flow engine's execution
//! counters and step histograms) either adds fields in [`Metrics::new`] or
//! registers its own at start with [`Metrics::register`].

use std::sync::RwLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::{Metric, Registry};

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

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
