//! `weft exec tail`: follows `GET /v1/executions/events` and prints one
//! line per execution change (new, started, ended), as a table row or, with
//! `--json`, the event's JSON on one line; `following executions` on stderr
//! says the stream is watching. Same filters and visibility as
//! `weft exec ls`: a tenant token sees only its own executions.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use futures::StreamExt as _;
use serde_json::Value;

use super::client::{Client, segment};
use super::component_remote::text;

/// Arguments of `weft exec tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Only this instance's executions.
    #[arg(long)]
    instance: Option<String>,
    /// Only this flow's executions.
    #[arg(long)]
    flow: Option<String>,
    /// Only executions with this status (queued, running, succeeded, failed).
    #[arg(long)]
    status: Option<String>,
}

/// One server-sent event: its `event` name and `data`.
fn parse_event(block: &str) -> Option<(String, String)> {
    let mut name = "message".to_owned();
    let mut data = Vec::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = value.trim().to_owned();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    (!data.is_empty()).then(|| (name, data.join("\n")))
}

fn print_line(e: &Value) {
    let duration = e["duration_ms"]
        .as_i64()
        .map_or_else(String::new, |ms| format!("  {ms} ms"));
    let error = e["error"]
        .as_str()
        .map_or_else(String::new, |err| format!("  {err}"));
    println!(
        "{}  {}  {:<9}  {}  instance {}{duration}{error}",
        text(&e["created_at"]),
        text(&e["id"]),
        text(&e["status"]),
        text(&e["flow"]),
        text(&e["instance"]),
    );
}

/// Runs `weft exec tail` until the stream ends or the user interrupts.
pub async fn tail(client: &Client, args: &TailArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut query = Vec::new();
    for (key, value) in [
        ("instance", &args.instance),
        ("flow", &args.flow),
        ("status", &args.status),
    ] {
        if let Some(value) = value {
            query.push(format!("{key}={}", segment(value)));
        }
    }
    let path = if query.is_empty() {
        "/v1/executions/events".to_owned()
    } else {
        format!("/v1/executions/events?{}", query.join("&"))
    };
    let response = client.open_stream(&path).await?;
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("the event stream broke off")?;
        buffer.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let Some((name, data)) = parse_event(&block) else {
                continue;
            };
            if name == "ready" {
                // The stream watches from here on: nothing later is missed.
                eprintln!("following executions (Ctrl-C to stop)");
                continue;
            }
            if name != "execution" {
                continue;
            }
            let Ok(execution) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            if json {
                println!("{execution}");
            } else {
                print_line(&execution);
            }
            use std::io::Write as _;
            std::io::stdout().flush()?;
        }
    }
    anyhow::bail!("the server closed the event stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_by_name_and_data() {
        let block = "event: execution\ndata: {\"id\":1}\nid: x\n\n";
        assert_eq!(
            parse_event(block),
            Some(("execution".to_owned(), "{\"id\":1}".to_owned()))
        );
        assert_eq!(parse_event(": keep-alive\n\n"), None);
    }
}
