//! Schedule triggers: every `active` instance's schedule flows fire once
//! per due time of their cron expression (which may come from the
//! instance's config).
//!
//! Each schedule's next due time is persisted (see
//! `storage::ScheduleStore`), keyed by the time first, so one task finds
//! the earliest with one read and sleeps until then — or until it is woken
//! because an instance was enabled, disabled or reconfigured. Idle
//! schedules cost a row each and nothing else.
//!
//! Firing submits the execution with the idempotency key
//! `schedule:<due time>` *before* the next due time is stored: a host
//! killed between the two finds the old due time at its next start, and
//! firing it again (with `catch_up: once`) returns the execution already
//! stored instead of starting a second one. So a due time fires at most
//! once, across restarts.
//!
//! At start, due times that passed while the host was down are skipped
//! (the next one in the future is stored) unless the flow says
//! `catch_up: once`, which fires one run for the earliest missed time,
//! with `trigger.caught_up = true`.
//!
//! On a store shared by several nodes, one node fires: the one holding
//! the `scheduler` lease (see `storage::Leases`), taken for
//! [`LEADER_LEASE`] and renewed every [`RENEW_EVERY`]; the others try to
//! take it as often and take over once it has expired (the leader died,
//! `kill -9`, or lost the database). A node that becomes the leader first
//! treats the due times that passed while nobody led as missed (the
//! flow's `catch_up` rule, as at start), and stops firing as soon as its
//! lease may have run out. The idempotency key stays as a second guard: a
//! deposed leader that has not noticed yet cannot fire a due time twice.
//! On a store of its own (sled), a node always leads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus_client::metrics::gauge::Gauge;
use serde_json::json;
use tokio::sync::Notify;

use crate::instances::{InstanceConfigs, InstanceListener};
use crate::integration::{CatchUp, ScheduleTrigger, Trigger, next_after, schedule_for};
use crate::storage::{InstanceRecord, InstanceStatus, ScheduleEntry, Storage, StorageError};
use crate::submit::{NewExecution, Submit};

/// How often the leader of a store shared with other nodes looks at the
/// due times again (they may have added an earlier one).
const SHARED_LOOK_AGAIN: Duration = Duration::from_secs(1);

/// Wait before retrying after storage failed.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

/// The name of the lease the firing node holds on a shared store.
const LEASE_NAME: &str = "scheduler";

/// How long the scheduler lease lasts unless renewed: another node takes
/// over at most this long after the leader died.
pub const LEADER_LEASE: Duration = Duration::from_secs(5);

/// How often the leader renews its lease, and a standby node tries to take
/// it.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);

