//! `weft serve`: opens the data dir, loads the components, makes sure an
//! operator token exists, binds, prints `listening on http://ADDR` (the one
//! line on stdout, which scripts and tests wait for) and serves until
//! SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;

use crate::config::Config;
use crate::node::Node;
use crate::server::auth::{OPERATOR_TOKEN_ENV, ensure_operator_token};
use crate::server::shutdown_signal;

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

/// Runs the server until a shutdown signal: flags → settings → [`Node`] →
/// serve with graceful shutdown.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut config = Config::load(args.settings.as_deref())?;
    if let Some(dir) = args.builtins {
        config.server.builtins = Some(dir);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let mut node = Node::open(config, &args.data_dir, addr).await?;
    let env_token = std::env::var(OPERATOR_TOKEN_ENV).ok();
    if let Some(token) = ensure_operator_token(node.state().store.as_ref(), env_token.as_deref())? {
        eprint!("{}", token_banner(&token));
    }
    node.start()?;
    tracing::info!(
        %addr,
        components = node.state().registry.len(),
        data_dir = %args.data_dir.display(),
        startup_ms = started.elapsed().as_millis() as u64,
        "weft started"
    );
    println!("listening on http://{addr}");
    println!("console at http://{addr}/console (sign in with an API token)");
    if let Some(file) = &args.demo {
        super::demo::seed(node.state(), file).await?;
    }
    use std::io::Write as _;
    std::io::stdout().flush()?;
    node.serve(listener, shutdown_signal()).await?;
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
