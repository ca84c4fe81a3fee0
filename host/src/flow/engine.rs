//! The durable flow engine: executions are stored (`queued`, with their
//! entry in the store's queue, in one write) before anyone is told they
//! exist, a bounded pool of workers claims them from the queue fairly
//! across tenants (`worker.rs`), every finished step is persisted, and
//! executions a stopped host left in the queue are claimed again once their
//! lease is stale, resuming after their last finished step.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use tokio::sync::watch;

use super::admission::Keyed;
use super::executor::{Executor, FlowLimits, FlowRun, InstanceInfo};
use super::instance_source::InstanceSource;
use super::metrics::EngineMetrics;
use super::sealed::Sealer;
use crate::config::EngineConfig;
use crate::integration::{Trigger, split_component_ref};
use crate::metrics::Metrics;
use crate::model::{ExecutionRecord, ExecutionStatus};
use crate::sandbox::{ComponentSource, Sandbox};
use crate::storage::{Inserted, Lane, QueueEntry, Storage, StorageError};
use crate::submit::{
    EngineError, FinishListener, NewExecution, Progress, Submit, Submitted, is_lifecycle_key,
};

/// Runs executions durably.
pub struct FlowEngine {
    pub(super) store: Arc<dyn Storage>,
    instances: Arc<dyn InstanceSource>,
    pub(super) executor: Executor,
    sealer: Sealer,
    /// This process's id in queue leases.
    pub(super) node: String,
    /// Wakes the claim loop (a submit, an end, a retry's delay).
    pub(super) ready: tokio::sync::Notify,
    /// Places held by submits storing their execution (see
    /// `admission.rs`).
    pub(super) reserved: super::admission::Reserved,
    /// Wakes submits waiting for room in a full queue.
    pub(super) room: tokio::sync::Notify,
    /// Executions this node holds a lease of.
    held: Mutex<HashSet<String>>,
    watchers: Mutex<HashMap<String, watch::Sender<Progress>>>,
    pub(super) metrics: EngineMetrics,
    pub(super) config: EngineConfig,
    on_finish: Vec<Arc<dyn FinishListener>>,
}

impl std::fmt::Debug for FlowEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowEngine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FlowEngine {
    /// An engine over `store`, running steps in `sandbox` with components
    /// from `components`; every execution that ends is told to `on_finish`
    /// in order. Call [`FlowEngine::start`] to run anything.
    pub fn new(
        store: Arc<dyn Storage>,
        instances: Arc<dyn InstanceSource>,
        sandbox: Arc<Sandbox>,
        components: Arc<dyn ComponentSource>,
        metrics: &Metrics,
        config: EngineConfig,
        on_finish: Vec<Arc<dyn FinishListener>>,
    ) -> Arc<Self> {
        let state: Arc<dyn crate::sandbox::StateStore> = store.clone();
        let sealer = Sealer::new(instances.secret_box());
        let limits = FlowLimits {
            for_each_max_items: config.for_each_max_items,
            for_each_max_total: config.for_each_max_total,
        };
        let engine = Arc::new(Self {
            executor: Executor::new(sandbox, components, state)
                .with_sealer(sealer.clone())
                .with_limits(limits),
            sealer,
            node: uuid::Uuid::now_v7().to_string(),
            ready: tokio::sync::Notify::new(),
            reserved: super::admission::reserved(),
            room: tokio::sync::Notify::new(),
            held: Mutex::new(HashSet::new()),
            watchers: Mutex::new(HashMap::new()),
            metrics: EngineMetrics::register(metrics),
            store,
            instances,
            config,
            on_finish,
        });
        EngineMetrics::export_queues(metrics, Arc::downgrade(&engine));
        engine
    }

