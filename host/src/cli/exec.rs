//! `weft exec ls|show|replay|retry|tail` (`tail` in [`super::tail`]) and `weft instance run`: listing executions,
//! showing one as a step tree, replaying one, and starting a `manual` flow
//! (optionally waiting for its end).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::EXIT_FAILURE;
use super::client::{Client, RemoteOptions, segment};
use super::component_remote::text;
use super::output::{Table, print_json};
use super::run::print_step_tree;
use crate::model::StepRecord;

/// How often `--wait` and `--watch` ask the server again.
const POLL_EVERY: Duration = Duration::from_millis(250);
/// How often `exec ls --watch` redraws.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// `weft exec` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExecCommand {
    /// List executions, newest first.
    Ls(LsArgs),
    /// Show an execution: its status and a tree of its steps.
    Show {
        /// Execution id.
        id: String,
    },
    /// Start a new execution with the same trigger payload.
    Replay {
        /// Execution id.
        id: String,
        /// Wait for the new execution to end and show it.
        #[arg(long)]
        wait: bool,
    },
    /// Print executions as they start and end, live, from the server's
    /// event stream (until interrupted).
    Tail(super::tail::TailArgs),
    /// Retry a failed execution from its failed step (the same execution;
    /// steps that succeeded are not run again).
    Retry {
        /// Execution id.
        id: String,
        /// Wait for it to end and show it.
        #[arg(long)]
        wait: bool,
    },
}

/// Arguments of `weft exec ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only this instance's executions.
    #[arg(long)]
    instance: Option<String>,
    /// Only this flow's executions.
    #[arg(long)]
    flow: Option<String>,
    /// Only executions with this status (queued, running, succeeded, failed).
    #[arg(long)]
    status: Option<String>,
    /// At most this many (1 to 500; the server's default is 50).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: Option<u32>,
    /// Continue after a previous page: the cursor its `more:` line (or the
    /// API's `next_cursor`) gave.
    #[arg(long)]
    cursor: Option<String>,
    /// Redraw the list every 2 seconds until interrupted.
    #[arg(long)]
    watch: bool,
}

/// Arguments of `weft instance run`.
#[derive(Debug, Args)]
pub struct RunFlowArgs {
    /// Instance id.
    id: String,
    /// A flow of the instance whose trigger is `manual`.
    flow: String,
    /// The trigger body as a JSON file (`-` for stdin); default `{}`.
    #[arg(long)]
    payload: Option<PathBuf>,
    /// Wait for the execution to end and show it (exit 1 if it failed).
    #[arg(long)]
    wait: bool,
}

fn execution_path(id: &str) -> String {
    format!("/v1/executions/{}", segment(id))
}

/// Runs a `weft exec` subcommand.
pub async fn run(cmd: ExecCommand, json: bool, remote: &RemoteOptions) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    match cmd {
        ExecCommand::Ls(args) => list(&client, &args, json).await,
        ExecCommand::Tail(args) => super::tail::tail(&client, &args, json).await,
        ExecCommand::Show { id } => {
            let execution: Value = client.get(&execution_path(&id)).await?;
            show(&execution, json)
        }
        ExecCommand::Replay { id, wait } => {
            let started: Value = client
                .post(&format!("{}/replay", execution_path(&id)), json!({}))
                .await?;
            started_or_wait(&client, started, wait, json).await
        }
        ExecCommand::Retry { id, wait } => {
            let started: Value = client
                .post(&format!("{}/retry", execution_path(&id)), json!({}))
                .await?;
            started_or_wait(&client, started, wait, json).await
        }
    }
}

/// Runs `weft instance run`.
pub async fn run_flow(
    args: RunFlowArgs,
    json: bool,
    remote: &RemoteOptions,
) -> anyhow::Result<ExitCode> {
    let payload = read_payload(args.payload.as_ref())?;
    let client = Client::new(remote)?;
    let path = format!(
        "/v1/instances/{}/flows/{}/run",
        segment(&args.id),
        segment(&args.flow)
    );
    let started: Value = client.post(&path, payload).await?;
    started_or_wait(&client, started, args.wait, json).await
}

fn read_payload(path: Option<&PathBuf>) -> anyhow::Result<Value> {
    let Some(path) = path else {
        return Ok(json!({}));
    };
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .context("failed to read the payload from stdin")?
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("failed to read payload {}", path.display()))?
    };
    serde_json::from_str(&text)
        .with_context(|| format!("payload {} is not valid json", path.display()))
}

