//! `weft serve`: opens the data dir, loads the components, makes sure an
//! operator token exists, binds, prints `listening on http://ADDR` (the one
//! line on stdout, which scripts and tests wait for) and serves until
//! SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;

use crate::config::Config;
use crate::flow::{FlowEngine, FlowLifecycle, LifecycleFinishes};
use crate::instances::{Instances, NoLifecycle};
use crate::metrics::Metrics;
use crate::registry::ComponentRegistry;
use crate::sandbox::Sandbox;
use crate::server::auth::{OPERATOR_TOKEN_ENV, ensure_operator_token};
use crate::server::{AppState, serve, shutdown_signal};
use crate::storage::{SecretBox, SledStore, Storage};

/// Arguments of `weft serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where data lives (sled database, master key).
    #[arg(
        long,
        env = "WEFT_DATA_DIR",
        hide_env_values = true,
        default_value = "./weft-data"
    )]
    data_dir: PathBuf,
    /// Operator settings file (`weft.toml`). (`--config` is a hidden alias.)
    #[arg(
        long,
        alias = "config",
        value_name = "FILE",
        env = "WEFT_CONFIG",
        hide_env_values = true
    )]
    settings: Option<PathBuf>,
    /// Register every `*.wasm` in DIR (except `hostile-*` and `fixture-*` test fixtures) as built-ins at
    /// start (overrides `[server] builtins`).
    #[arg(long, value_name = "DIR")]
    builtins: Option<PathBuf>,
    /// Seed a demo from an integration file: store it, create the tenant
    /// `demo` and an enabled instance, print its webhook URLs (idempotent).
    #[arg(long, value_name = "FILE")]
    demo: Option<PathBuf>,
}

/// Runs the server until a shutdown signal.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let config = Config::load(args.settings.as_deref())?;
    let store = Arc::new(SledStore::open(&args.data_dir)?);
    let store: Arc<dyn Storage> = store;
    let secrets = SecretBox::load(&args.data_dir)?;
    let sandbox = Arc::new(Sandbox::new(&config.sandbox).context("failed to set up the sandbox")?);
    let metrics = Arc::new(Metrics::new());
    metrics.export_outbound(sandbox.outbound_stats().clone());
    let opened_ms = started.elapsed().as_millis() as u64;
    let registry = Arc::new(
        ComponentRegistry::open(
            sandbox.clone(),
            store.clone(),
            metrics.clone(),
            &args.data_dir.join("artifacts"),
        )
        .await
        .context("failed to load the stored components")?,
    );
    let loaded_ms = started.elapsed().as_millis() as u64;
    if let Some(dir) = args.builtins.as_ref().or(config.server.builtins.as_ref()) {
        registry.register_dir(dir).await?;
    }
    let env_token = std::env::var(OPERATOR_TOKEN_ENV).ok();
    if let Some(token) = ensure_operator_token(store.as_ref(), env_token.as_deref())? {
        eprint!("{}", token_banner(&token));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let public_url = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let mut instances = Instances::new(store.clone(), secrets, Arc::new(NoLifecycle), &public_url);
    let engine = FlowEngine::new(
        store.clone(),
        instances.clone(),
        sandbox.clone(),
        registry.clone(),
        &metrics,
        config.engine.clone(),
    );
    instances.set_lifecycle(Arc::new(FlowLifecycle::new(engine.clone())));
    let scheduler =
        crate::triggers::install(&store, &mut instances, &engine, &config.sandbox.outbound);
    engine.add_finish_listener(Arc::new(LifecycleFinishes::new(instances.clone())));
    engine
        .start()
        .context("failed to resume unfinished executions")?;
    instances
        .recover_lifecycles()
        .context("failed to resume unfinished deploys and teardowns")?;
    scheduler.start().context("failed to start the scheduler")?;
    let state = AppState {
        instances,
        engine,
        store: store.clone(),
        registry: registry.clone(),
        sandbox,
        metrics,
        config: Arc::new(config.server.clone()),
        ready: Arc::new(AtomicBool::new(true)),
    };
    tracing::info!(
        %addr,
        components = registry.len(),
        data_dir = %args.data_dir.display(),
        opened_ms,
        loaded_ms,
        startup_ms = started.elapsed().as_millis() as u64,
        "weft started"
    );
    println!("listening on http://{addr}");
    if let Some(file) = &args.demo {
        super::demo::seed(&state, file).await?;
    }
    use std::io::Write as _;
    std::io::stdout().flush()?;
    serve(listener, state, shutdown_signal()).await?;
    store.flush()?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The generated operator token, framed so it stands out from the log
/// lines around it, with how to get back in if it is lost. The token line
/// itself is bare (`    export WEFT_TOKEN=…`) so it can be copied whole.
fn token_banner(token: &str) -> String {
    let rule = "=".repeat(76);
    format!(
        "\n{rule}\n\
         weft generated the operator token. It is shown only now: only its hash\n\
         is stored. Keep it:\n\
         \n    export WEFT_TOKEN={token}\n\n\
         Lost it? Restart weft with WEFT_OPERATOR_TOKEN set to a new secret (e.g.\n\
         `WEFT_OPERATOR_TOKEN=$(openssl rand -hex 32) make run`): that secret is\n\
         then an operator token too. With it, create further tokens with\n\
         `weft token create` and revoke the lost one.\n\
         {rule}\n\n"
    )
}
