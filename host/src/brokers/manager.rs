//! [`QueueTriggers`]: which consumers run. One per `active` instance and
//! queue flow, with the subject rendered from that instance's config;
//! started when an instance turns active, replaced when its config or
//! integration version changes the subject, and stopped when it turns
//! anything else (disabling, disabled, deploying again): a disabled
//! instance consumes nothing, and its messages wait in the stream.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::watch;

use super::Brokers;
use super::consumer::{self, Shared, Spec};
use crate::instances::{InstanceConfigs, InstanceListener};
use crate::integration::{SubjectInstance, SubjectTemplate, Trigger};
use crate::storage::{InstanceRecord, InstanceStatus, Storage, StorageError};
use crate::submit::Submit;

/// A running consumer.
struct Running {
    spec: Spec,
    stop: watch::Sender<bool>,
}

/// Starts and stops the consumers of queue triggers as instances change.
pub struct QueueTriggers {
    shared: Arc<Shared>,
    instances: InstanceConfigs,
    /// By `(instance, flow)`.
    running: Mutex<BTreeMap<(String, String), Running>>,
    /// Set by [`QueueTriggers::start`]; before it, changes wait for it.
    runtime: OnceLock<tokio::runtime::Handle>,
}

impl std::fmt::Debug for QueueTriggers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueTriggers").finish_non_exhaustive()
    }
}

impl InstanceListener for QueueTriggers {
    fn changed(&self, instance: &InstanceRecord) {
        if self.runtime.get().is_some() {
            self.reconcile(instance);
        }
    }
}

impl QueueTriggers {
    /// Consumers of `brokers` submitting to `submit`; call
    /// [`QueueTriggers::start`].
    pub fn new(
        brokers: Arc<Brokers>,
        store: Arc<dyn Storage>,
        instances: InstanceConfigs,
        submit: Arc<dyn Submit>,
    ) -> Arc<Self> {
        Arc::new(Self {
            shared: Arc::new(Shared {
                brokers,
                store,
                submit,
            }),
            instances,
            running: Mutex::new(BTreeMap::new()),
            runtime: OnceLock::new(),
        })
    }

    /// Starts the consumers of every active instance (call inside a tokio
    /// runtime, once). Returns how many run.
    pub fn start(&self) -> Result<usize, StorageError> {
        let _ = self.runtime.set(tokio::runtime::Handle::current());
        for instance in self.shared.store.list_instances(None)? {
            if instance.status == InstanceStatus::Active {
                self.reconcile(&instance);
            }
        }
        Ok(self.running().len())
    }

    /// The `(instance, flow)` pairs being consumed, with their subjects.
    pub fn running(&self) -> Vec<Spec> {
        self.lock().values().map(|r| r.spec.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What should run for `instance`: nothing unless it is active.
    fn wanted(&self, instance: &InstanceRecord) -> Vec<Spec> {
        if instance.status != InstanceStatus::Active {
            return Vec::new();
        }
        let Ok(integration) = self.instances.integration_of(instance) else {
            return Vec::new();
        };
        let queue_flows: Vec<_> = integration
            .model
            .flows
            .iter()
            .filter_map(|f| match &f.trigger {
                Trigger::Queue(q) => Some((f.name.clone(), q.clone())),
                _ => None,
            })
            .collect();
        if queue_flows.is_empty() {
            return Vec::new();
        }
        let config = match self.instances.resolve_config(instance) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(instance = %instance.id, error = %e, "queue triggers: the instance's config does not resolve; not consuming");
                return Vec::new();
            }
        };
        let mut specs = Vec::new();
        for (flow, trigger) in queue_flows {
            if self.shared.brokers.get(&trigger.broker).is_none() {
                tracing::error!(instance = %instance.id, flow, broker = %trigger.broker,
                    "queue trigger names a broker this server's weft.toml does not have ([brokers.NAME]); not consuming");
                continue;
            }
            let subject = SubjectTemplate::parse(&trigger.subject).and_then(|t| {
                t.render(
                    &config,
                    SubjectInstance {
                        tenant: &instance.tenant,
                        id: &instance.id,
                    },
                )
            });
            match subject {
                Ok(subject) => specs.push(Spec {
                    instance: instance.id.clone(),
                    flow,
                    broker: trigger.broker.clone(),
                    subject,
                    group: trigger.group().to_owned(),
                }),
                Err(e) => {
                    tracing::error!(instance = %instance.id, flow, error = %e, "queue trigger subject does not resolve; not consuming");
                }
            }
        }
        specs
    }

    /// Brings `instance`'s consumers in line with what it wants.
    fn reconcile(&self, instance: &InstanceRecord) {
        let Some(runtime) = self.runtime.get() else {
            return;
        };
        let wanted = self.wanted(instance);
        let mut running = self.lock();
        let ours: Vec<(String, String)> = running
            .keys()
            .filter(|(i, _)| *i == instance.id)
            .cloned()
            .collect();
        for key in ours {
            let keep = running.get(&key).is_some_and(|r| wanted.contains(&r.spec));
            if !keep && let Some(old) = running.remove(&key) {
                let _ = old.stop.send(true);
                tracing::info!(instance = %key.0, flow = %key.1, "queue trigger stopped");
            }
        }
        for spec in wanted {
            let key = (spec.instance.clone(), spec.flow.clone());
            if running.contains_key(&key) {
                continue;
            }
            let (stop, stopped) = watch::channel(false);
            runtime.spawn(consumer::run(self.shared.clone(), spec.clone(), stopped));
            running.insert(key, Running { spec, stop });
        }
    }
}
