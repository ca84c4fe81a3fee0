//! The durable lifecycle of an instance: enabling runs the integration's
//! deploy flows, disabling its teardown flows, and the status follows
//! their executions:
//!
//! ```text
//! created | disabled | deploy_failed --enable-->  deploying --> active | deploy_failed
//! active | deploy_failed             --disable--> disabling --> disabled
//! active                             --upgrade--> deploying (PATCH of `integration`)
//! ```
//!
//! The transitional status and a fresh transition id (`lifecycle_run`) are
//! stored (fsynced) before any flow is submitted, and every flow of the
//! transition is submitted with the idempotency key [`lifecycle_key`] of
//! that id. So [`Instances::drive`] may run any number of times, at any
//! moment: it walks the kind's flows in file order, resubmitting each
//! (which returns the execution already stored), stops at the first one
//! still running, and stores the final status once every flow ended (or a
//! deploy flow failed). It runs when a transition starts, when one of its
//! executions ends ([`Instances::lifecycle_execution_ended`]), and at
//! start for every instance a stopped host left transitional
//! ([`Instances::recover_lifecycles`]); the executions themselves are
//! durable and resume after a restart like any other. A request that
//! times out, or a client that disconnects, loses nothing: the transition
//! runs in a task of its own and the answer (202) only says where it is.
//!
//! A failed teardown flow still ends `disabled` (a broken third party must
//! not keep an instance's hooks alive); the teardown flows after it are
//! skipped, and the failure is on its execution.

use std::time::Duration;

use futures::future::BoxFuture;

use super::{InstanceError, Instances};
use crate::integration::Trigger;
use crate::storage::{InstanceRecord, InstanceStatus, StorageError};

pub use crate::submit::{is_lifecycle_key, lifecycle_key};

/// Which lifecycle flows a transition runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleKind {
    /// `deploy` flows (enable, upgrade).
    Deploy,
    /// `teardown` flows (disable).
    Teardown,
}

impl LifecycleKind {
    /// `deploy` or `teardown` (the trigger type, `trigger.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Teardown => "teardown",
        }
    }

    /// The kind a transitional status is running.
    fn of(status: InstanceStatus) -> Option<Self> {
        match status {
            InstanceStatus::Deploying => Some(Self::Deploy),
            InstanceStatus::Disabling => Some(Self::Teardown),
            _ => None,
        }
    }

    /// The status while its flows run.
    fn transitional(self) -> InstanceStatus {
        match self {
            Self::Deploy => InstanceStatus::Deploying,
            Self::Teardown => InstanceStatus::Disabling,
        }
    }

    /// The status once its flows ended, every one succeeding or not.
    fn end(self, ok: bool) -> InstanceStatus {
        match (self, ok) {
            (Self::Deploy, true) => InstanceStatus::Active,
            (Self::Deploy, false) => InstanceStatus::DeployFailed,
            (Self::Teardown, _) => InstanceStatus::Disabled,
        }
    }

    /// Whether a flow with `trigger` belongs to this kind.
    pub fn runs(self, trigger: &Trigger) -> bool {
        match self {
            Self::Deploy => matches!(trigger, Trigger::Deploy),
            Self::Teardown => matches!(trigger, Trigger::Teardown),
        }
    }
}

/// A lifecycle flow's execution as submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleExecution {
    /// Execution id.
    pub id: String,
    /// `None` while it runs; else whether it succeeded.
    pub outcome: Option<bool>,
}

/// Submits lifecycle flows (the flow engine plugs in here).
pub trait Lifecycle: Send + Sync {
    /// Submits `flow` of `instance` with the idempotency key `key`; the
    /// same flow and key again return the execution already stored, ended
    /// or not. The message of an error is logged.
    fn submit<'a>(
        &'a self,
        instance: &'a InstanceRecord,
        flow: &'a str,
        kind: LifecycleKind,
        key: &'a str,
    ) -> BoxFuture<'a, Result<LifecycleExecution, String>>;
}

/// Where a transition is after [`Instances::enable`] or
/// [`Instances::disable`].
#[derive(Clone, Debug)]
pub struct LifecycleStarted {
    /// The instance as it now is (`deploying`, or already `active`, …).
    pub instance: InstanceRecord,
    /// The execution running (or, once ended, the last one that ran).
    pub execution_id: Option<String>,
}

