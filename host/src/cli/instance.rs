//! `weft instance create|ls|show|update|enable|disable|rm|state|run` (`run` lives
//! with the execution commands, in `exec.rs`).

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::{Body, Client, RemoteOptions, segment};
use super::component_remote::text;
use super::output::{Table, print_json};

/// `weft instance` subcommands.
#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Create an instance of an integration for a tenant.
    Create(CreateArgs),
    /// List instances.
    Ls {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Show an instance with its webhook URLs.
    Show {
        /// Instance id.
        id: String,
    },
    /// Change an instance's config or secrets, or upgrade it to another
    /// version of its integration (an active instance re-runs deploy).
    Update {
        /// Instance id.
        id: String,
        /// Move to this version of the integration (`name@version`).
        #[arg(long, value_name = "NAME@VERSION")]
        integration: Option<String>,
        #[command(flatten)]
        values: ValueArgs,
    },
    /// Enable an instance (runs its deploy flows) and wait until it is
    /// `active` (exit 0) or `deploy_failed` (exit 1).
    Enable {
        /// Instance id.
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Disable an instance (runs its teardown flows) and wait until it is
    /// `disabled`.
    Disable {
        /// Instance id.
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Delete an instance that is disabled or was never enabled (its
    /// schedules, state and idempotency keys go too; its executions stay
    /// until retention).
    Rm {
        /// Instance id.
        id: String,
    },
    /// Start a flow whose trigger is `manual`.
    Run(super::exec::RunFlowArgs),
    /// Show an instance's state (shared by its flows, or one flow's with
    /// --flow), or delete one key of it (--delete) or all of it (--clear).
    State(StateArgs),
}

/// Arguments of `weft instance state`.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// Instance id.
    id: String,
    /// This flow's own state instead of the instance's shared state.
    #[arg(long)]
    flow: Option<String>,
    /// Delete this key.
    #[arg(long, value_name = "KEY", conflicts_with = "clear")]
    delete: Option<String>,
    /// Delete every key of the scope.
    #[arg(long)]
    clear: bool,
}

/// `weft instance state`.
async fn state(client: &Client, args: StateArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut query = match &args.flow {
        Some(flow) => format!("?scope=flow&flow={}", segment(flow)),
        None => "?scope=instance".to_owned(),
    };
    let path = format!("/v1/instances/{}/state", segment(&args.id));
    let scope = match &args.flow {
        Some(flow) => format!("flow {flow} of instance {}", args.id),
        None => format!("instance {}", args.id),
    };
    if args.delete.is_some() || args.clear {
        if let Some(key) = &args.delete {
            query.push_str(&format!("&key={}", segment(key)));
        }
        let deleted: Value = client
            .send(Method::DELETE, &format!("{path}{query}"), Body::None)
            .await
            .with_context(|| format!("failed to delete state of {scope}"))?;
        if json {
            print_json(&deleted)?;
        } else {
            match (&args.delete, deleted["deleted"].as_u64()) {
                (Some(key), Some(0)) => println!("no key {key:?} in the state of {scope}"),
                (Some(key), _) => println!("deleted {key:?} from the state of {scope}"),
                (None, n) => println!("deleted {} keys from the state of {scope}", n.unwrap_or(0)),
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let shown: Value = client
        .get(&format!("{path}{query}"))
        .await
        .with_context(|| format!("failed to read state of {scope}"))?;
    if json {
        print_json(&shown)?;
        return Ok(ExitCode::SUCCESS);
    }
    let entries = shown["entries"].as_object().cloned().unwrap_or_default();
    if entries.is_empty() {
        println!("the state of {scope} is empty");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(["key", "value"]);
    for (key, value) in &entries {
        table.row([key.clone(), text(value)]);
    }
    table.print();
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `weft instance create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// `name@version`, or `name` for the latest version.
    integration: String,
    /// Owning tenant (may be omitted with a tenant token).
    #[arg(long)]
    tenant: Option<String>,
    #[command(flatten)]
    values: ValueArgs,
}

/// How `enable` and `disable` wait for the lifecycle flows.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Return once the server has started the flows (status `deploying`
    /// or `disabling`) instead of waiting for the final status.
    #[arg(long)]
    no_wait: bool,
    /// Give up waiting after this long (exit 1; the flows go on).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = crate::units::parse_duration)]
    wait_timeout: Duration,
}

/// `--config` and `--secret` values.
#[derive(Debug, Args)]
pub struct ValueArgs {
    /// A config value, `key=value` (repeatable). Numbers and booleans given
    /// as text are converted by the server where the type says so.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A secret, `key=value` or `key=@file` (repeatable).
    #[arg(long = "secret", value_name = "KEY=VALUE|KEY=@FILE")]
    secrets: Vec<String>,
    /// An outbound host pattern this instance adds to the operator
    /// allowlist, e.g. `api.acme.example:443` (repeatable; on update,
    /// replaces the list). Operator token only; it never widens what a
    /// component declares.
    #[arg(long = "allow-host", value_name = "PATTERN")]
    allow_hosts: Vec<String>,
}

impl ValueArgs {
    fn config(&self) -> anyhow::Result<Map<String, Value>> {
        self.config
            .iter()
            .map(|pair| {
                let (k, v) = split_pair(pair, "--config")?;
                Ok((k.to_owned(), Value::String(v.to_owned())))
            })
            .collect()
    }

    fn secrets(&self) -> anyhow::Result<BTreeMap<String, String>> {
        self.secrets
            .iter()
            .map(|pair| {
                let (k, v) = split_pair(pair, "--secret")?;
                let value = match v.strip_prefix('@') {
                    Some(path) => std::fs::read_to_string(path)
                        .with_context(|| format!("failed to read secret file {path}"))?
                        .trim_end_matches(['\n', '\r'])
                        .to_owned(),
                    None => v.to_owned(),
                };
                Ok((k.to_owned(), value))
            })
            .collect()
    }
}

fn split_pair<'a>(pair: &'a str, flag: &str) -> anyhow::Result<(&'a str, &'a str)> {
    match pair.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        // Never echo a secret value back.
        _ => anyhow::bail!("{flag} expects KEY=VALUE"),
    }
}

/// Runs a `weft instance` subcommand.
pub async fn run(
    cmd: InstanceCommand,
    json: bool,
    remote: &RemoteOptions,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    let path = |id: &str| format!("/v1/instances/{}", segment(id));
    let waits = matches!(cmd, InstanceCommand::Update { .. });
    let instance: Value = match cmd {
        InstanceCommand::Run(args) => return super::exec::run_flow(args, json, remote).await,
        InstanceCommand::State(args) => return state(&client, args, json).await,
        InstanceCommand::Rm { id } => {
            let _: Value = client.send(Method::DELETE, &path(&id), Body::None).await?;
            if json {
                print_json(&json!({ "deleted": id }))?;
            } else {
                println!("deleted instance {id}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        InstanceCommand::Create(args) => {
            let mut body = json!({
                "integration": args.integration,
                "tenant": args.tenant,
                "config": args.values.config()?,
                "secrets": args.values.secrets()?,
            });
            // Sent only when given: it is operator-only, so a tenant token
            // creating an instance must leave it out.
            if !args.values.allow_hosts.is_empty() {
                body["outbound_allow"] = json!(args.values.allow_hosts);
            }
            client.post("/v1/instances", body).await?
        }
        InstanceCommand::Ls { tenant } => {
            let query = tenant
                .map(|t| format!("?tenant={}", segment(&t)))
                .unwrap_or_default();
            let all: Vec<Value> = client.get(&format!("/v1/instances{query}")).await?;
            if json {
                print_json(&all)?;
            } else {
                let mut table = Table::new(["id", "tenant", "integration", "status", "created"]);
                for i in &all {
                    table.row([
                        text(&i["id"]),
                        text(&i["tenant"]),
                        text(&i["integration"]),
                        text(&i["status"]),
                        text(&i["created_at"]),
                    ]);
                }
                table.print();
            }
            return Ok(ExitCode::SUCCESS);
        }
        InstanceCommand::Show { id } => client.get(&path(&id)).await?,
        InstanceCommand::Update {
            id,
            integration,
            values,
        } => {
            let mut body = json!({ "config": values.config()?, "secrets": values.secrets()? });
            if let Some(reference) = integration {
                body["integration"] = json!(reference);
            }
            if !values.allow_hosts.is_empty() {
                body["outbound_allow"] = json!(values.allow_hosts);
            }
            client
                .send(Method::PATCH, &path(&id), Body::Json(body))
                .await?
        }
        InstanceCommand::Enable { id, wait } => {
            return transition(&client, &id, "enable", &wait, json).await;
        }
        InstanceCommand::Disable { id, wait } => {
            return transition(&client, &id, "disable", &wait, json).await;
        }
    };
    // An upgrade of an active instance re-runs deploy: wait for it (and
    // exit 1 if it failed).
    let (instance, code) = if waits && is_transitional(&instance) {
        let id = text(&instance["id"]);
        let settled = settle(&client, &id, "deploying", Duration::from_secs(600)).await?;
        let code = exit_for(&settled);
        (settled, code)
    } else {
        (instance, ExitCode::SUCCESS)
    };
    if json {
        print_json(&instance)?;
    } else {
        print_instance(&instance);
    }
    Ok(code)
}

/// How long the CLI waits between looks at a transitional instance.
const POLL_EVERY: Duration = Duration::from_millis(200);

fn is_transitional(instance: &Value) -> bool {
    matches!(instance["status"].as_str(), Some("deploying" | "disabling"))
}

/// 1 for `deploy_failed` (and a status still transitional), else 0.
fn exit_for(instance: &Value) -> ExitCode {
    match instance["status"].as_str() {
        Some("deploy_failed" | "deploying" | "disabling") => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    }
}

/// `enable` or `disable`: starts the transition, then (unless
/// `--no-wait`) waits for the final status with a spinner.
async fn transition(
    client: &Client,
    id: &str,
    action: &str,
    wait: &WaitArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let path = format!("/v1/instances/{}", segment(id));
    let started: Value = client
        .post(&format!("{path}/{action}"), json!({}))
        .await
        .with_context(|| format!("failed to {action} instance {id}"))?;
    if wait.no_wait {
        if json {
            print_json(&started)?;
        } else {
            println!("instance     {}", text(&started["instance"]));
            println!("status       {}", text(&started["status"]));
            if let Some(execution) = started["execution_id"].as_str() {
                println!("lifecycle    execution {execution}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let doing = text(&started["status"]);
    let instance = settle(client, id, &doing, wait.wait_timeout).await?;
    if json {
        print_json(&instance)?;
    } else {
        print_instance(&instance);
    }
    if is_transitional(&instance) {
        anyhow::bail!(
            "instance {id} is still {} after {}; its flows go on (weft instance show {id})",
            text(&instance["status"]),
            crate::units::format_duration(wait.wait_timeout)
        );
    }
    if instance["status"] == "deploy_failed" {
        let execution = text(&instance["last_lifecycle_execution"]);
        eprintln!("error: a deploy flow failed; see weft exec show {execution}");
    }
    Ok(exit_for(&instance))
}

/// Polls the instance until it leaves `deploying`/`disabling` or
/// `deadline` passes; a spinner on a terminal shows it is alive.
async fn settle(
    client: &Client,
    id: &str,
    doing: &str,
    deadline: Duration,
) -> anyhow::Result<Value> {
    let path = format!("/v1/instances/{}", segment(id));
    let spinner = std::io::stderr().is_terminal().then(|| {
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        spinner.set_message(format!("instance {id} is {doing}"));
        spinner.enable_steady_tick(Duration::from_millis(100));
        spinner
    });
    let end = Instant::now() + deadline;
    let instance = loop {
        let instance: Value = client.get(&path).await?;
        if !is_transitional(&instance) || Instant::now() >= end {
            break instance;
        }
        tokio::time::sleep(POLL_EVERY).await;
    };
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    Ok(instance)
}

/// Prints an instance for people.
pub fn print_instance(i: &Value) {
    println!("instance     {}", text(&i["id"]));
    println!("tenant       {}", text(&i["tenant"]));
    println!("integration  {}", text(&i["integration"]));
    println!("status       {}", text(&i["status"]));
    if let Some(execution) = i["last_lifecycle_execution"].as_str() {
        println!("lifecycle    execution {execution}");
    }
    for (section, field) in [
        ("config", "config"),
        ("secrets", "secrets"),
        ("webhooks", "webhooks"),
    ] {
        let Some(map) = i[field].as_object().filter(|m| !m.is_empty()) else {
            continue;
        };
        println!("{section}:");
        for (k, v) in map {
            println!("  {k} = {}", text(v));
        }
    }
}
