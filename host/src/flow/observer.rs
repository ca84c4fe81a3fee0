//! The engine's observer of a running execution: persists each finished
//! step and the flow's response, and tells the caller waiting on the
//! execution, but only once the execution itself is on disk.
//!
//! A step's record is written when the step finishes and made durable
//! (sharing the fsync with concurrent executions) before the next
//! component call starts, so a step that finished before anything else
//! acted outside the host is never run again after a crash. Host-only
//! steps in between (a `respond`) do not wait for it: a sync flow's
//! answer goes out after one fsync fewer.

use std::sync::atomic::{AtomicBool, Ordering};

use super::engine::FlowEngine;
use super::executor::ExecutionObserver;
use crate::model::{FlowResponse, StepRecord};
use crate::submit::Progress;

/// Persists each finished step and the response as they happen.
pub(super) struct PersistingObserver<'a> {
    pub(super) engine: &'a FlowEngine,
    pub(super) id: &'a str,
    /// Whether the execution's own record is known to be on disk: a new
    /// sync execution is not until the first fsync after its submit (see
    /// [`FlowEngine::submit`]), and its caller hears nothing before.
    pub(super) on_disk: AtomicBool,
    /// Whether step records were written since the last fsync.
    pub(super) pending: AtomicBool,
}

impl PersistingObserver<'_> {
    /// Makes the execution durable unless it is known to be.
    pub(super) async fn ensure_on_disk(&self) {
        if !self.on_disk.load(Ordering::Acquire) {
            self.make_durable().await;
        }
    }

    /// Makes every record written so far durable, if steps were recorded
    /// since the last fsync.
    pub(super) async fn flush_pending(&self) {
        if self.pending.load(Ordering::Acquire) {
            self.make_durable().await;
        }
    }

    async fn make_durable(&self) {
        // Cleared before the fsync: a record written during it sets it again.
        self.pending.store(false, Ordering::Release);
        match self.engine.store.durable().await {
            // Everything written before, the execution too, is on disk.
            Ok(()) => self.on_disk.store(true, Ordering::Release),
            Err(e) => {
                self.pending.store(true, Ordering::Release);
                tracing::error!(execution_id = %self.id, error = %e, "cannot make the execution durable");
            }
        }
    }
}

impl ExecutionObserver for PersistingObserver<'_> {
    fn step_finished<'a>(&'a self, record: &'a StepRecord) -> futures::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            self.engine.metrics.step(record);
            match self.engine.store.put_step(self.id, record) {
                Ok(()) => self.pending.store(true, Ordering::Release),
                Err(e) => {
                    tracing::error!(execution_id = %self.id, step = %record.path, error = %e, "cannot persist step");
                }
            }
        })
    }

    fn before_action(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(self.flush_pending())
    }

    fn responded(&self, live: &FlowResponse, stored: &FlowResponse) {
        let persisted = self.engine.store.update_execution(self.id, &mut |r| {
            r.response = Some(stored.clone());
        });
        if let Err(e) = persisted {
            tracing::error!(execution_id = %self.id, error = %e, "cannot persist response");
        }
        let Some(sender) = self.engine.watchers().get(self.id).cloned() else {
            return;
        };
        let progress = Progress::Responded(live.clone());
        if self.on_disk.load(Ordering::Acquire) {
            sender.send_replace(progress);
            return;
        }
        // A response before any step: the caller hears of it once the
        // execution (and the response) are on disk.
        let store = self.engine.store.clone();
        let id = self.id.to_owned();
        tokio::spawn(async move {
            match store.durable().await {
                Ok(()) => {
                    sender.send_replace(progress);
                }
                Err(e) => {
                    tracing::error!(execution_id = %id, error = %e, "cannot make the execution durable");
                }
            }
        });
    }
}
