//! The composition root: [`Node::open`] builds one Weft node (storage,
//! sandbox, registry, engine, scheduler, instances, the HTTP state) once,
//! in dependency order, with no setters and no placeholders;
//! [`Node::start`] spawns its tasks (engine workers and retention, the
//! lifecycle-end delivery, recovery of unfinished deploys and teardowns,
//! the scheduler, the queue-trigger consumers); [`Node::router`] is the HTTP API that `weft serve`
//! serves and in-process tests call with `tower::ServiceExt::oneshot`.
//!
//! The order, each part built from those before it:
//!
//! 1. store (sled under the data dir, or PostgreSQL when `[storage] url`
//!    is set), master key, sandbox, metrics, component registry (the
//!    engine's [`crate::sandbox::ComponentSource`]);
//! 2. [`InstanceConfigs`], the read side of instances (the engine's
//!    [`InstanceSource`], implemented here);
//! 3. the engine, told about ends through webhook [`Callbacks`] and
//!    [`crate::triggers::LifecycleFinishes`] (one half of a channel);
//! 4. the scheduler and the queue triggers ([`QueueTriggers`], over the
//!    [`Brokers`] of `[brokers]`), starting executions through the engine
//!    as the submit port ([`Submit`]);
//! 5. [`Instances`], submitting lifecycle flows through the same port
//!    ([`FlowLifecycle`]) and telling the scheduler and the queue triggers
//!    about changes;
//! 6. the webhook trigger's [`HookState`] and the server's [`AppState`]
//!    (the webhooks and the manual run route submit through the port too).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context as _;
use axum::Router;

use crate::brokers::{Brokers, QueueTriggers};
use crate::config::Config;
use crate::console::Console;
use crate::flow::{FlowEngine, InstanceSource};
use crate::instances::{InstanceConfigs, InstanceListener, Instances};
use crate::integration::ResolvedConfig;
use crate::metrics::Metrics;
use crate::registry::ComponentRegistry;
use crate::sandbox::Sandbox;
use crate::server::AppState;
use crate::storage::{
    InstanceRecord, IntegrationRecord, PostgresStore, SecretBox, SledStore, Storage,
    is_postgres_url,
};
use crate::submit::Submit;
use crate::triggers::{
    Callbacks, FlowLifecycle, HookState, LifecycleEnds, Scheduler, lifecycle_finishes,
};

/// One Weft node, built and ready to start.
#[derive(Debug)]
pub struct Node {
    state: AppState,
    scheduler: Arc<Scheduler>,
    queue_triggers: Arc<QueueTriggers>,
    /// Taken by [`Node::start`].
    lifecycle_ends: Option<LifecycleEnds>,
}

impl Node {
    /// Opens the node over `data_dir` with `config`. Webhook URLs start
    /// with `[server] public_url`, else `http://{listen}` (the address
    /// bound). Components in `[server] builtins` are registered. Nothing
    /// runs until [`Node::start`].
    pub async fn open(config: Config, data_dir: &Path, listen: SocketAddr) -> anyhow::Result<Node> {
        let started = Instant::now();
        let store = open_store(&config, data_dir)?;
        let secrets = SecretBox::load(data_dir)?;
        let sandbox =
            Arc::new(Sandbox::new(&config.sandbox).context("failed to set up the sandbox")?);
        let metrics = Arc::new(Metrics::new());
        metrics.export_outbound(sandbox.outbound_stats().clone());
        let brokers = Arc::new(
            Brokers::connect(&config.brokers, &metrics)
                .await
                .context("failed to set up the brokers")?,
        );
        let opened_ms = started.elapsed().as_millis() as u64;
        let registry = Arc::new(
            ComponentRegistry::open(
                sandbox.clone(),
                store.clone(),
                metrics.clone(),
                &data_dir.join("artifacts"),
            )
            .await
            .context("failed to load the stored components")?,
        );
        let loaded_ms = started.elapsed().as_millis() as u64;
        if let Some(dir) = &config.server.builtins {
            registry.register_dir(dir).await?;
        }
        let public_url = config
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"));
        let configs = InstanceConfigs::new(store.clone(), secrets, &public_url);
        let (lifecycle_finishes, lifecycle_ends) = lifecycle_finishes();
        let engine = FlowEngine::new(
            store.clone(),
            Arc::new(configs.clone()),
            sandbox.clone(),
            registry.clone(),
            &metrics,
            config.engine.clone(),
            vec![
                Arc::new(Callbacks::new(
                    store.clone(),
                    config.sandbox.outbound.clone(),
                )),
                Arc::new(lifecycle_finishes),
            ],
        );
        let submit: Arc<dyn Submit> = engine.clone();
        let scheduler = Scheduler::new(store.clone(), configs.clone(), submit.clone());
        metrics.register(
            "scheduler_leader",
            "1 while this node fires the schedules (it holds the scheduler lease of a shared store, or has a store of its own)",
            scheduler.leader_gauge(),
        );
        let queue_triggers = QueueTriggers::new(
            brokers.clone(),
            store.clone(),
            configs.clone(),
            submit.clone(),
        );
        let instances = Instances::new(
            configs.clone(),
            Arc::new(FlowLifecycle::new(submit.clone())),
            Arc::new(Listeners(vec![
                scheduler.clone() as Arc<dyn InstanceListener>,
                queue_triggers.clone(),
            ])),
        );
        let hooks = HookState {
            store: store.clone(),
            instances: configs.clone(),
            submit: submit.clone(),
            request_timeout: config.server.request_timeout,
            max_body: config.server.hook_max_body.as_usize(),
        };
        let state = AppState {
            hooks,
            instances,
            engine,
            submit,
            store,
            registry,
            sandbox,
            metrics,
            config: Arc::new(config.server.clone()),
            ready: Arc::new(AtomicBool::new(true)),
            brokers,
            scheduler: scheduler.clone(),
        };
        tracing::debug!(opened_ms, loaded_ms, "node opened");
        Ok(Node {
            state,
            scheduler,
            queue_triggers,
            lifecycle_ends: Some(lifecycle_ends),
        })
    }

