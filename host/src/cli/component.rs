//! `weft component …`: local commands for component authors (`describe`,
//! `call`), which need no server, and the server's registry (`push`, `ls`,
//! `show`, `rm`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;

use super::client::RemoteOptions;
use super::output::{Table, print_json};
use super::{EXIT_FAILURE, LocalOptions};
use crate::config::Config;
use crate::sandbox::{LoadedComponent, LogLine, Sandbox, SandboxConfig, StepRequest};
use crate::units::{ByteSize, parse_duration};

mod call_input;

/// `weft component` subcommands.
#[derive(Debug, Subcommand)]
pub enum ComponentCommand {
    /// Print a component's name, version, actions and schemas (local, no server).
    Describe {
        /// The `.wasm` component.
        file: PathBuf,
        #[command(flatten)]
        options: LocalOptions,
    },
    /// Run one action of a component locally in the sandbox.
    Call(CallArgs),
    /// Upload a component to the server (validated locally first).
    Push {
        /// The `.wasm` component.
        file: PathBuf,
        #[command(flatten)]
        options: LocalOptions,
    },
    /// List the server's components.
    Ls,
    /// Show one of the server's components.
    Show {
        /// `name@version`.
        reference: String,
    },
    /// Delete a component no integration uses.
    Rm {
        /// `name@version`.
        reference: String,
    },
}

/// Arguments of `weft component call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// The `.wasm` component.
    file: PathBuf,
    /// The action key.
    action: String,
    /// The input JSON, or `@FILE` to read it from a file (`{}` when
    /// omitted, if the action needs no fields).
    #[arg(long)]
    input: Option<String>,
    /// Fuel budget (default from the settings file, else 1000000000).
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory cap, e.g. 64MiB.
    #[arg(long, value_parser = parse_size)]
    memory: Option<ByteSize>,
    /// Wall-clock deadline, e.g. 5s.
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<std::time::Duration>,
    #[command(flatten)]
    options: LocalOptions,
}

fn parse_size(text: &str) -> Result<ByteSize, String> {
    text.parse()
}

/// Runs a `weft component` subcommand.
pub async fn run(
    cmd: ComponentCommand,
    json: bool,
    remote: &RemoteOptions,
) -> anyhow::Result<ExitCode> {
    match cmd {
        ComponentCommand::Push { file, options } => {
            super::component_remote::push(&file, &options, json, remote).await
        }
        ComponentCommand::Ls => super::component_remote::list(json, remote).await,
        ComponentCommand::Show { reference } => {
            super::component_remote::show(&reference, json, remote).await
        }
        ComponentCommand::Rm { reference } => {
            super::component_remote::remove(&reference, json, remote).await
        }
        ComponentCommand::Describe { file, options } => {
            let config = Config::load(options.settings.as_deref())?;
            let sandbox = local_sandbox(config.sandbox)?;
            let component = load(&sandbox, &file)?;
            let manifest = sandbox
                .describe(&component)
                .await
                .with_context(|| format!("component {}", file.display()))?;
            if json {
                print_json(&manifest)?;
            } else {
                println!("{}  {}", manifest.reference(), manifest.description);
                let hosts = if manifest.hosts.is_empty() {
                    "none".to_owned()
                } else {
                    manifest.hosts.join(", ")
                };
                println!("outbound hosts: {hosts}\n");
                let mut table = Table::new(["action", "title", "description"]);
                for action in &manifest.actions {
                    table.row([
                        action.key.clone(),
                        action.title.clone(),
                        action.description.clone(),
                    ]);
                }
                table.print();
                for action in &manifest.actions {
                    println!("\n{} input:  {}", action.key, action.input_schema);
                    println!("{} output: {}", action.key, action.output_schema);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ComponentCommand::Call(args) => call(args, json).await,
    }
}

async fn call(args: CallArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(args.options.settings.as_deref())?.sandbox;
    if let Some(fuel) = args.fuel {
        config.limits.fuel = fuel;
    }
    if let Some(memory) = args.memory {
        config.limits.memory = memory;
    }
    if let Some(timeout) = args.timeout {
        config.limits.timeout = timeout;
    }
    let input = args.input.as_deref().map(read_input).transpose()?;
    let sandbox = local_sandbox(config)?;
    let component = load(&sandbox, &args.file)?;
    // Check the action and input against the component's own description
    // first; a component that cannot describe itself under these limits
    // (a starved fuel budget, a hostile fixture) is simply run.
    let input = match sandbox.describe(&component).await {
        Ok(manifest) => call_input::check(&manifest, &args.action, input.as_deref())
            .map_err(anyhow::Error::msg)?,
        Err(_) => input.unwrap_or_else(|| "{}".to_owned()),
    };
    let request = StepRequest::local(&sandbox, &args.action, input);
    let outcome = sandbox.run_step(&component, request).await;
    if json {
        let result = match &outcome.result {
            Ok(output) => json!({ "ok": true, "output": output }),
            Err(error) => json!({ "ok": false, "error": error, "message": error.to_string() }),
        };
        print_json(&json!({
            "result": result,
            "fuel_used": outcome.fuel_used,
            "duration_ms": outcome.duration.as_secs_f64() * 1000.0,
            "peak_memory": outcome.peak_memory,
            "logs": outcome.logs,
        }))?;
    } else {
        print_logs(&outcome.logs);
        eprintln!(
            "fuel used {}, {:.1} ms, peak memory {}",
            outcome.fuel_used,
            outcome.duration.as_secs_f64() * 1000.0,
            ByteSize(outcome.peak_memory)
        );
        match &outcome.result {
            Ok(output) => println!("{}", serde_json::to_string_pretty(output)?),
            Err(error) => eprintln!("error: {error}"),
        }
    }
    Ok(match outcome.result {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(EXIT_FAILURE),
    })
}

fn print_logs(logs: &[LogLine]) {
    for line in logs {
        let level = serde_json::to_value(line.level).unwrap_or_default();
        let source = serde_json::to_value(line.source).unwrap_or_default();
        eprintln!(
            "[{} {}] {}",
            level.as_str().unwrap_or("?"),
            source.as_str().unwrap_or("?"),
            line.message
        );
    }
}

/// The text of `--input`: inline JSON or `@FILE`, checked to be JSON.
fn read_input(arg: &str) -> anyhow::Result<String> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("failed to read input file {path}"))?,
        None => arg.to_owned(),
    };
    serde_json::from_str::<serde::de::IgnoredAny>(&text)
        .with_context(|| format!("--input is not valid json: {}", abbreviate(&text)))?;
    Ok(text)
}

fn abbreviate(text: &str) -> String {
    let mut short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    format!("{short:?}")
}

/// A sandbox sized for one local call.
pub fn local_sandbox(mut config: SandboxConfig) -> anyhow::Result<Sandbox> {
    config.pool.instances = 2;
    Sandbox::new(&config)
}

/// Reads and compiles a component file, naming the file in errors.
pub fn load(sandbox: &Sandbox, file: &Path) -> anyhow::Result<LoadedComponent> {
    let bytes =
        std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
    sandbox
        .compile(&bytes)
        .with_context(|| format!("failed to load component {}", file.display()))
}
