//! The engine's side of the durable queue: one claim loop per node takes
//! entries from the store's [`Queue`](crate::storage::Queue) (which applies
//! the per-tenant cap, the flows' concurrency and the sync-first order),
//! runs each on a worker of its own, renews the leases while they run, and
//! acks an execution that ended or releases it for a flow-level retry.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use super::engine::FlowEngine;
use crate::integration::RetryPolicy;
use crate::model::{ExecutionStatus, FlowAttempt};
use crate::storage::{ClaimRequest, Lane, QueueEntry};

/// How long a claim holds an execution before another node may take it;
/// renewed every third of it while the execution runs.
pub const LEASE: Duration = Duration::from_secs(30);

/// How often an idle node looks at the queue without being woken by its
/// own submits and ends (for entries whose retry delay passed, and for
/// entries other nodes of a shared store queued).
pub const QUEUE_POLL: Duration = Duration::from_secs(1);

/// What became of a claimed execution.
pub(super) enum Outcome {
    /// It ended (or had ended): its entry goes.
    Ended,
    /// A flow-level retry runs it again, not before this time.
    RetryAt(DateTime<Utc>),
}

fn lease_from(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::from_std(LEASE).unwrap_or_else(|_| chrono::Duration::seconds(30))
}

impl FlowEngine {
    /// Claims executions while workers are free and runs them.
    pub(super) async fn claim_loop(self: Arc<Self>) {
        let workers = Arc::new(Semaphore::new(self.config.workers.max(1)));
        loop {
            let Ok(first) = workers.clone().acquire_owned().await else {
                return;
            };
            let now = Utc::now();
            let claimed = self.store.claim(&ClaimRequest {
                node: &self.node,
                now,
                lease_until: lease_from(now),
                per_tenant: self.config.per_tenant,
                max: 1 + workers.available_permits(),
            });
            let entries = match claimed {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim queued executions");
                    Vec::new()
                }
            };
            if entries.is_empty() {
                drop(first);
                // A submit or an end here wakes us (a wake-up given while
                // nobody waits is kept for the next wait).
                let _ = tokio::time::timeout(QUEUE_POLL, self.ready.notified()).await;
                continue;
            }
            self.room_made();
            let mut permit = Some(first);
            for entry in entries {
                let permit = match permit.take() {
                    Some(permit) => permit,
                    // Only this loop takes permits: the ones counted free
                    // before the claim are still free.
                    None => match workers.clone().acquire_owned().await {
                        Ok(permit) => permit,
                        Err(_) => return,
                    },
                };
                self.held().insert(entry.execution.clone());
                let engine = self.clone();
                tokio::spawn(async move {
                    engine.run_claimed(entry).await;
                    drop(permit);
                });
            }
        }
    }

    /// Renews this node's leases until the engine goes away.
    pub(super) async fn renew_loop(engine: std::sync::Weak<Self>) {
        let mut every = tokio::time::interval(LEASE / 3);
        loop {
            every.tick().await;
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let held: Vec<String> = engine.held().iter().cloned().collect();
            if held.is_empty() {
                continue;
            }
            match engine
                .store
                .renew(&engine.node, &held, lease_from(Utc::now()))
            {
                Ok(mut lost) => {
                    // An execution that ended meanwhile was acked, not lost.
                    lost.retain(|id| engine.held().contains(id));
                    if !lost.is_empty() {
                        tracing::warn!(executions = ?lost, "lost the lease of running executions");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot renew execution leases"),
            }
        }
    }

    /// Runs one claimed execution on its own task (a panic there must not
    /// take the worker with it), then acks or releases its entry.
    async fn run_claimed(self: Arc<Self>, entry: QueueEntry) {
        let id = entry.execution.clone();
        let engine = self.clone();
        let outcome = match tokio::spawn(async move { engine.execute(&entry).await }).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(execution_id = %id, error = %e, "execution panicked");
                // A sync caller hears of this end: on disk first.
                if let Err(e) = self.store.durable().await {
                    tracing::error!(execution_id = %id, error = %e, "cannot make the execution durable");
                }
                self.end(
                    &id,
                    &super::FlowResult::failed(
                        "internal error while running the flow; see the server log",
                    ),
                );
                Outcome::Ended
            }
        };
        // No longer renewed from here on: the entry goes or is released.
        self.held().remove(&id);
        let settled = match outcome {
            Outcome::Ended => self.store.ack(&self.node, &id),
            Outcome::RetryAt(at) => {
                let settled = self.store.release(&self.node, &id, Some(at));
                self.wake_at(at);
                settled
            }
        };
        if let Err(e) = settled {
            tracing::error!(execution_id = %id, error = %e, "cannot settle the queue entry");
        }
        self.ready.notify_one();
    }

    /// Wakes the claim loop at `at` (a retry's delay ended).
    fn wake_at(self: &Arc<Self>, at: DateTime<Utc>) {
        let engine = Arc::downgrade(self);
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(engine) = engine.upgrade() {
                engine.ready.notify_one();
            }
        });
    }

    /// Runs a claimed execution from where its record says it is.
    pub(super) async fn execute(&self, entry: &QueueEntry) -> Outcome {
        let id = entry.execution.as_str();
        // Marks it running and reads it in one update: the status it had
        // says whether it ended already (a crash after its end, before the
        // ack) or resumes.
        let mut was = None;
        let started = self.store.update_execution(id, &mut |r| {
            was = Some(r.status);
            if r.status.is_finished() {
                return;
            }
            if r.status == ExecutionStatus::Running {
                r.resumed += 1;
            }
            r.status = ExecutionStatus::Running;
            if r.started_at.is_none() {
                r.started_at = Some(Utc::now());
            }
        });
        let record = match (started, was) {
            (Ok(Some(record)), Some(status)) if !status.is_finished() => record,
            // Ended already, or no execution (a queue entry a crash left
            // without its execution): the entry goes.
            (Ok(_), _) => return Outcome::Ended,
            (Err(e), _) => {
                tracing::error!(execution_id = %id, error = %e, "cannot mark execution running");
                return Outcome::Ended;
            }
        };
        let resumed = was == Some(ExecutionStatus::Running);
        // Only an execution that ran before (resumed, or retried by the
        // API or its flow's `retry`) has step records to resume after; the
        // updated record does not carry them.
        let record = if resumed || record.retries > 0 || !record.attempts.is_empty() {
            match self.store.get_execution(id) {
                Ok(Some(record)) => record,
                Ok(None) => return Outcome::Ended,
                Err(e) => {
                    tracing::error!(execution_id = %id, error = %e, "cannot load execution");
                    return Outcome::Ended;
                }
            }
        } else {
            record
        };
        let waited = (Utc::now() - record.created_at)
            .to_std()
            .unwrap_or_default();
        self.metrics.queue_wait.observe(waited.as_secs_f64());
        let observer = super::observer::PersistingObserver {
            engine: self,
            id,
            // Only a new sync execution may not be on disk yet.
            on_disk: (entry.lane == Lane::Async || resumed).into(),
            pending: false.into(),
        };
        let (result, retry) = match self.flow_run(record) {
            Ok(run) => (self.executor.run(&run, &observer).await, run.flow.retry),
            Err(message) => (super::FlowResult::failed(message), None),
        };
        // Nobody waits for a later attempt of an async run.
        if let Some(policy) = retry.filter(|_| entry.lane == Lane::Async)
            && let Some(at) = self.retry_later(id, &result, &policy).await
        {
            return Outcome::RetryAt(at);
        }
        // Its caller hears of the end: the execution is on disk first.
        observer.ensure_on_disk().await;
        self.end(id, &result);
        // The last steps' records go to disk with the end (nobody waits:
        // the caller has heard already), so a crash now re-runs nothing.
        observer.flush_pending().await;
        Outcome::Ended
    }

    /// After a retryable failure with attempts left under the flow's
    /// `retry`: records the failed run as an attempt, puts the execution
    /// back to `queued` without its failed step records (the steps that
    /// succeeded are not run again) and returns when the next attempt is
    /// due. `None` to end the execution as it is.
    async fn retry_later(
        &self,
        id: &str,
        result: &super::FlowResult,
        policy: &RetryPolicy,
    ) -> Option<DateTime<Utc>> {
        if result.status != ExecutionStatus::Failed || !result.retryable {
            return None;
        }
        let failed_step = result.failed_step.clone()?;
        let record = self.store.get_execution(id).ok()??;
        let attempt = u32::try_from(record.attempts.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        if attempt >= policy.attempts {
            return None;
        }
        let delay = policy.delay_after(attempt);
        let now = Utc::now();
        let retry_at = now + chrono::Duration::from_std(delay).ok()?;
        let error = result.error.clone().unwrap_or_default();
        // Its entry stays, leased until the worker releases it: a crash
        // before that lets another claim run the attempt.
        let requeued = self.store.requeue(
            id,
            &mut |r| {
                r.status = ExecutionStatus::Queued;
                r.attempts.push(FlowAttempt {
                    failed_step: failed_step.clone(),
                    error: error.clone(),
                    failed_at: now,
                    retry_at,
                });
                true
            },
            None,
        );
        let durable = self.store.durable().await;
        if let Err(e) = requeued.and(durable) {
            tracing::error!(execution_id = %id, error = %e, "cannot record a flow retry");
            return None;
        }
        tracing::info!(
            execution_id = %id,
            attempt,
            delay_ms = delay.as_millis() as u64,
            step = %failed_step,
            "flow failed retryably; retrying from the failed step"
        );
        Some(retry_at)
    }
}
