//! `weft component push|ls|show|rm`: the server's component registry.

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::Value;

use super::LocalOptions;
use super::client::{Body, Client, RemoteOptions, segment};
use super::component::{load, local_sandbox};
use super::output::{Table, print_json};
use crate::config::Config;

/// Splits `name@version`.
pub fn split_reference(reference: &str) -> anyhow::Result<(&str, &str)> {
    crate::integration::split_component_ref(reference)
        .with_context(|| format!("expected name@version, got {reference:?}"))
}

/// Validates `file` locally, then uploads it.
pub async fn push(
    file: &Path,
    options: &LocalOptions,
    json: bool,
    remote: &RemoteOptions,
) -> anyhow::Result<ExitCode> {
    let config = Config::load(options.settings.as_deref())?;
    let sandbox = local_sandbox(config.sandbox)?;
    let component = load(&sandbox, file)?;
    let manifest = sandbox
        .describe(&component)
        .await
        .with_context(|| format!("component {}", file.display()))?;
    let bytes =
        std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
    let client = Client::new(remote)?;
    let total = bytes.len() as u64;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(format!("uploading {}", manifest.reference()));
        bar
    });
    let body = upload_body(bytes, bar.clone());
    let answer: anyhow::Result<Value> = client
        .send(
            Method::POST,
            "/v1/components",
            Body::Raw(body, "application/wasm"),
        )
        .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let answer = answer.with_context(|| format!("failed to push {}", manifest.reference()))?;
    if json {
        print_json(&answer)?;
    } else {
        println!(
            "pushed {}@{} (sha256 {})",
            answer["name"].as_str().unwrap_or("?"),
            answer["version"].as_str().unwrap_or("?"),
            answer["sha256"].as_str().unwrap_or("?")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The body streamed in 64 KiB chunks, advancing `bar` as they go.
fn upload_body(bytes: Vec<u8>, bar: Option<ProgressBar>) -> reqwest::Body {
    let bytes = bytes::Bytes::from(bytes);
    let chunks: Vec<bytes::Bytes> = (0..bytes.len())
        .step_by(64 * 1024)
        .map(|start| bytes.slice(start..(start + 64 * 1024).min(bytes.len())))
        .collect();
    let stream = futures::stream::iter(chunks.into_iter().map(move |chunk| {
        if let Some(bar) = &bar {
            bar.inc(chunk.len() as u64);
        }
        Ok::<_, std::io::Error>(chunk)
    }));
    reqwest::Body::wrap_stream(stream)
}

/// Lists components.
pub async fn list(json: bool, remote: &RemoteOptions) -> anyhow::Result<ExitCode> {
    let components: Vec<Value> = Client::new(remote)?.get("/v1/components").await?;
    if json {
        print_json(&components)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(["name", "version", "actions", "builtin", "created"]);
    for c in &components {
        let actions: Vec<&str> = c["actions"]
            .as_array()
            .map(|a| a.iter().filter_map(|a| a["key"].as_str()).collect())
            .unwrap_or_default();
        table.row([
            text(&c["name"]),
            text(&c["version"]),
            actions.join(","),
            if c["builtin"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
            text(&c["created_at"]),
        ]);
    }
    table.print();
    Ok(ExitCode::SUCCESS)
}

/// Shows one component.
pub async fn show(reference: &str, json: bool, remote: &RemoteOptions) -> anyhow::Result<ExitCode> {
    let (name, version) = split_reference(reference)?;
    let path = format!("/v1/components/{}/{}", segment(name), segment(version));
    let c: Value = Client::new(remote)?.get(&path).await?;
    if json {
        print_json(&c)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}@{}  {}",
        text(&c["name"]),
        text(&c["version"]),
        text(&c["description"])
    );
    println!("sha256 {}  size {} bytes", text(&c["sha256"]), c["size"]);
    let hosts: Vec<&str> = c["hosts"]
        .as_array()
        .map(|h| h.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let hosts = if hosts.is_empty() {
        "none".to_owned()
    } else {
        hosts.join(", ")
    };
    println!("outbound hosts: {hosts}\n");
    let mut table = Table::new(["action", "title", "description"]);
    for a in c["actions"].as_array().into_iter().flatten() {
        table.row([text(&a["key"]), text(&a["title"]), text(&a["description"])]);
    }
    table.print();
    Ok(ExitCode::SUCCESS)
}

/// Deletes a component.
pub async fn remove(
    reference: &str,
    json: bool,
    remote: &RemoteOptions,
) -> anyhow::Result<ExitCode> {
    let (name, version) = split_reference(reference)?;
    let path = format!("/v1/components/{}/{}", segment(name), segment(version));
    let _: Value = Client::new(remote)?
        .send(Method::DELETE, &path, Body::None)
        .await?;
    if json {
        print_json(&serde_json::json!({ "deleted": reference }))?;
    } else {
        println!("deleted {reference}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A JSON string field as text (`-` when absent).
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}
