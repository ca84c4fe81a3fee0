//! `weft run FILE.yaml --flow F`: runs one flow locally, with no server, so
//! an author can try an integration before pushing it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Map, Value, json};

use super::EXIT_FAILURE;
use super::output::print_json;
use crate::config::Config;
use crate::flow::{DirectoryComponents, Executor, FlowRun, InstanceInfo, RecordingObserver};
use crate::integration::{self, validate_instance_config};
use crate::model::{ExecutionStatus, StepRecord, StepStatus};
use crate::sandbox::{MemoryStateStore, Sandbox};
use crate::units::ByteSize;

/// Arguments of `weft run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The integration file (YAML or JSON).
    file: PathBuf,
    /// The flow to run.
    #[arg(long)]
    flow: String,
    /// The trigger body as a JSON file (`-` for stdin); default `{}`.
    #[arg(long)]
    payload: Option<PathBuf>,
    /// Directory of built components, found by the name and version their
    /// describe() reports.
    #[arg(long, default_value = "target/components")]
    components: PathBuf,
    /// An instance config value, `key=value` (repeatable); the operator
    /// settings file is `--settings`.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A secret, `key=value` or `key=@file` (repeatable).
    #[arg(long = "secret", value_name = "KEY=VALUE")]
    secrets: Vec<String>,
    /// Operator settings file (limits), as for `weft serve`.
    #[arg(long, value_name = "FILE", env = "WEFT_CONFIG", hide_env_values = true)]
    settings: Option<PathBuf>,
}

/// Splits `key=value`, reading `@file` values when `files` is true.
pub fn parse_pairs(pairs: &[String], files: bool) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("{pair:?} is not key=value");
        };
        let value = match value.strip_prefix('@') {
            Some(path) if files => std::fs::read_to_string(path)
                .with_context(|| format!("failed to read {path} for {key:?}"))?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
            _ => value.to_owned(),
        };
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

/// Runs the flow and prints its step tree (or JSON).
pub async fn run(args: RunArgs, json_output: bool) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("failed to read {}", args.file.display()))?;
    let integration = integration::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: invalid integration:\n{e}", args.file.display()))?;
    let settings = Config::load(args.settings.as_deref())?;
    let sandbox = Arc::new(Sandbox::new(&settings.sandbox)?);
    let components = Arc::new(DirectoryComponents::load(&sandbox, &args.components).await?);
    integration::validate(&integration, &components.catalog())
        .map_err(|e| anyhow::anyhow!("{}: invalid integration:\n{e}", args.file.display()))?;
    let Some(flow) = integration.flow(&args.flow) else {
        let names: Vec<&str> = integration.flows.iter().map(|f| f.name.as_str()).collect();
        bail!(
            "integration {} has no flow {:?}{}",
            integration.name,
            args.flow,
            integration::hint(&args.flow, names.iter().copied())
        );
    };
    let values: Map<String, Value> = parse_pairs(&args.config, false)?
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let secrets = parse_pairs(&args.secrets, true)?;
    let config = validate_instance_config(&integration, &values, &secrets)
        .map_err(|e| anyhow::anyhow!("invalid config:\n{e}"))?;
    let payload = read_payload(args.payload.as_ref())?;

    let executor = Executor::new(sandbox, components, Arc::new(MemoryStateStore::default()));
    let run = FlowRun {
        execution_id: uuid::Uuid::now_v7().to_string(),
        flow: flow.clone(),
        instance: InstanceInfo {
            id: "local".into(),
            tenant: "local".into(),
            webhooks: BTreeMap::new(),
            outbound_allow: Vec::new(),
        },
        trigger: json!({ "body": payload, "headers": {}, "query": {}, "method": "POST" }),
        config,
        completed: HashMap::new(),
    };
    let observer = RecordingObserver::default();
    let result = executor.run(&run, &observer).await;
    if json_output {
        print_json(&json!({
            "execution_id": run.execution_id,
            "status": result.status,
            "output": result.output,
            "error": result.error,
            "response": result.response,
            "steps": observer.records(),
        }))?;
    } else {
        println!(
            "{} flow {} ({}): {}",
            integration.name,
            flow.name,
            run.execution_id,
            result.status.as_str()
        );
        print_step_tree(&observer.records());
        if let Some(response) = &result.response {
            println!("response {}: {}", response.status, response.body);
        }
        match &result.error {
            Some(error) => eprintln!("error: {error}"),
            None => println!("output: {}", serde_json::to_string_pretty(&result.output)?),
        }
    }
    Ok(match result.status {
        ExecutionStatus::Succeeded => ExitCode::SUCCESS,
        _ => ExitCode::from(EXIT_FAILURE),
    })
}

fn read_payload(path: Option<&PathBuf>) -> anyhow::Result<Value> {
    let Some(path) = path else {
        return Ok(json!({}));
    };
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("failed to read payload {}", path.display()))?
    };
    serde_json::from_str(&text)
        .with_context(|| format!("payload {} is not valid json", path.display()))
}

/// How much of a step's input the step tree shows (the JSON view has all).
const MAX_SHOWN_INPUT: usize = 400;

/// `text` cut to at most `max` bytes at a character boundary, with `…`.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Prints records as an indented tree (nesting from their paths), in the
/// order steps started.
pub fn print_step_tree(records: &[StepRecord]) {
    let mut records: Vec<&StepRecord> = records.iter().collect();
    records.sort_by_key(|r| r.started_at);
    for record in records {
        let depth = record.path.matches(['.', '[']).count();
        let mark = match record.status {
            StepStatus::Succeeded => "✓",
            StepStatus::Failed => "✗",
        };
        let what = match (&record.component, &record.action) {
            (Some(c), Some(a)) => format!("{c} {a}"),
            _ => record.kind.clone(),
        };
        let mut line = format!(
            "{:indent$}{mark} {}  {what}  {:.1} ms",
            "",
            record.path,
            record.duration.as_secs_f64() * 1000.0,
            indent = depth * 2
        );
        if record.kind == "action" {
            line.push_str(&format!(
                "  fuel {}  mem {}  attempts {}",
                record.fuel_used,
                ByteSize(record.peak_memory),
                record.attempts
            ));
        }
        println!("{line}");
        if let Some(error) = &record.error {
            println!(
                "{:indent$}  error: {}",
                "",
                error.message,
                indent = depth * 2
            );
        }
        if let Some(input) = record.input.as_ref().filter(|_| record.kind == "action") {
            println!(
                "{:indent$}  input: {}",
                "",
                shorten(&input.to_string(), MAX_SHOWN_INPUT),
                indent = depth * 2
            );
        }
        let mut logs: Vec<_> = record.logs.iter().collect();
        logs.sort_by_key(|l| l.at);
        for log in logs {
            let at = log
                .at
                .map(|at| format!("{} ", at.format("%H:%M:%S%.3f")))
                .unwrap_or_default();
            println!(
                "{:indent$}  log: {at}{} {}: {}",
                "",
                format!("{:?}", log.level).to_lowercase(),
                format!("{:?}", log.source).to_lowercase(),
                log.message,
                indent = depth * 2
            );
        }
    }
}
