//! Upload-time checks of a flow's run options: `concurrency` (a limit only
//! for `throttled`, and within bounds) and the flow-level `retry` (the
//! shape of a step's, and only where nobody waits for the run).

use super::*;
use crate::integration::flow_options::{Concurrency, ConcurrencyMode};

impl Validator<'_> {
    pub(super) fn flow_options(&mut self, path: &str, flow: &Flow) {
        let concurrency = &flow.concurrency;
        let limit_path = format!("{path}.concurrency.limit");
        match (concurrency.mode, concurrency.limit) {
            (ConcurrencyMode::Throttled, None) => self.err(
                limit_path,
                "a throttled flow needs a limit: the most executions of one instance at once",
            ),
            (ConcurrencyMode::Throttled, Some(limit))
                if !(1..=Concurrency::MAX_LIMIT).contains(&limit) =>
            {
                self.err(
                    limit_path,
                    format!(
                        "limit must be between 1 and {}, got {limit}",
                        Concurrency::MAX_LIMIT
                    ),
                );
            }
            (ConcurrencyMode::Parallel | ConcurrencyMode::Sequential, Some(_)) => self.err(
                limit_path,
                "a limit applies only to mode: throttled (sequential is one at a time, \
                 parallel has none)",
            ),
            _ => {}
        }
        let Some(retry) = &flow.retry else { return };
        let retry_path = format!("{path}.retry");
        match &flow.trigger {
            Trigger::Webhook(w) if w.mode == WebhookMode::Sync || w.preprocess => self.err(
                retry_path,
                "a flow-level retry needs an async flow: a sync webhook's caller does not wait \
                 for a later attempt; retry the step instead, or use mode: async",
            ),
            Trigger::Deploy | Trigger::Teardown => self.err(
                retry_path,
                "deploy and teardown flows cannot retry at flow level: the instance's status \
                 waits on their end; retry the step instead",
            ),
            _ => retry_checks(&retry_path, retry, &mut self.errors),
        }
    }
}