/// Prints the started execution's id, or waits for its end and shows it.
async fn started_or_wait(
    client: &Client,
    started: Value,
    wait: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let Some(id) = started["execution_id"].as_str() else {
        bail!("the server did not answer with an execution id: {started}");
    };
    if !wait {
        if json {
            print_json(&started)?;
        } else {
            println!("execution {id} queued; see it with `weft exec show {id}`");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let execution = loop {
        let execution: Value = client.get(&execution_path(id)).await?;
        if matches!(execution["status"].as_str(), Some("succeeded" | "failed")) {
            break execution;
        }
        tokio::time::sleep(POLL_EVERY).await;
    };
    show(&execution, json)
}

async fn list(client: &Client, args: &LsArgs, json: bool) -> anyhow::Result<ExitCode> {
    if args.watch && json {
        bail!("--watch redraws a table; it cannot be combined with --json");
    }
    let mut query: Vec<String> = Vec::new();
    for (key, value) in [
        ("instance", args.instance.clone()),
        ("flow", args.flow.clone()),
        ("status", args.status.clone()),
        ("limit", args.limit.map(|n| n.to_string())),
        ("cursor", args.cursor.clone()),
    ] {
        if let Some(value) = value {
            query.push(format!("{key}={}", segment(&value)));
        }
    }
    let path = if query.is_empty() {
        "/v1/executions".to_owned()
    } else {
        format!("/v1/executions?{}", query.join("&"))
    };
    loop {
        let page: Value = client.get(&path).await?;
        if json {
            print_json(&page)?;
            return Ok(ExitCode::SUCCESS);
        }
        if args.watch {
            // Clear the screen and go home before redrawing.
            print!("\x1b[2J\x1b[H");
        }
        let mut table = Table::new(["id", "flow", "status", "created", "duration"]);
        for e in page["executions"].as_array().into_iter().flatten() {
            table.row([
                text(&e["id"]),
                text(&e["flow"]),
                text(&e["status"]),
                text(&e["created_at"]),
                e["duration_ms"]
                    .as_i64()
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms")),
            ]);
        }
        table.print();
        if let Some(cursor) = page["next_cursor"].as_str() {
            println!("(more: {})", next_page_command(args, cursor));
        }
        if !args.watch {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// The `weft exec ls` that shows the page after this one: the same filters
/// and `--limit`, and the page's cursor.
fn next_page_command(args: &LsArgs, cursor: &str) -> String {
    let mut command = "weft exec ls".to_owned();
    for (flag, value) in [
        ("--instance", args.instance.clone()),
        ("--flow", args.flow.clone()),
        ("--status", args.status.clone()),
        ("--limit", args.limit.map(|n| n.to_string())),
        ("--cursor", Some(cursor.to_owned())),
    ] {
        if let Some(value) = value {
            command.push_str(&format!(" {flag} {}", shell_word(&value)));
        }
    }
    command
}

/// `value` quoted for a POSIX shell when it needs it.
fn shell_word(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:@/".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Prints an execution (JSON or a step tree); exit 1 if it failed.
fn show(execution: &Value, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(execution)?;
    } else {
        print_execution(execution)?;
    }
    Ok(match execution["status"].as_str() {
        Some("failed") => ExitCode::from(EXIT_FAILURE),
        _ => ExitCode::SUCCESS,
    })
}

/// Prints an execution for people: header lines, then the step tree.
fn print_execution(e: &Value) -> anyhow::Result<()> {
    println!("execution    {}", text(&e["id"]));
    println!(
        "flow         {} / {}  (instance {}, tenant {})",
        text(&e["integration"]),
        text(&e["flow"]),
        text(&e["instance"]),
        text(&e["tenant"])
    );
    let mut status = text(&e["status"]);
    if let Some(n) = e["resumed"].as_u64().filter(|n| *n > 0) {
        status.push_str(&format!(
            "  (resumed {n} time{} after a restart)",
            if n == 1 { "" } else { "s" }
        ));
    }
    if let Some(n) = e["retries"].as_u64().filter(|n| *n > 0) {
        status.push_str(&format!(
            "  (retried {n} time{} from the failed step)",
            if n == 1 { "" } else { "s" }
        ));
    }
    println!("status       {status}");
    if let Some(attempts) = e["attempts"].as_array().filter(|a| !a.is_empty()) {
        println!(
            "attempts     {} (flow retry; earlier runs failed):",
            attempts.len() + 1
        );
        for (i, a) in attempts.iter().enumerate() {
            println!(
                "  {}. {}  step {} failed: {}; retried at {}",
                i + 1,
                text(&a["failed_at"]),
                text(&a["failed_step"]),
                text(&a["error"]),
                text(&a["retry_at"])
            );
        }
    }
    if let Some(original) = e["replay_of"].as_str() {
        println!("replay of    {original}");
    }
    println!("created      {}", text(&e["created_at"]));
    if let Some(started) = e["started_at"].as_str() {
        println!("started      {started}");
    }
    if let Some(finished) = e["finished_at"].as_str() {
        let duration = e["duration_ms"]
            .as_i64()
            .map(|ms| format!("  ({ms} ms)"))
            .unwrap_or_default();
        println!("finished     {finished}{duration}");
    }
    println!("trigger      {}", e["trigger"]);
    let steps: Vec<StepRecord> = serde_json::from_value(e["steps"].clone())
        .context("the server answered step records this client cannot read")?;
    if steps.is_empty() {
        println!("steps:       (none yet)");
    } else {
        println!("steps:");
        print_step_tree(&steps);
    }
    if let Some(response) = e.get("response").filter(|r| !r.is_null()) {
        println!(
            "response     {} {}",
            text(&response["status"]),
            response["body"]
        );
    }
    if let Some(error) = e["error"].as_str() {
        println!("error        {error}");
    } else if let Some(output) = e.get("output").filter(|o| !o.is_null()) {
        println!("output       {}", serde_json::to_string_pretty(output)?);
    }
    if let Some(callback) = e["callback"].as_str() {
        let outcome = e["callback_outcome"].as_str().unwrap_or("pending");
        println!("callback     {callback}: {outcome}");
    }
    Ok(())
}
