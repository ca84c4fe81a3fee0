//! `weft tenant create|ls` and `weft token create`.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{Client, RemoteOptions};
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
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `weft token` subcommand.
pub async fn run_token(
    cmd: TokenCommand,
    json: bool,
    remote: &RemoteOptions,
) -> anyhow::Result<ExitCode> {
    let TokenCommand::Create { tenant } = cmd;
    let answer: Value = Client::new(remote)?
        .post("/v1/tokens", json!({ "tenant": tenant }))
        .await?;
    if json {
        print_json(&answer)?;
    } else {
        // The token alone on stdout, for `export WEFT_TOKEN=$(weft token create …)`.
        println!("{}", text(&answer["token"]));
        eprintln!("this token is shown once; only its hash is stored");
    }
    Ok(ExitCode::SUCCESS)
}
