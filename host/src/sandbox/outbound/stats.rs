//! Counters of outbound requests by component and outcome, kept by the
//! sandbox so the server can export them (e.g. as a Prometheus counter
//! `weft_outbound_requests_total{component, outcome}`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// How one outbound request ended; every request counts exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboundOutcome {
    /// Passed the policy and a response (status and headers) arrived.
    Allowed,
    /// Refused by the policy (host not declared or not allowed, forbidden
    /// address, too many requests in flight); nothing was sent.
    Denied,
    /// Passed the policy but failed: dns, connect, tls, a timeout, or a
    /// declared body over the cap.
    Error,
}

impl OutboundOutcome {
    /// `allowed`, `denied` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for OutboundOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One counter of [`OutboundStats::snapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundCount {
    /// `name@version` of the component that sent the requests.
    pub component: String,
    /// How they ended.
    pub outcome: OutboundOutcome,
    /// How many, since the sandbox started.
    pub count: u64,
}

/// Outbound request counters of one [`Sandbox`](crate::sandbox::Sandbox),
/// shared by every step it runs.
#[derive(Debug, Default)]
pub struct OutboundStats {
    counts: Mutex<BTreeMap<(String, OutboundOutcome), u64>>,
}

impl OutboundStats {
    /// Counts one request of `component`.
    pub fn record(&self, component: &str, outcome: OutboundOutcome) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&(component.to_owned(), outcome)) {
            *count += 1;
        } else {
            counts.insert((component.to_owned(), outcome), 1);
        }
    }

    /// Every non-zero counter, sorted by component then outcome.
    pub fn snapshot(&self) -> Vec<OutboundCount> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts
            .iter()
            .map(|((component, outcome), count)| OutboundCount {
                component: component.clone(),
                outcome: *outcome,
                count: *count,
            })
            .collect()
    }

    /// The count for one component and outcome (0 if none).
    pub fn get(&self, component: &str, outcome: OutboundOutcome) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts
            .get(&(component.to_owned(), outcome))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_component_and_outcome() {
        let stats = OutboundStats::default();
        stats.record("a@1.0.0", OutboundOutcome::Allowed);
        stats.record("a@1.0.0", OutboundOutcome::Allowed);
        stats.record("a@1.0.0", OutboundOutcome::Denied);
        stats.record("b@2.0.0", OutboundOutcome::Error);
        assert_eq!(stats.get("a@1.0.0", OutboundOutcome::Allowed), 2);
        assert_eq!(stats.get("b@2.0.0", OutboundOutcome::Allowed), 0);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.len(), 3);
        assert_eq!(snapshot[0].component, "a@1.0.0");
        assert_eq!(snapshot[0].outcome, OutboundOutcome::Allowed);
        assert_eq!(snapshot[2].outcome, OutboundOutcome::Error);
    }
}
