//! Admission of new executions: the bound on one tenant's executions
//! waiting for a worker (`[engine] max_queued_per_tenant`), counted per
//! [`Lane`] so that an async backlog never refuses a caller who waits (a
//! sync webhook, a preprocess flow), and the short wait for room a submit
//! makes before it is refused.
//!
//! Without the wait, a client that retries at once turns a full queue into
//! a storm of cheap 429s that takes the CPU the workers need to drain it
//! (`make bench` saw ten refusals per acknowledged execution). With it, a
//! submit that finds the queue full waits up to [`ADMISSION_WAIT`] for a
//! worker to claim an entry of this node's queue, so acknowledgements
//! follow the engine's pace; past the wait it is refused as before.
//! A refused submit whose idempotency key already names an execution
//! gets that execution instead (a retry of an acknowledged request is
//! never told 429).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::engine::FlowEngine;
use crate::storage::Lane;
use crate::submit::{EngineError, NewExecution, Submitted};

/// How long a submit waits for room in its tenant's full queue before it
/// is refused with [`EngineError::QueueFull`].
pub const ADMISSION_WAIT: Duration = Duration::from_millis(250);

/// Places held by submits storing their execution, by tenant and lane.
pub(super) type Reserved = Mutex<HashMap<(String, Lane), usize>>;

/// A place held in a tenant's queue by a submit; given back when dropped
/// (once the execution is stored it counts in the store's queue).
pub(super) struct Reservation<'a> {
    engine: &'a FlowEngine,
    tenant: String,
    lane: Lane,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut reserved = self.engine.reserved();
        let key = (std::mem::take(&mut self.tenant), self.lane);
        if let Some(n) = reserved.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                reserved.remove(&key);
            }
        }
    }
}

impl FlowEngine {
    fn reserved(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Lane), usize>> {
        self.reserved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds a place in `tenant`'s queue of `lane` unless it already has
    /// `[engine] max_queued_per_tenant` executions waiting there (or
    /// places held by concurrent submits); [`EngineError::QueueFull`]
    /// (not counted: see [`Self::count_refusal`]) when it is full.
    pub(super) fn reserve(&self, tenant: &str, lane: Lane) -> Result<Reservation<'_>, EngineError> {
        let limit = self.config.max_queued_per_tenant.max(1);
        let mut reserved = self.reserved();
        let key = (tenant.to_owned(), lane);
        let held = reserved.get(&key).copied().unwrap_or(0);
        let queued = self
            .store
            .queued_in(tenant, lane)
            .map_err(EngineError::Storage)?;
        if queued + held >= limit {
            return Err(EngineError::QueueFull {
                tenant: tenant.to_owned(),
                limit,
            });
        }
        *reserved.entry(key).or_default() += 1;
        Ok(Reservation {
            engine: self,
            tenant: tenant.to_owned(),
            lane,
        })
    }

    /// Counts a submit refused for a full queue (the metric and the
    /// tenant's rejections); other errors pass through.
    pub(super) fn count_refusal(&self, error: EngineError) -> EngineError {
        if let EngineError::QueueFull { tenant, .. } = &error {
            self.metrics.refused(tenant);
        }
        error
    }

    /// A submit refused for a full queue whose idempotency key already
    /// names an execution gets that execution, as it would have with room
    /// (a client retrying an acknowledged request is not told 429); any
    /// other refusal is counted and returned.
    pub(super) fn refused(
        &self,
        keyed: Option<Keyed>,
        error: EngineError,
    ) -> Result<Submitted, EngineError> {
        if let (EngineError::QueueFull { .. }, Some(k)) = (&error, keyed)
            && let Some(existing) = self.store.find_keyed(&k.instance, &k.flow, &k.key)?
        {
            let progress = self.watch(&existing.id);
            return Ok(Submitted {
                record: existing,
                created: false,
                progress,
            });
        }
        Err(self.count_refusal(error))
    }

    /// Tells submits waiting for room that entries left the waiting queue.
    pub(super) fn room_made(&self) {
        self.room.notify_waiters();
    }

    /// Runs `attempt` until it is not refused for a full queue, waiting for
    /// room between tries for at most [`ADMISSION_WAIT`] in all.
    pub(super) async fn with_room<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let until = tokio::time::Instant::now() + ADMISSION_WAIT;
        loop {
            // Registered before the try, so room made in between wakes it.
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match attempt() {
                Err(EngineError::QueueFull { .. }) if tokio::time::Instant::now() < until => {
                    let _ = tokio::time::timeout_at(until, room).await;
                }
                other => return other,
            }
        }
    }
}

/// The instance, flow and idempotency key of a submit that has a key.
pub(super) struct Keyed {
    instance: String,
    flow: String,
    key: String,
}

impl Keyed {
    pub(super) fn of(new: &NewExecution) -> Option<Self> {
        Some(Self {
            instance: new.instance.clone(),
            flow: new.flow.clone(),
            key: new.idempotency_key.clone()?,
        })
    }
}

/// An empty set of reservations.
pub(super) fn reserved() -> Reserved {
    Mutex::new(HashMap::new())
}
