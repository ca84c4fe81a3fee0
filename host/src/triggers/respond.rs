//! What a webhook answers once its execution is durable: `202
//! {"execution_id"}` with `Location` for async flows (for sync flows past
//! their timeout also a caller-readable `result_url`, see
//! [`super::results`]), else the flow's response, its last step's output,
//! or, for a failed run, the flow's `on_failure` answer or a generic
//! `500 {execution_id, error: "flow failed"}`.
//!
//! The caller waiting on a run gets its answer in clear (the flow's
//! business); an answer built from the stored record (a repeated
//! `Idempotency-Key`, a run of another process) is the redacted copy.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::start::{accepted, with_execution_id};
use crate::model::{ExecutionRecord, ExecutionStatus, FlowResponse};
use crate::storage::Storage;
use crate::submit::{LiveAnswer, Progress, Submitted};

/// The HTTP answer of a `respond` step: its status, headers and body (a
/// string body with a non-JSON content type is sent as is, anything else
/// as JSON).
pub fn flow_response(id: &str, flow: &FlowResponse) -> Response {
    let status = StatusCode::from_u16(flow.status).unwrap_or(StatusCode::OK);
    let mut headers = HeaderMap::new();
    for (name, value) in &flow.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    let text_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| !super::request::is_json(Some(ct)));
    let mut response = match &flow.body {
        Value::String(text) if text_type => (status, text.clone()).into_response(),
        body => (status, Json(body.clone())).into_response(),
    };
    response.headers_mut().extend(headers);
    with_execution_id(response, id)
}

/// The answer for an execution as stored: its response or output when it
/// succeeded, 500 with its error when it failed, 202 while it runs.
pub fn from_record(record: &ExecutionRecord) -> Response {
    match record.status {
        ExecutionStatus::Succeeded => match &record.response {
            Some(response) => flow_response(&record.id, response),
            None => with_execution_id(
                (
                    StatusCode::OK,
                    Json(record.output.clone().unwrap_or(Value::Null)),
                )
                    .into_response(),
                &record.id,
            ),
        },
        ExecutionStatus::Failed => match &record.response {
            // A `respond` step or the flow's `on_failure` answered.
            Some(response) => flow_response(&record.id, response),
            None => failed(&record.id),
        },
        ExecutionStatus::Queued | ExecutionStatus::Running => match &record.response {
            Some(response) => flow_response(&record.id, response),
            None => accepted(&record.id),
        },
    }
}

/// The answer for an execution that just ended in this process: the
/// flow's response in clear if it has one (a `respond` step or its
/// `on_failure`), its output in clear when it succeeded without, else as
/// [`from_record`].
pub fn finished(record: &ExecutionRecord, live: Option<&LiveAnswer>) -> Response {
    match (record.status, live) {
        (
            _,
            Some(LiveAnswer {
                response: Some(response),
                ..
            }),
        ) => flow_response(&record.id, response),
        (ExecutionStatus::Succeeded, Some(live)) => with_execution_id(
            (StatusCode::OK, Json(live.output.clone())).into_response(),
            &record.id,
        ),
        _ => from_record(record),
    }
}

/// `500 {execution_id, error: "flow failed"}`: the caller of a webhook
/// may be anyone, so the step's error (upstream URLs, response bodies)
/// stays on the execution.
pub fn failed(id: &str) -> Response {
    let body = json!({
        "execution_id": id,
        "error": "flow failed",
    });
    with_execution_id(
        (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response(),
        id,
    )
}

/// The answer of a sync webhook: waits up to `timeout` for the flow's
/// response or end, then answers 202 (the run continues).
pub async fn sync(store: &dyn Storage, submitted: Submitted, timeout: Duration) -> Response {
    let id = submitted.record.id.clone();
    if submitted.record.status.is_finished() || submitted.record.response.is_some() {
        return from_record(&submitted.record);
    }
    // A repeat (same Idempotency-Key) is answered from the record even
    // while the first run goes on: only the first caller gets it live.
    let live = submitted.created;
    match submitted.progress {
        Some(progress) => wait(store, &id, progress, timeout, live).await,
        // Not running in this process (an earlier host queued it): report
        // what is stored.
        None => match store.get_execution(&id) {
            Ok(Some(record)) => from_record(&record),
            _ => accepted(&id),
        },
    }
}

async fn wait(
    store: &dyn Storage,
    id: &str,
    mut progress: watch::Receiver<Progress>,
    timeout: Duration,
    live: bool,
) -> Response {
    let deadline = tokio::time::Instant::now() + timeout;
    let stored = || match store.get_execution(id) {
        Ok(Some(record)) => from_record(&record),
        _ => accepted(id),
    };
    loop {
        let current = progress.borrow_and_update().clone();
        match current {
            Progress::Responded(response) if live => return flow_response(id, &response),
            // The engine stores the response before it tells of it.
            Progress::Responded(_) => return stored(),
            Progress::Finished(record, answer) if live => {
                return finished(&record, answer.as_deref());
            }
            Progress::Finished(record, _) => return from_record(&record),
            Progress::Pending => {}
        }
        // The engine tells of a response or an end once the execution is
        // on disk; an answer without one makes sure of it first (a new
        // sync execution is not flushed at its submit).
        match tokio::time::timeout_at(deadline, progress.changed()).await {
            Err(_) => {
                let answer = super::results::timed_out(store, id);
                return durable_then(store, answer).await;
            }
            Ok(Ok(())) => {}
            // The engine let go of the execution without a last word:
            // whatever it stored is the answer.
            Ok(Err(_)) => return durable_then(store, stored()).await,
        }
    }
}

/// `answer` once every write before it is on disk, else a 500 naming
/// the storage failure.
async fn durable_then(store: &dyn Storage, answer: Response) -> Response {
    match store.durable().await {
        Ok(()) => answer,
        Err(e) => {
            tracing::error!(error = %e, "cannot make the execution durable");
            super::HookError::from(e).into_response()
        }
    }
}
