//! Flow-wide run options of the integration file: how many executions of a
//! flow one instance runs at once ([`Concurrency`]). (A flow's `retry` is a
//! [`RetryPolicy`](super::RetryPolicy), the same shape as a step's.)

use serde::{Deserialize, Serialize};

/// A flow's `concurrency`: how its executions of one instance may overlap.
/// Other instances and tenants are never held back by it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    /// `parallel` (default), `throttled` or `sequential`.
    pub mode: ConcurrencyMode,
    /// For `throttled`: most executions of one instance running at once
    /// (1 to [`Concurrency::MAX_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// How a flow's executions of one instance may overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrencyMode {
    /// No bound beyond the tenant's (default).
    #[default]
    Parallel,
    /// At most `limit` at once.
    Throttled,
    /// One at a time, in arrival order (an "updated" never overtakes its
    /// "created").
    Sequential,
}

impl Concurrency {
    /// Largest `limit` a throttled flow may name (more is `parallel`
    /// under the tenant's own cap).
    pub const MAX_LIMIT: u32 = 1_000;

    /// Whether this is the default (`parallel`, no limit).
    pub fn is_parallel(&self) -> bool {
        *self == Self::default()
    }

    /// Most executions of one instance running at once (`None`: no bound),
    /// and whether they start strictly in arrival order.
    pub fn bounds(&self) -> (Option<u32>, bool) {
        match self.mode {
            ConcurrencyMode::Parallel => (None, false),
            ConcurrencyMode::Throttled => (Some(self.limit.unwrap_or(1).max(1)), false),
            ConcurrencyMode::Sequential => (Some(1), true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{errors_of, file};
    use super::*;

    const STEPS: &str = "    steps:\n      - { id: a, component: acme@1.0.0, action: reserve, input: { sku: x } }\n";

    fn flow(trigger: &str, options: &str) -> String {
        file(&format!(
            "  - name: f\n    trigger: {trigger}\n{options}{STEPS}"
        ))
    }

    #[test]
    fn concurrency_and_retry_parse_with_defaults() {
        let text = flow(
            "{ type: webhook }",
            "    concurrency: { mode: throttled, limit: 3 }\n    retry: { attempts: 3 }\n",
        );
        assert_eq!(errors_of(&text), []);
        let parsed = crate::integration::parse(&text).unwrap();
        let f = &parsed.flows[0];
        assert_eq!(f.concurrency.bounds(), (Some(3), false));
        assert_eq!(f.retry.as_ref().unwrap().attempts, 3);
        let plain = crate::integration::parse(&flow("{ type: manual }", "")).unwrap();
        assert!(plain.flows[0].concurrency.is_parallel());
        assert_eq!(plain.flows[0].concurrency.bounds(), (None, false));
        let sequential = Concurrency {
            mode: ConcurrencyMode::Sequential,
            limit: None,
        };
        assert_eq!(sequential.bounds(), (Some(1), true));
    }

    #[test]
    fn bad_options_name_their_path() {
        let cases = [
            (
                flow("{ type: webhook }", "    concurrency: { mode: serial }\n"),
                "flows[0].concurrency.mode",
                "unknown variant `serial`",
            ),
            (
                flow(
                    "{ type: webhook }",
                    "    concurrency: { mode: throttled }\n",
                ),
                "flows[0].concurrency.limit",
                "a throttled flow needs a limit",
            ),
            (
                flow(
                    "{ type: webhook }",
                    "    concurrency: { mode: throttled, limit: 0 }\n",
                ),
                "flows[0].concurrency.limit",
                "limit must be between 1 and 1000, got 0",
            ),
            (
                flow(
                    "{ type: webhook }",
                    "    concurrency: { mode: sequential, limit: 2 }\n",
                ),
                "flows[0].concurrency.limit",
                "a limit applies only to mode: throttled",
            ),
            (
                flow(
                    "{ type: webhook }",
                    "    concurrency: { mode: parallel, max: 2 }\n",
                ),
                "flows[0].concurrency.max",
                "unknown field `max`",
            ),
            (
                flow(
                    "{ type: webhook, mode: sync }",
                    "    retry: { attempts: 2 }\n",
                ),
                "flows[0].retry",
                "a flow-level retry needs an async flow",
            ),
            (
                flow("{ type: deploy }", "    retry: { attempts: 2 }\n"),
                "flows[0].retry",
                "deploy and teardown flows cannot retry at flow level",
            ),
            (
                flow("{ type: manual }", "    retry: { attempts: 0 }\n"),
                "flows[0].retry.attempts",
                "attempts must be between 1 and 20",
            ),
        ];
        for (text, path, needle) in &cases {
            let errors = errors_of(text);
            assert!(
                errors
                    .iter()
                    .any(|e| e.path == *path && e.message.contains(needle)),
                "expected {path}: {needle}, got {errors:?}"
            );
        }
    }
}
