//! The `weft` command line: argument parsing and dispatch. Each command
//! group lives in its own module; they return `anyhow::Result<ExitCode>`
//! and `main` prints the whole error chain.

mod component;
mod new;
mod output;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code of a failed command (usage errors exit 2, from clap).
pub const EXIT_FAILURE: u8 = 1;

/// Weft runs integration flows whose steps are sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about)]
pub struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, run and manage components.
    #[command(subcommand)]
    Component(component::ComponentCommand),
    /// Scaffold a new connector component crate.
    New(new::NewArgs),
    /// Run one flow of an integration file locally, without a server.
    Run(run::RunArgs),
}

/// Options shared by commands that run components locally.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalOptions {
    /// Operator config file (limits etc.); defaults apply without it.
    #[arg(long, env = "WEFT_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Parses the arguments, runs the command and turns errors into exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
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
    match cli.command {
        Command::Component(cmd) => runtime.block_on(component::run(cmd, cli.json)),
        Command::New(args) => new::run(args),
        Command::Run(args) => runtime.block_on(run::run(args, cli.json)),
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
