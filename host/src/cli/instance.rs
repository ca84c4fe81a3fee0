//! `weft instance create|ls|show|update|enable|disable|run` (`run` lives
//! with the execution commands, in `exec.rs`).

use std::collections::BTreeMap;
use std::process::ExitCode;

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
    /// Enable an instance (runs its deploy flows).
    Enable {
        /// Instance id.
        id: String,
    },
    /// Disable an instance (runs its teardown flows).
    Disable {
        /// Instance id.
        id: String,
    },
    /// Start a flow whose trigger is `manual`.
    Run(super::exec::RunFlowArgs),
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
    let instance: Value = match cmd {
        InstanceCommand::Run(args) => return super::exec::run_flow(args, json, remote).await,
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
        InstanceCommand::Enable { id } => {
            client
                .post(&format!("{}/enable", path(&id)), json!({}))
                .await?
        }
        InstanceCommand::Disable { id } => {
            client
                .post(&format!("{}/disable", path(&id)), json!({}))
                .await?
        }
    };
    if json {
        print_json(&instance)?;
    } else {
        print_instance(&instance);
    }
    Ok(ExitCode::SUCCESS)
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
