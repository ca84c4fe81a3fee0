//! The `weft` command line: argument parsing and dispatch. Each command
//! group lives in its own module; they return `anyhow::Result<ExitCode>`
//! and `main` prints the whole error chain.
//!
//! Exit codes: 0 ok, 1 failure (the error on stderr), 2 usage (from clap).

mod client;
mod component;
mod component_remote;
mod demo;
mod exec;
mod instance;
mod integration;
mod new;
mod output;
mod run;
mod serve;
mod tail;
mod tenant;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use client::RemoteOptions;

/// Exit code of a failed command (usage errors exit 2, from clap).
pub const EXIT_FAILURE: u8 = 1;

/// Weft runs integration flows whose steps are sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about)]
pub struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    remote: RemoteOptions,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Inspect, run and manage components.
    #[command(subcommand)]
    Component(component::ComponentCommand),
    /// Upload and inspect integrations.
    #[command(subcommand)]
    Integration(integration::IntegrationCommand),
    /// Manage tenants (operator).
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Create, list and revoke API tokens (operator).
    #[command(subcommand)]
    Token(tenant::TokenCommand),
    /// Manage instances.
    #[command(subcommand)]
    Instance(instance::InstanceCommand),
    /// List, show and replay executions.
    #[command(subcommand)]
    Exec(exec::ExecCommand),
    /// Scaffold a new connector component crate.
    New(new::NewArgs),
    /// Run one flow of an integration file locally, without a server.
    Run(run::RunArgs),
}

/// Options shared by commands that run components locally.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalOptions {
    /// Operator settings file (`weft.toml`: limits, outbound policy);
    /// defaults apply without it. (`--config` is a hidden alias.)
    #[arg(
        long,
        alias = "config",
        value_name = "FILE",
        env = "WEFT_CONFIG",
        hide_env_values = true
    )]
    pub settings: Option<PathBuf>,
}

/// Parses the arguments, runs the command and turns errors into exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    });
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let (json, remote) = (cli.json, &cli.remote);
    match cli.command {
        Command::Serve(args) => {
            let served = runtime.block_on(serve::run(args));
            if served.is_ok() {
                // The server stopped gracefully and flushed its store; end
                // the process here rather than tear the runtime down under
                // tasks still waiting on the store (they resume from it at
                // the next start, as after any stop), whose timers would
                // panic once the runtime's time driver is gone.
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
                std::process::exit(0);
            }
            served
        }
        Command::Component(cmd) => runtime.block_on(component::run(cmd, json, remote)),
        Command::Integration(cmd) => runtime.block_on(integration::run(cmd, json, remote)),
        Command::Tenant(cmd) => runtime.block_on(tenant::run_tenant(cmd, json, remote)),
        Command::Token(cmd) => runtime.block_on(tenant::run_token(cmd, json, remote)),
        Command::Instance(cmd) => runtime.block_on(instance::run(cmd, json, remote)),
        Command::Exec(cmd) => runtime.block_on(exec::run(cmd, json, remote)),
        Command::New(args) => new::run(args),
        Command::Run(args) => runtime.block_on(run::run(args, json)),
    }
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
