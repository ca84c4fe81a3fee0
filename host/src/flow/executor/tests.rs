//! Resuming from step records: what a recorded failure does on resume.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::{Executor, FlowRun, InstanceInfo};
use crate::flow::{DirectoryComponents, RecordingObserver};
use crate::integration::ResolvedConfig;
use crate::model::{ExecutionStatus, StepFailure, StepRecord, StepStatus};
use crate::sandbox::{MemoryStateStore, Sandbox, SandboxConfig};

const FLOW: &str = r#"
name: t
version: 1
flows:
  - name: f
    trigger: { type: manual }
    steps:
      - id: a
        component: echo@1.0.0
        action: fail
        on_error: ON_ERROR
        input: { kind: fatal, message: no }
      - id: reply
        respond: { status: 200, body: "{{ steps.a }}" }
"#;

fn failed(path: &str) -> StepRecord {
    StepRecord {
        path: path.to_owned(),
        step: path.to_owned(),
        kind: "action".into(),
        component: Some("echo@1.0.0".into()),
        action: Some("fail".into()),
        status: StepStatus::Failed,
        input: None,
        output: None,
        error: Some(StepFailure::other("guest", "fatal error: no")),
        logs: Vec::new(),
        attempts: 1,
        duration: Duration::from_millis(1),
        fuel_used: 0,
        peak_memory: 0,
        started_at: Utc::now(),
        sealed_output: None,
    }
}

/// Resumes flow `f` (with `on_error`) after step `a` was recorded failed.
async fn resume_after_failure(on_error: &str) -> (super::FlowResult, Vec<StepRecord>) {
    let integration = crate::integration::parse(&FLOW.replace("ON_ERROR", on_error)).unwrap();
    let sandbox = Arc::new(Sandbox::new(&SandboxConfig::default()).unwrap());
    let executor = Executor::new(
        sandbox,
        Arc::new(DirectoryComponents::default()),
        Arc::new(MemoryStateStore::default()),
    );
    let run = FlowRun {
        execution_id: "e".into(),
        flow: integration.flow("f").unwrap().clone(),
        instance: InstanceInfo::default(),
        trigger: Value::Null,
        config: ResolvedConfig::default(),
        completed: HashMap::from([("a".to_owned(), failed("a"))]),
    };
    let observer = RecordingObserver::default();
    let result = executor.run(&run, &observer).await;
    (result, observer.records())
}

#[tokio::test]
async fn a_recorded_failure_fails_the_resumed_flow_again() {
    let (result, records) = resume_after_failure("fail").await;
    assert_eq!(result.status, ExecutionStatus::Failed);
    assert_eq!(
        result.error.as_deref(),
        Some("step 'a' failed: fatal error: no")
    );
    assert!(records.is_empty(), "nothing after the failed step ran");
    assert_eq!(
        result.failed_step.as_deref(),
        Some("a"),
        "the error flow names it"
    );
}

#[tokio::test]
async fn a_recorded_failure_with_continue_lets_the_resumed_flow_go_on() {
    let (result, records) = resume_after_failure("continue").await;
    assert_eq!(result.status, ExecutionStatus::Succeeded);
    assert_eq!(records.len(), 1);
    assert_eq!(
        result.response.unwrap().body,
        json!({ "error": { "code": "guest", "message": "fatal error: no", "kind": "guest", "retryable": false } })
    );
}
