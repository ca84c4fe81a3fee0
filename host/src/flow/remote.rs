//! Sync executions on a shared store, whichever node runs them: a caller
//! waits on the node that received its request (in that node's memory, a
//! `watch` of the execution's [`Progress`]), but any node may claim the
//! execution. The receiving node runs it itself when it can: the queue
//! entry names it as its *home* for [`HOME_FIRST`], and its claim loop,
//! woken by the submit, takes it within milliseconds when it has a free
//! worker. Past that any node takes it, so a busy receiving node does not
//! hold its caller's execution back until the sync timeout.
//!
//! When another node ran it, the receiving node learns of the response or
//! the end from the store: the store announces the id of each execution
//! whose response or end was stored ([`Storage::progress_events`], PostgreSQL
//! `LISTEN`/`NOTIFY`), and since an announcement may be missed, every
//! [`REMOTE_POLL`] it also asks the store which of the executions it
//! waits for have an answer ([`ExecutionStore::answered`], one read for
//! all). Only executions with a waiting caller that this node does not
//! run are read, so the work is bounded by the callers waiting here. The
//! waiters then get the stored (redacted) response or record; only the
//! node that ran the flow has the answer in clear.
//!
//! [`Storage::progress_events`]: crate::storage::Storage::progress_events
//! [`ExecutionStore::answered`]: crate::storage::ExecutionStore::answered

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::engine::FlowEngine;
use crate::model::ExecutionRecord;
use crate::submit::Progress;

/// How long only the receiving node may claim a sync execution. Its own
/// claim loop takes it at once when a worker is free (the submit wakes
/// it); this only covers a worker freeing up soon. After it, any node
/// claims it, in the sync-first order.
pub const HOME_FIRST: Duration = Duration::from_secs(1);

/// How often a node reads the store for the executions its callers wait
/// for on other nodes (in case an announcement was missed).
pub const REMOTE_POLL: Duration = Duration::from_millis(400);

impl FlowEngine {
    /// Starts hearing of (and polling for) the answers of executions other
    /// nodes run, on a shared store.
    pub(super) fn follow_remote(self: &Arc<Self>) {
        if !self.store.shared() {
            return;
        }
        if let Some(events) = self.store.progress_events() {
            tokio::spawn(Self::hear_loop(Arc::downgrade(self), events));
        }
        tokio::spawn(Self::poll_loop(Arc::downgrade(self)));
    }

    async fn hear_loop(engine: Weak<Self>, mut events: tokio::sync::broadcast::Receiver<String>) {
        loop {
            let heard = events.recv().await;
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let ids = match heard {
                Ok(id) => vec![id],
                // Some were missed: look at all.
                Err(RecvError::Lagged(_)) => engine.waiting_remotely(),
                Err(RecvError::Closed) => return,
            };
            let ids: Vec<String> = ids
                .into_iter()
                .filter(|id| engine.waits_remotely(id))
                .collect();
            if !ids.is_empty() {
                engine.read_answers(ids).await;
            }
        }
    }

    async fn poll_loop(engine: Weak<Self>) {
        let mut every = tokio::time::interval(REMOTE_POLL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let ids = engine.waiting_remotely();
            if ids.is_empty() {
                continue;
            }
            let store = engine.store.clone();
            let answered = tokio::task::spawn_blocking(move || store.answered(&ids)).await;
            match answered {
                Ok(Ok(ids)) if !ids.is_empty() => engine.read_answers(ids).await,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot read the progress of executions other nodes run")
                }
                Err(e) => tracing::error!(error = %e, "reading remote progress panicked"),
            }
        }
    }

    /// Whether a caller here waits for `id` and this node does not run it.
    fn waits_remotely(&self, id: &str) -> bool {
        if self.held().contains(id) {
            return false;
        }
        self.watchers()
            .get(id)
            .is_some_and(|sender| sender.receiver_count() > 0)
    }

    /// The executions callers here wait for that this node does not run.
    /// Forgets the watches nobody holds any more of executions it does not
    /// run (an async submit's, a caller that gave up): if this node claims
    /// one later, nobody here waits for it.
    fn waiting_remotely(&self) -> Vec<String> {
        let held = self.held().clone();
        let mut watchers = self.watchers();
        watchers.retain(|id, sender| held.contains(id) || sender.receiver_count() > 0);
        watchers
            .keys()
            .filter(|id| !held.contains(*id))
            .cloned()
            .collect()
    }

    /// Reads the executions `ids` (whose response or end another node
    /// stored) and tells their waiters.
    async fn read_answers(&self, ids: Vec<String>) {
        let store = self.store.clone();
        let read = tokio::task::spawn_blocking(move || {
            ids.iter()
                .map(|id| store.get_execution(id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
        match read {
            Ok(Ok(records)) => records.into_iter().flatten().for_each(|r| self.tell(r)),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read an execution another node ran"),
            Err(e) => tracing::error!(error = %e, "reading remote progress panicked"),
        }
    }

    /// Tells the waiters of `record` (run by another node) its end, or its
    /// response once.
    fn tell(&self, record: ExecutionRecord) {
        if self.held().contains(&record.id) {
            // Running here after all: this node tells them itself, live.
            return;
        }
        if record.status.is_finished() {
            let sender = self.watchers().remove(&record.id);
            if let Some(sender) = sender {
                sender.send_replace(Progress::Finished(Box::new(record), None));
            }
            return;
        }
        let Some(response) = record.response else {
            return;
        };
        if let Some(sender) = self.watchers().get(&record.id) {
            sender.send_if_modified(|progress| {
                let first = matches!(progress, Progress::Pending);
                if first {
                    *progress = Progress::Responded(response.clone());
                }
                first
            });
        }
    }
}
