//! `weft tenant create|ls|rm` and `weft token create|ls|revoke`.

use std::process::ExitCode;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Body, Client, RemoteOptions, segment};
use super::component_remote::text;
use super::output::{Table, print_json};

/// `weft tenant` subcommands.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Slug: lowercase letters, digits and '-'.
        name: String,
    },
    /// List tenants.
    Ls,
    /// Delete a tenant without instances; its tokens are revoked.
    Rm {
        /// Tenant name.
        name: String,
    },
}

/// `weft token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token (an operator token without --tenant); it is shown
    /// once.
    Create {
        /// The tenant the token acts for.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List tokens by id and prefix (never the tokens themselves).
    Ls,
    /// Revoke a token: it stops working at once.
    Revoke {
        /// Token id (from `weft token ls`).
        id: String,
    },
}

/// Runs a `weft tenant` subcommand.
pub async fn run_tenant(
    cmd: TenantCommand,
    json: bool,
    remote: &RemoteOptions,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    match cmd {
        TenantCommand::Create { name } => {
            let answer: Value = client.post("/v1/tenants", json!({ "name": name })).await?;
            if json {
                print_json(&answer)?;
            } else {
                println!("created tenant {}", text(&answer["name"]));
            }
        }
        TenantCommand::Ls => {
            let all: Vec<Value> = client.get("/v1/tenants").await?;
            if json {
                print_json(&all)?;
            } else {
                let mut table = Table::new(["name", "created"]);
                for t in &all {
                    table.row([text(&t["name"]), text(&t["created_at"])]);
                }
                table.print();
            }
        }
        TenantCommand::Rm { name } => {
            let _: Value = client
                .send(
                    Method::DELETE,
                    &format!("/v1/tenants/{}", segment(&name)),
                    Body::None,
                )
                .await?;
            if json {
                print_json(&json!({ "deleted": name }))?;
            } else {
                println!("deleted tenant {name} (its tokens are revoked)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `weft token` subcommand.
pub async fn run_token(
    cmd: TokenCommand,
    json: bool,
    remote: &RemoteOptions,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    match cmd {
        TokenCommand::Create { tenant } => {
            let answer: Value = client
                .post("/v1/tokens", json!({ "tenant": tenant }))
                .await?;
            if json {
                print_json(&answer)?;
            } else {
                // The token alone on stdout, for `export WEFT_TOKEN=$(weft token create …)`.
                println!("{}", text(&answer["token"]));
                eprintln!("this token is shown once; only its hash is stored");
            }
        }
        TokenCommand::Ls => {
            let all: Vec<Value> = client.get("/v1/tokens").await?;
            if json {
                print_json(&all)?;
            } else {
                let mut table = Table::new(["id", "prefix", "tenant", "origin", "created"]);
                for t in &all {
                    let prefix = t["prefix"]
                        .as_str()
                        .map_or("-".to_owned(), |p| format!("{p}…"));
                    let tenant = t["tenant"].as_str().unwrap_or("(operator)").to_owned();
                    table.row([
                        text(&t["id"]),
                        prefix,
                        tenant,
                        text(&t["origin"]),
                        text(&t["created_at"]),
                    ]);
                }
                table.print();
            }
        }
        TokenCommand::Revoke { id } => {
            let _: Value = client
                .send(
                    Method::DELETE,
                    &format!("/v1/tokens/{}", segment(&id)),
                    Body::None,
                )
                .await?;
            if json {
                print_json(&json!({ "revoked": id }))?;
            } else {
                println!("revoked token {id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