/// The leader stops firing this long before its lease runs out by its own
/// clock (covers the time a renewal takes and some clock skew).
const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// Fires schedule flows of active instances.
pub struct Scheduler {
    store: Arc<dyn Storage>,
    instances: InstanceConfigs,
    submit: Arc<dyn Submit>,
    wake: Notify,
    /// This node's id as the lease holder.
    node: String,
    /// 1 while this node leads (`weft_scheduler_leader`).
    leader: Gauge,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

impl InstanceListener for Scheduler {
    fn changed(&self, instance: &InstanceRecord) {
        let result = if instance.status == InstanceStatus::Active {
            self.schedule_instance(instance, false)
        } else {
            self.unschedule_instance(&instance.id)
        };
        if let Err(e) = result {
            tracing::error!(instance = %instance.id, error = %e, "cannot update the instance's schedules");
        }
        self.wake.notify_one();
    }
}

/// A schedule flow of an instance, resolved.
struct Resolved {
    trigger: ScheduleTrigger,
    schedule: cron::Schedule,
    tz: chrono_tz::Tz,
}

impl Scheduler {
    /// A scheduler starting executions with `submit`; call
    /// [`Scheduler::start`].
    pub fn new(
        store: Arc<dyn Storage>,
        instances: InstanceConfigs,
        submit: Arc<dyn Submit>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            instances,
            submit,
            wake: Notify::new(),
            node: uuid::Uuid::now_v7().to_string(),
            leader: Gauge::default(),
        })
    }

    /// 1 while this node fires the schedules, else 0 (for `/metrics`).
    pub fn leader_gauge(&self) -> Gauge {
        self.leader.clone()
    }

    /// Whether this node fires the schedules (holds the scheduler lease,
    /// or has a store of its own).
    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }

    /// On a store of its own, brings the stored due times in line with the
    /// instances (handling times missed while down) and leads; on a shared
    /// store, that waits until this node takes the scheduler lease. Then
    /// starts the timer task. Returns how many schedules are active.
    pub fn start(self: &Arc<Self>) -> Result<usize, StorageError> {
        if !self.store.shared() {
            self.take_over()?;
            self.leader.set(1);
        }
        let count = self.store.list_schedules()?.len();
        let this = self.clone();
        tokio::spawn(async move { this.run().await });
        Ok(count)
    }

    /// Brings the stored due times in line with the instances, treating
    /// those passed as missed while nobody fired (the flows' `catch_up`).
    fn take_over(&self) -> Result<(), StorageError> {
        for instance in self.store.list_instances(None)? {
            if instance.status == InstanceStatus::Active {
                self.schedule_instance(&instance, true)?;
            }
        }
        for entry in self.store.list_schedules()? {
            if self.resolve(&entry.instance, &entry.flow).is_none() {
                self.store.remove_schedule(&entry.instance, &entry.flow)?;
            }
        }
        Ok(())
    }

    /// The schedule flows of an instance: stores the next due time of each
    /// (keeping a stored one still in the future when `keep` is set) and
    /// removes schedules of flows that are gone.
    fn schedule_instance(
        &self,
        instance: &InstanceRecord,
        starting: bool,
    ) -> Result<(), StorageError> {
        let Ok(integration) = self.instances.integration_of(instance) else {
            return self.unschedule_instance(&instance.id);
        };
        let now = Utc::now();
        let mut flows = Vec::new();
        for flow in &integration.model.flows {
            if !matches!(flow.trigger, Trigger::Schedule(_)) {
                continue;
            }
            flows.push(flow.name.clone());
            let Some(resolved) = self.resolve(&instance.id, &flow.name) else {
                continue;
            };
            let stored = self.store.get_schedule(&instance.id, &flow.name)?;
            match stored {
                // Still ahead: a restart keeps it, and so does a config
                // change that leaves the next time alone.
                Some(entry)
                    if entry.due > now
                        && (starting
                            || next_after(&resolved.schedule, &resolved.tz, now)
                                == Some(entry.due)) => {}
                Some(entry) if starting && entry.due <= now => {
                    if resolved.trigger.catch_up == CatchUp::Once {
                        self.submit(&entry, true);
                    } else {
                        tracing::info!(instance = %instance.id, flow = %flow.name, missed = %entry.due, "skipping a schedule run missed while down");
                    }
                    self.advance(&entry.instance, &entry.flow, &resolved, now)?;
                }
                _ => self.advance(&instance.id, &flow.name, &resolved, now)?,
            }
        }
        for entry in self.store.list_schedules()? {
            if entry.instance == instance.id && !flows.contains(&entry.flow) {
                self.store.remove_schedule(&entry.instance, &entry.flow)?;
            }
        }
        Ok(())
    }

    /// Removes every schedule of an instance.
    fn unschedule_instance(&self, id: &str) -> Result<(), StorageError> {
        for entry in self.store.list_schedules()? {
            if entry.instance == id {
                self.store.remove_schedule(&entry.instance, &entry.flow)?;
            }
        }
        Ok(())
    }

    /// The schedule of `flow` of `instance`, if the instance is active and
    /// the flow is a schedule flow with a valid cron for its config.
    fn resolve(&self, instance: &str, flow: &str) -> Option<Resolved> {
        let record = self.store.get_instance(instance).ok()??;
        if record.status != InstanceStatus::Active {
            return None;
        }
        let integration = self.instances.integration_of(&record).ok()?;
        let Trigger::Schedule(trigger) = &integration.model.flow(flow)?.trigger else {
            return None;
        };
        let config = match self.instances.resolve_config(&record) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(instance, flow, error = %e, "schedule config does not resolve");
                return None;
            }
        };
        match schedule_for(trigger, &config) {
            Ok((schedule, tz)) => Some(Resolved {
                trigger: trigger.clone(),
                schedule,
                tz,
            }),
            Err(e) => {
                tracing::error!(instance, flow, error = %e, "schedule is invalid");
                None
            }
        }
    }

    /// Stores the first due time after `after` (removing the schedule
    /// when the expression never fires again).
    fn advance(
        &self,
        instance: &str,
        flow: &str,
        resolved: &Resolved,
        after: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        match next_after(&resolved.schedule, &resolved.tz, after) {
            Some(due) => self.store.set_schedule(&ScheduleEntry {
                instance: instance.to_owned(),
                flow: flow.to_owned(),
                due,
            }),
            None => self.store.remove_schedule(instance, flow).map(|_| ()),
        }
    }

    /// Submits the run of `entry`'s due time (idempotent per due time).
    fn submit(&self, entry: &ScheduleEntry, caught_up: bool) {
        let scheduled_at = entry
            .due
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut trigger = json!({ "type": "schedule", "scheduled_at": scheduled_at });
        if caught_up {
            trigger["caught_up"] = json!(true);
        }
        let submitted = self.submit.submit_blocking(NewExecution {
            instance: entry.instance.clone(),
            flow: entry.flow.clone(),
            trigger,
            idempotency_key: Some(format!("schedule:{scheduled_at}")),
            ..NewExecution::default()
        });
        match submitted {
            Ok(s) if s.created => {
                tracing::info!(instance = %entry.instance, flow = %entry.flow, %scheduled_at, execution_id = %s.record.id, "schedule fired");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(instance = %entry.instance, flow = %entry.flow, error = %e, "schedule could not fire");
            }
        }
    }

    /// Fires a due entry and stores its next due time.
    fn fire(&self, entry: &ScheduleEntry) -> Result<(), StorageError> {
        let Some(resolved) = self.resolve(&entry.instance, &entry.flow) else {
            self.store.remove_schedule(&entry.instance, &entry.flow)?;
            return Ok(());
        };
        self.submit(entry, false);
        let now = Utc::now();
        // Normally the time after this one; after a long stall, skip to
        // the next one still ahead.
        let after = match next_after(&resolved.schedule, &resolved.tz, entry.due) {
            Some(next) if next > now => entry.due,
            _ => now,
        };
        self.advance(&entry.instance, &entry.flow, &resolved, after)
    }

    /// Takes or renews the scheduler lease of a shared store (catching up
    /// first when this node becomes the leader); returns until when this
    /// node may fire by its own clock, given `held`, what the last call
    /// returned.
    async fn lead(self: &Arc<Self>, held: Option<Instant>) -> Option<Instant> {
        let asked = Instant::now();
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(LEADER_LEASE).unwrap_or_default();
        let this = self.clone();
        let taken = tokio::task::spawn_blocking(move || {
            this.store.try_acquire(LEASE_NAME, &this.node, until, now)
        })
        .await
        .unwrap_or_else(|e| Err(StorageError::Backend(format!("scheduler task failed: {e}"))));
        match taken {
            Ok(true) => {
                if !self.is_leader() {
                    let this = self.clone();
                    let caught_up = tokio::task::spawn_blocking(move || this.take_over())
                        .await
                        .unwrap_or_else(|e| {
                            Err(StorageError::Backend(format!("scheduler task failed: {e}")))
                        });
                    if let Err(e) = caught_up {
                        // Still holding the lease: the next renewal tries again.
                        tracing::error!(error = %e, "scheduler storage failed");
                        return None;
                    }
                    self.leader.set(1);
                    tracing::info!(node = %self.node, "became the scheduler leader");
                }
                Some(asked + LEADER_LEASE.saturating_sub(LEASE_MARGIN))
            }
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the scheduler lease");
                held
            }
        }
    }

    async fn run(self: Arc<Self>) {
        // On a shared store other nodes add and move due times too: look
        // again at least every SHARED_LOOK_AGAIN.
        let shared = self.store.shared();
        // Until when this node may fire, and when it last asked for the
        // lease (shared store only).
        let mut held: Option<Instant> = None;
        let mut asked: Option<Instant> = None;
        loop {
            let mut look_again = SHARED_LOOK_AGAIN;
            if shared {
                if asked.is_none_or(|t| t.elapsed() >= RENEW_EVERY) {
                    asked = Some(Instant::now());
                    held = self.lead(held).await;
                }
                let leads = held.is_some_and(|t| Instant::now() < t);
                if !leads && self.is_leader() {
                    self.leader.set(0);
                    tracing::info!(node = %self.node, "lost the scheduler lease");
                }
                look_again = RENEW_EVERY
                    .saturating_sub(asked.map_or(Duration::ZERO, |t| t.elapsed()))
                    .min(SHARED_LOOK_AGAIN);
                if !leads {
                    tokio::time::sleep(look_again).await;
                    continue;
                }
            }
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let first = self.store.first_schedule();
            match first {
                Ok(None) if shared => {
                    tokio::select! {
                        () = tokio::time::sleep(look_again) => {}
                        () = &mut notified => {}
                    }
                }
                Ok(None) => notified.await,
                Ok(Some(entry)) => {
                    let now = Utc::now();
                    if entry.due <= now {
                        // Firing flushes sled (the submitted execution and
                        // the next due time): never on an async worker.
                        let this = self.clone();
                        let fired = tokio::task::spawn_blocking(move || this.fire(&entry))
                            .await
                            .unwrap_or_else(|e| {
                                Err(StorageError::Backend(format!("schedule task failed: {e}")))
                            });
                        if let Err(e) = fired {
                            tracing::error!(error = %e, "scheduler storage failed");
                            tokio::time::sleep(RETRY_AFTER_ERROR).await;
                        }
                        continue;
                    }
                    let mut wait = (entry.due - now).to_std().unwrap_or_default();
                    if shared {
                        wait = wait.min(look_again);
                    }
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = &mut notified => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "scheduler storage failed");
                    tokio::time::sleep(RETRY_AFTER_ERROR).await;
                }
            }
        }
    }
}