    /// Spawns the node's tasks: lifecycle ends reach the instances, the
    /// engine's workers resume unfinished executions, unfinished deploys
    /// and teardowns move on, the scheduler fires. Call once, inside a
    /// tokio runtime.
    pub fn start(&mut self) -> anyhow::Result<()> {
        let ends = self
            .lifecycle_ends
            .take()
            .context("the node is already started")?;
        tokio::spawn(ends.deliver(self.state.instances.clone()));
        self.state
            .engine
            .start()
            .context("failed to resume unfinished executions")?;
        self.state
            .instances
            .recover_lifecycles()
            .context("failed to resume unfinished deploys and teardowns")?;
        self.scheduler
            .start()
            .context("failed to start the scheduler")?;
        self.queue_triggers
            .start()
            .context("failed to start the queue triggers")?;
        Ok(())
    }

    /// The HTTP API over this node, with the web console at `/console`
    /// beside it (its data calls go through this same API).
    pub fn router(&self) -> Router {
        let api = crate::server::router(self.state.clone());
        let secure = self
            .state
            .config
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"));
        let console = Console::new(api.clone(), self.state.store.clone(), secure);
        api.merge(crate::console::routes(console))
    }

    /// The server's shared state (storage, registry, engine, instances).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves [`Node::router`] on `listener` until `shutdown` completes,
    /// then lets in-flight requests finish (`/readyz` answers 503 from
    /// then on) and flushes storage.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        crate::server::serve(listener, self.router(), self.state.ready.clone(), shutdown).await?;
        self.state.store.flush()?;
        Ok(())
    }
}

/// The engine reads instances through its own port; the instances' read
/// side answers it.
impl InstanceSource for InstanceConfigs {
    fn resolve_config(&self, instance: &InstanceRecord) -> Result<ResolvedConfig, String> {
        InstanceConfigs::resolve_config(self, instance).map_err(|e| e.to_string())
    }

    fn webhooks(
        &self,
        instance: &InstanceRecord,
        integration: &IntegrationRecord,
    ) -> std::collections::BTreeMap<String, String> {
        InstanceConfigs::webhooks(self, instance, integration)
    }

    fn secret_box(&self) -> SecretBox {
        InstanceConfigs::secret_box(self)
    }
}

/// The store `config` asks for: PostgreSQL for a `postgres://` URL in
/// `[storage] url`, else sled under `data_dir`. Compiled artifacts stay
/// under `data_dir` either way.
fn open_store(config: &Config, data_dir: &Path) -> anyhow::Result<Arc<dyn Storage>> {
    match config.storage.url.as_deref() {
        None | Some("") => Ok(Arc::new(SledStore::open_with(
            data_dir,
            config.storage.cache_capacity.0,
        )?)),
        Some(url) if is_postgres_url(url) => {
            let store = PostgresStore::open(url)?;
            tracing::info!(database = store.label(), "storage is postgresql");
            Ok(Arc::new(store))
        }
        Some(url) => anyhow::bail!(
            "unsupported store {:?}: expected a postgres:// or postgresql:// url (or none, for sled under --data-dir)",
            url.split('@').next_back().unwrap_or(url)
        ),
    }
}

/// Tells every listener about an instance change (the scheduler and the
/// queue triggers).
struct Listeners(Vec<Arc<dyn InstanceListener>>);

impl InstanceListener for Listeners {
    fn changed(&self, instance: &InstanceRecord) {
        for listener in &self.0 {
            listener.changed(instance);
        }
    }
}