    /// Starts the claim loop (which also takes the executions a previous
    /// run of the host left in the queue), lease renewal and the retention
    /// pruner; returns how many executions are waiting.
    pub fn start(self: &Arc<Self>) -> Result<usize, StorageError> {
        let waiting = self.store.depth()?;
        if waiting > 0 {
            tracing::info!(count = waiting, "resuming queued executions");
        }
        tokio::spawn(self.clone().claim_loop());
        tokio::spawn(Self::renew_loop(Arc::downgrade(self)));
        self.follow_remote();
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(3600));
            loop {
                every.tick().await;
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                // Deleting a retention period's executions is blocking work.
                let _ = tokio::task::spawn_blocking(move || engine.prune()).await;
            }
        });
        Ok(waiting)
    }

    fn prune(&self) {
        let Ok(retention) = chrono::Duration::from_std(self.config.retention) else {
            return;
        };
        match self.store.prune_executions(Utc::now() - retention) {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "pruned finished executions past retention"),
            Err(e) => tracing::error!(error = %e, "pruning executions failed"),
        }
    }

    pub(super) fn watchers(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<Progress>>> {
        self.watchers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The queue entry of `record`, an execution of `flow`.
    fn queue_entry(
        record: &ExecutionRecord,
        flow: &crate::integration::Flow,
        lane: Lane,
    ) -> QueueEntry {
        let (limit, fifo) = flow.concurrency.bounds();
        QueueEntry {
            lane,
            limit,
            fifo,
            ..QueueEntry::new(&record.id, &record.tenant, &record.instance, &record.flow)
        }
    }

    /// The flow of `record`, from its integration version.
    fn flow_of(&self, record: &ExecutionRecord) -> Option<crate::integration::Flow> {
        let (name, version) = split_component_ref(&record.integration)?;
        let integration = self
            .store
            .get_integration(name, version.parse().ok()?)
            .ok()??;
        integration.model.flow(&record.flow).cloned()
    }

    /// Stores a new `queued` execution, queues it and returns once it is on
    /// disk (concurrent submits share one fsync); with a repeated
    /// idempotency key, returns the first execution instead.
    /// A tenant whose queue is full gets up to
    /// [`ADMISSION_WAIT`](super::admission::ADMISSION_WAIT) for room
    /// before it is refused.
    ///
    /// A new sync execution is the exception: its caller learns of it only
    /// through its progress, and the engine tells of a response or an end
    /// only once the execution is on disk, usually with its first step's
    /// fsync (see [`super::observer::PersistingObserver`]). That saves a sync run one
    /// fsync round of three; the caller that gives up waiting makes it
    /// durable itself before it answers `202`.
    pub async fn submit(&self, new: NewExecution) -> Result<Submitted, EngineError> {
        let keyed = Keyed::of(&new);
        let sync = new.sync;
        let submitted = match self.with_room(|| self.admit(&new)).await {
            Ok(admitted) => self.store_admitted(new, admitted),
            Err(e) => Err(e),
        };
        let submitted = submitted.or_else(|e| self.refused(keyed, e))?;
        if !(sync && submitted.created) {
            self.store.durable().await?;
        }
        Ok(submitted)
    }

    /// [`FlowEngine::submit`] for callers outside async code (the
    /// scheduler): flushes on its own before returning.
    pub fn submit_blocking(&self, new: NewExecution) -> Result<Submitted, EngineError> {
        let submitted = self.store_and_queue(new)?;
        self.store.flush()?;
        Ok(submitted)
    }

    /// Stores and queues; durable only after a flush. A worker may start it
    /// at once: that reads the same (not yet flushed) records.
    pub(super) fn store_and_queue(&self, new: NewExecution) -> Result<Submitted, EngineError> {
        let keyed = Keyed::of(&new);
        self.admit(&new)
            .and_then(|admitted| self.store_admitted(new, admitted))
            .or_else(|e| self.refused(keyed, e))
    }

    /// Finds the instance and holds a place in its tenant's queue. Only a
    /// lifecycle flow (known once the integration is read) may be exempt
    /// from the queue bound: anything else is refused before more work,
    /// so a refusal costs as little as it can.
    fn admit(&self, new: &NewExecution) -> Result<Admitted<'_>, EngineError> {
        let instance = self
            .store
            .get_instance(&new.instance)?
            .ok_or_else(|| EngineError::UnknownInstance(new.instance.clone()))?;
        let reservation = if new.idempotency_key.as_deref().is_some_and(is_lifecycle_key) {
            None
        } else {
            Some(self.reserve(&instance.tenant, Self::lane(new))?)
        };
        Ok(Admitted {
            instance,
            reservation,
        })
    }

    fn lane(new: &NewExecution) -> Lane {
        if new.sync { Lane::Sync } else { Lane::Async }
    }

    /// Stores and queues an admitted execution.
    fn store_admitted(
        &self,
        new: NewExecution,
        admitted: Admitted<'_>,
    ) -> Result<Submitted, EngineError> {
        let Admitted {
            instance,
            mut reservation,
        } = admitted;
        let integration = self
            .store
            .shared_integration(&instance.integration, instance.version)?
            .ok_or_else(|| EngineError::UnknownInstance(new.instance.clone()))?;
        let Some(flow) = integration.model.flow(&new.flow) else {
            return Err(EngineError::UnknownFlow {
                integration: integration.reference(),
                flow: new.flow,
            });
        };
        // Lifecycle flows are bounded by the instances (one transition at
        // a time each) and must not fail for a flood of the tenant's own.
        let lifecycle = matches!(flow.trigger, Trigger::Deploy | Trigger::Teardown);
        if reservation.is_none() && !lifecycle {
            reservation = Some(self.reserve(&instance.tenant, Self::lane(&new))?);
        }
        let mut record = ExecutionRecord::queued(
            &instance.tenant,
            &instance.id,
            &integration.reference(),
            &new.flow,
            new.trigger,
        );
        record.idempotency_key = new.idempotency_key;
        record.callback = new.callback;
        record.replay_of = new.replay_of;
        // Records keep credential headers and secrets blanked; the flow
        // gets the payload from its sealed copy.
        let config = self.instances.resolve_config(&instance).ok();
        let secrets = config.iter().flat_map(|c| c.secret_values());
        self.sealer.protect_trigger(&mut record, flow, secrets);
        let (sender, receiver) = watch::channel(Progress::Pending);
        self.watchers().insert(record.id.clone(), sender);
        let lane = if new.sync { Lane::Sync } else { Lane::Async };
        let mut entry = Self::queue_entry(&record, flow, lane);
        if new.sync && self.store.shared() {
            // The caller waits on this node: run it here if this node can
            // soon, else any node does and this one hears of the answer
            // (see remote.rs). A store of one node's own (sled) needs no
            // home: everything runs here.
            let until = chrono::Duration::from_std(super::remote::HOME_FIRST)
                .map(|lease| Utc::now() + lease)
                .unwrap_or_else(|_| Utc::now());
            entry.home = Some((self.node.clone(), until));
        }
        let stored = self.store.create_execution(&record, &entry);
        // Stored (it counts in the store's queue now) or not: either way
        // the place goes back.
        drop(reservation);
        match stored {
            Ok(Inserted::Created) => {
                self.metrics.submitted.inc();
                self.ready.notify_one();
                Ok(Submitted {
                    record,
                    created: true,
                    progress: Some(receiver),
                })
            }
            Ok(Inserted::Exists(existing)) => {
                self.watchers().remove(&record.id);
                let progress = self.watch(&existing.id);
                Ok(Submitted {
                    record: existing,
                    created: false,
                    progress,
                })
            }
            Err(e) => {
                self.watchers().remove(&record.id);
                Err(e.into())
            }
        }
    }

    /// Progress of a running execution in this process, if it is running.
    pub fn watch(&self, id: &str) -> Option<watch::Receiver<Progress>> {
        self.watchers().get(id).map(watch::Sender::subscribe)
    }

    /// Submits and waits for the end (deploy and teardown flows).
    /// Its caller waits, so it goes in the sync lane.
    pub async fn run_to_end(&self, new: NewExecution) -> Result<ExecutionRecord, EngineError> {
        let submitted = self.submit(NewExecution { sync: true, ..new }).await?;
        let id = submitted.record.id.clone();
        if let Some(mut progress) = submitted.progress {
            loop {
                if let Progress::Finished(record, _) = &*progress.borrow_and_update() {
                    return Ok(*record.clone());
                }
                if progress.changed().await.is_err() {
                    break;
                }
            }
        }
        self.store
            .get_execution(&id)?
            .ok_or(EngineError::UnknownExecution(id))
    }

    /// Starts a new execution with the same trigger payload as `id`.
    pub async fn replay(&self, id: &str) -> Result<Submitted, EngineError> {
        let mut original = self
            .store
            .get_execution(id)?
            .ok_or_else(|| EngineError::UnknownExecution(id.to_owned()))?;
        let trigger = self
            .sealer
            .take_trigger(&mut original)
            .map_err(|e| StorageError::Backend(e.to_string()))?;
        self.submit(NewExecution {
            instance: original.instance,
            flow: original.flow,
            trigger,
            replay_of: Some(original.id),
            ..NewExecution::default()
        })
        .await
    }

    /// Retries a failed execution from its failed step, as the same
    /// execution: its failed step records are removed, it goes back to
    /// `queued` with `retries` counted, and a worker resumes it the way it
    /// resumes a run cut by a restart: the steps that succeeded are not run
    /// again, their recorded outputs (opened from the sealed copies where
    /// they held secrets) feed the later steps. The instance's config is
    /// today's; the trigger payload is the original's.
    pub async fn retry(&self, id: &str) -> Result<ExecutionRecord, EngineError> {
        let record = self
            .store
            .get_execution(id)?
            .ok_or_else(|| EngineError::UnknownExecution(id.to_owned()))?;
        let entry = match self.flow_of(&record) {
            Some(flow) => Self::queue_entry(&record, &flow, Lane::Async),
            None => QueueEntry::new(id, &record.tenant, &record.instance, &record.flow),
        };
        // Watched before it can run (a worker may claim it at once); the
        // end of the run removes the watch. A watch already there (its
        // run's, or a concurrent retry's) is kept: callers may hold it.
        let watched = match self.watchers().entry(id.to_owned()) {
            Entry::Vacant(place) => {
                place.insert(watch::channel(Progress::Pending).0);
                true
            }
            Entry::Occupied(_) => false,
        };
        // One atomic write, and only from `failed` (the store's check is
        // the only one): of concurrent retries one requeues it, the others
        // are told the status it has then.
        let mut seen = None;
        let requeued = self.store.requeue(
            id,
            &mut |r| {
                seen = Some(r.status);
                if r.status != ExecutionStatus::Failed {
                    return false;
                }
                r.status = ExecutionStatus::Queued;
                r.retries += 1;
                r.output = None;
                r.error = None;
                r.finished_at = None;
                true
            },
            Some(&entry),
        );
        let updated = match requeued {
            Ok(Some(updated)) => updated,
            other => {
                // Queued or running, its run ends the watch (another node's
                // run: the remote follower forgets it); else nothing will.
                if watched
                    && !matches!(
                        seen,
                        Some(ExecutionStatus::Queued | ExecutionStatus::Running)
                    )
                {
                    self.watchers().remove(id);
                }
                other?;
                return Err(EngineError::NotFailed {
                    id: id.to_owned(),
                    status: seen.map_or("gone", ExecutionStatus::as_str),
                });
            }
        };
        self.store.durable().await?;
        self.ready.notify_one();
        tracing::info!(execution_id = %id, retries = updated.retries, "retrying from the failed step");
        Ok(updated)
    }

    /// Executions waiting for a worker, for every stored tenant (0 when
    /// idle).
    pub fn queue_depths(&self) -> Vec<(String, usize)> {
        let tenants = self.store.list_tenants().unwrap_or_default();
        tenants
            .into_iter()
            .map(|t| {
                let queued = self.store.queued(&t.name).unwrap_or(0);
                (t.name, queued)
            })
            .collect()
    }

    /// Records how an execution ended and tells whoever waits on it.
    pub(super) fn end(&self, id: &str, result: &super::FlowResult) {
        self.metrics.finished(result.status);
        // The record as stored (without its steps, which nobody told of an
        // end reads): no second read.
        let record = match self.store.update_execution(id, &mut |r| {
            r.status = result.status;
            r.output = Some(result.output.clone());
            r.error = result.error.clone();
            if r.response.is_none() {
                r.response = result.response.clone();
            }
            r.finished_at = Some(Utc::now());
        }) {
            Ok(record) => record,
            Err(e) => {
                tracing::error!(execution_id = %id, error = %e, "cannot record the end of an execution");
                self.store.get_execution(id).ok().flatten()
            }
        };
        // Execution-scope state lives as long as its execution runs.
        let scope = crate::sandbox::StateScope::Execution {
            execution: id.to_owned(),
        };
        if let Err(e) = self.store.clear(&scope) {
            tracing::error!(execution_id = %id, error = %e, "cannot remove execution state");
        }
        if let Some(record) = &record
            && record.status == ExecutionStatus::Failed
        {
            self.metrics.failed(record);
            self.start_error_flows(record, result.failed_step.as_deref());
        }
        if let Some(record) = &record {
            for listener in &self.on_finish {
                listener.finished(record);
            }
        }
        if let Some(sender) = self.watchers().remove(id)
            && let Some(record) = record
        {
            sender.send_replace(Progress::Finished(Box::new(record), result.live.clone()));
        }
    }

    /// Everything the executor needs, from the stored instance and the
    /// execution's integration version.
    pub(super) fn flow_run(&self, mut record: ExecutionRecord) -> Result<FlowRun, String> {
        let instance = self
            .store
            .get_instance(&record.instance)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("instance {:?} no longer exists", record.instance))?;
        let (name, version) = split_component_ref(&record.integration)
            .and_then(|(n, v)| Some((n, v.parse::<u32>().ok()?)))
            .ok_or_else(|| format!("bad integration reference {:?}", record.integration))?;
        let integration = self
            .store
            .shared_integration(name, version)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("integration {} no longer exists", record.integration))?;
        let flow = integration
            .model
            .flow(&record.flow)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "integration {} has no flow {:?}",
                    record.integration, record.flow
                )
            })?;
        let config = self
            .instances
            .resolve_config(&instance)
            .map_err(|e| format!("instance config: {e}"))?;
        let trigger = self
            .sealer
            .take_trigger(&mut record)
            .map_err(|e| e.to_string())?;
        let completed = record
            .steps
            .iter()
            .map(|s| (s.path.clone(), s.clone()))
            .collect();
        Ok(FlowRun {
            execution_id: record.id,
            flow,
            instance: InstanceInfo {
                webhooks: self.instances.webhooks(&instance, &integration),
                id: instance.id,
                tenant: instance.tenant,
                outbound_allow: instance
                    .outbound_allow
                    .iter()
                    .filter_map(|p| p.parse().ok())
                    .collect(),
            },
            trigger,
            config,
            completed,
        })
    }
}

/// An execution let in: its instance and the place it holds.
struct Admitted<'a> {
    instance: crate::storage::InstanceRecord,
    reservation: Option<super::admission::Reservation<'a>>,
}

impl Submit for FlowEngine {
    fn submit(&self, new: NewExecution) -> BoxFuture<'_, Result<Submitted, EngineError>> {
        Box::pin(FlowEngine::submit(self, new))
    }

    fn submit_blocking(&self, new: NewExecution) -> Result<Submitted, EngineError> {
        FlowEngine::submit_blocking(self, new)
    }

    fn run_to_end(&self, new: NewExecution) -> BoxFuture<'_, Result<ExecutionRecord, EngineError>> {
        Box::pin(FlowEngine::run_to_end(self, new))
    }
}