impl Instances {
    /// Enables an instance: stores `deploying`, submits its deploy flows
    /// and returns; the status becomes `active` or `deploy_failed` when
    /// they end. Allowed from `created`, `disabled` and `deploy_failed`.
    pub async fn enable(&self, id: &str) -> Result<LifecycleStarted, InstanceError> {
        self.begin(
            id,
            LifecycleKind::Deploy,
            &[
                InstanceStatus::Created,
                InstanceStatus::Disabled,
                InstanceStatus::DeployFailed,
            ],
            "only a created, disabled or deploy_failed instance can be enabled",
        )
        .await
    }

    /// Disables an instance: stores `disabling` (its hooks and schedules
    /// stop at once), submits its teardown flows and returns; the status
    /// becomes `disabled` when they end. Allowed from `active` and
    /// `deploy_failed` (to clean up what a failed deploy left).
    pub async fn disable(&self, id: &str) -> Result<LifecycleStarted, InstanceError> {
        self.begin(
            id,
            LifecycleKind::Teardown,
            &[InstanceStatus::Active, InstanceStatus::DeployFailed],
            "only an active or deploy_failed instance can be disabled",
        )
        .await
    }

    /// After an update moved an instance to another integration version:
    /// an active instance moves to `deploying` and runs the new version's
    /// deploy flows; any other is left as it is.
    pub async fn upgrade_deploy(
        &self,
        before: &InstanceRecord,
        after: InstanceRecord,
    ) -> Result<InstanceRecord, InstanceError> {
        if before.version == after.version || after.status != InstanceStatus::Active {
            return Ok(after);
        }
        tracing::info!(instance = %after.id, from = before.version, to = after.version, "instance upgraded; re-running deploy");
        let started = self
            .begin(
                &after.id,
                LifecycleKind::Deploy,
                &[InstanceStatus::Active],
                "only an active instance re-runs deploy on upgrade",
            )
            .await?;
        Ok(started.instance)
    }

