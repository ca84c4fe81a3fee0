//! `weft integration push|ls|show|rm`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::client::{Body, Client, RemoteOptions, segment};
use super::component_remote::text;
use super::output::{Table, print_json};

/// `weft integration` subcommands.
#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Upload an integration file (YAML or JSON; its syntax is checked
    /// locally first, the server checks components and actions).
    Push {
        /// The integration file.
        file: PathBuf,
    },
    /// List integration versions.
    Ls,
    /// Show an integration version (`name@version`, or `name` for the latest).
    Show {
        /// `name@version` or `name`.
        reference: String,
    },
    /// Delete an integration version no instance uses.
    Rm {
        /// `name@version`.
        #[arg(value_name = "NAME@VERSION")]
        reference: String,
    },
}

/// Runs a `weft integration` subcommand.
pub async fn run(
    cmd: IntegrationCommand,
    json: bool,
    remote: &RemoteOptions,
) -> anyhow::Result<ExitCode> {
    match cmd {
        IntegrationCommand::Push { file } => {
            let source = std::fs::read_to_string(&file)
                .with_context(|| format!("failed to read {}", file.display()))?;
            if let Err(errors) = crate::integration::parse(&source) {
                let mut message = format!("{} is invalid:", file.display());
                for e in errors.errors() {
                    message.push_str(&format!("\n  {e}"));
                }
                anyhow::bail!(message);
            }
            let answer: Value = Client::new(remote)?
                .send(
                    Method::POST,
                    "/v1/integrations",
                    Body::Raw(source.into(), "application/yaml"),
                )
                .await
                .with_context(|| format!("failed to push {}", file.display()))?;
            if json {
                print_json(&answer)?;
            } else {
                println!("pushed {}@{}", text(&answer["name"]), answer["version"]);
            }
        }
        IntegrationCommand::Ls => {
            let all: Vec<Value> = Client::new(remote)?.get("/v1/integrations").await?;
            if json {
                print_json(&all)?;
            } else {
                let mut table = Table::new(["name", "version", "flows", "components", "created"]);
                for i in &all {
                    table.row([
                        text(&i["name"]),
                        i["version"].to_string(),
                        names(&i["flows"], "name"),
                        strings(&i["components"]),
                        text(&i["created_at"]),
                    ]);
                }
                table.print();
            }
        }
        IntegrationCommand::Show { reference } => {
            let path = match reference.split_once('@') {
                Some((name, version)) => {
                    format!("/v1/integrations/{}/{}", segment(name), segment(version))
                }
                None => format!("/v1/integrations/{}", segment(&reference)),
            };
            let i: Value = Client::new(remote)?.get(&path).await?;
            if json {
                print_json(&i)?;
            } else {
                println!(
                    "{}@{}  {}",
                    text(&i["name"]),
                    i["version"],
                    text(&i["description"])
                );
                println!("components: {}", strings(&i["components"]));
                println!("config: {}\n", strings(&i["config"]));
                let mut table = Table::new(["flow", "trigger"]);
                for f in i["flows"].as_array().into_iter().flatten() {
                    table.row([text(&f["name"]), text(&f["trigger"])]);
                }
                table.print();
            }
        }
        IntegrationCommand::Rm { reference } => {
            let Some((name, version)) = reference.split_once('@') else {
                anyhow::bail!("expected NAME@VERSION, got {reference:?}");
            };
            let path = format!("/v1/integrations/{}/{}", segment(name), segment(version));
            let _: Value = Client::new(remote)?
                .send(Method::DELETE, &path, Body::None)
                .await?;
            if json {
                print_json(&serde_json::json!({ "deleted": reference }))?;
            } else {
                println!("deleted {reference}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn names(list: &Value, field: &str) -> String {
    let names: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(|x| x[field].as_str()).collect())
        .unwrap_or_default();
    names.join(",")
}

fn strings(list: &Value) -> String {
    let items: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}