    async fn begin(
        &self,
        id: &str,
        kind: LifecycleKind,
        from: &[InstanceStatus],
        hint: &'static str,
    ) -> Result<LifecycleStarted, InstanceError> {
        let run = uuid::Uuid::now_v7().to_string();
        let mut refused = None;
        let updated = self.configs.store.update_instance(id, &mut |record| {
            refused = None;
            if !from.contains(&record.status) {
                refused = Some(record.status);
                return;
            }
            record.status = kind.transitional();
            record.lifecycle_run = Some(run.clone());
            record.last_lifecycle_execution = None;
            record.updated_at = chrono::Utc::now();
        })?;
        let record = updated.ok_or_else(|| InstanceError::NotFound(id.to_owned()))?;
        if let Some(status) = refused {
            return Err(InstanceError::WrongState {
                id: id.to_owned(),
                status,
                hint,
            });
        }
        tracing::info!(instance = %id, status = record.status.as_str(), lifecycle = %run, "instance status changed");
        self.status_did_change(&record);
        // In a task of its own: a client that disconnects drops this
        // future, never the transition.
        let this = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move { this.drive(&id, &run).await })
            .await
            .map_err(|e| {
                InstanceError::Storage(StorageError::Backend(format!("lifecycle task failed: {e}")))
            })?
    }

    /// Moves transition `run` of instance `id` on as far as it can go now
    /// (idempotent; see the module docs). Does nothing once the instance
    /// is in another transition or settled.
    pub async fn drive(&self, id: &str, run: &str) -> Result<LifecycleStarted, InstanceError> {
        let instance = self.get(id)?;
        let kind = match LifecycleKind::of(instance.status) {
            Some(kind) if instance.lifecycle_run.as_deref() == Some(run) => kind,
            _ => {
                return Ok(LifecycleStarted {
                    execution_id: instance.last_lifecycle_execution.clone(),
                    instance,
                });
            }
        };
        let integration = match self.integration_of(&instance) {
            Ok(integration) => integration,
            Err(e) => {
                tracing::error!(instance = %id, error = %e, "cannot run lifecycle flows");
                return self.settle(id, run, kind.end(false), None);
            }
        };
        let key = lifecycle_key(run);
        let mut last = None;
        for flow in integration
            .model
            .flows
            .iter()
            .filter(|f| kind.runs(&f.trigger))
        {
            let execution = match self
                .lifecycle
                .submit(&instance, &flow.name, kind, &key)
                .await
            {
                Ok(execution) => execution,
                Err(message) => {
                    tracing::error!(instance = %id, flow = %flow.name, error = %message, "lifecycle flow could not be submitted");
                    return self.settle(id, run, kind.end(false), last);
                }
            };
            last = Some(execution.id.clone());
            match execution.outcome {
                None => {
                    let instance = self.note_execution(id, run, &execution.id)?;
                    return Ok(LifecycleStarted {
                        instance,
                        execution_id: last,
                    });
                }
                Some(true) => {}
                Some(false) => {
                    if kind == LifecycleKind::Teardown {
                        tracing::warn!(instance = %id, execution = %execution.id, "teardown failed; disabling anyway");
                    }
                    return self.settle(id, run, kind.end(false), last);
                }
            }
        }
        self.settle(id, run, kind.end(true), last)
    }

    /// Records the running execution of transition `run`.
    fn note_execution(
        &self,
        id: &str,
        run: &str,
        execution: &str,
    ) -> Result<InstanceRecord, InstanceError> {
        let updated = self.configs.store.update_instance(id, &mut |record| {
            if record.lifecycle_run.as_deref() == Some(run) && record.status.is_transitional() {
                record.last_lifecycle_execution = Some(execution.to_owned());
            }
        })?;
        updated.ok_or_else(|| InstanceError::NotFound(id.to_owned()))
    }

    /// Stores the final `status` of transition `run`, unless the instance
    /// has moved on since.
    fn settle(
        &self,
        id: &str,
        run: &str,
        status: InstanceStatus,
        execution: Option<String>,
    ) -> Result<LifecycleStarted, InstanceError> {
        let mut changed = false;
        let updated = self.configs.store.update_instance(id, &mut |record| {
            changed =
                record.lifecycle_run.as_deref() == Some(run) && record.status.is_transitional();
            if changed {
                record.status = status;
                if execution.is_some() {
                    record.last_lifecycle_execution = execution.clone();
                }
                record.updated_at = chrono::Utc::now();
            }
        })?;
        let record = updated.ok_or_else(|| InstanceError::NotFound(id.to_owned()))?;
        if changed {
            tracing::info!(instance = %id, status = status.as_str(), lifecycle = %run, "instance status changed");
            self.status_did_change(&record);
        }
        Ok(LifecycleStarted {
            execution_id: record.last_lifecycle_execution.clone(),
            instance: record,
        })
    }

    pub(super) fn status_did_change(&self, record: &InstanceRecord) {
        self.notify(record);
        self.status_changed.notify_waiters();
    }

    /// An execution of instance `instance` with idempotency key `key`
    /// ended: if it belongs to the instance's current transition, moves
    /// the transition on (in a task of its own).
    pub fn lifecycle_execution_ended(&self, instance: &str, key: Option<&str>) {
        let Some(key) = key.filter(|k| is_lifecycle_key(k)) else {
            return;
        };
        let record = match self.get(instance) {
            Ok(record) => record,
            Err(e) => {
                tracing::warn!(instance = %instance, error = %e, "lifecycle execution of a missing instance ended");
                return;
            }
        };
        let Some(run) = record.lifecycle_run.filter(|r| lifecycle_key(r) == key) else {
            return;
        };
        if !record.status.is_transitional() {
            return;
        }
        self.spawn_drive(record.id, run);
    }

    fn spawn_drive(&self, id: String, run: String) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(instance = %id, "no runtime to move a lifecycle transition on");
            return;
        };
        let this = self.clone();
        runtime.spawn(async move {
            if let Err(e) = this.drive(&id, &run).await {
                tracing::error!(instance = %id, error = %e, "lifecycle transition could not move on");
            }
        });
    }

    /// Picks up every transition a stopped host left unfinished (call once
    /// the flow engine runs); returns how many.
    pub fn recover_lifecycles(&self) -> Result<usize, InstanceError> {
        let mut count = 0;
        for record in self.configs.store.list_instances(None)? {
            if let (true, Some(run)) = (record.status.is_transitional(), record.lifecycle_run) {
                tracing::info!(instance = %record.id, status = record.status.as_str(), "resuming an unfinished lifecycle transition");
                self.spawn_drive(record.id, run);
                count += 1;
            }
        }
        Ok(count)
    }

    /// The instance once it is no longer `deploying` or `disabling`, or as
    /// it is after `deadline`.
    pub async fn wait_settled(
        &self,
        id: &str,
        deadline: Duration,
    ) -> Result<InstanceRecord, InstanceError> {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let changed = self.status_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let record = self.get(id)?;
            if !record.status.is_transitional() {
                return Ok(record);
            }
            if tokio::time::timeout_at(end, changed).await.is_err() {
                return Ok(record);
            }
        }
    }
}

#[cfg(test)]
mod tests;
