//! `GET /v1/executions/events`: a server-sent event stream of execution
//! changes, for the web console's live lists and `weft exec tail`.
//!
//! The stream takes the filters of `GET /v1/executions` (`instance`,
//! `flow`, `status`, `tenant`) and the same visibility: a tenant token sees
//! only its tenant's executions, whatever it asks for. Every
//! [`POLL_EVERY`] it reads storage (so executions run by any node of a
//! shared store show up too): the newest [`WATCHED`] executions of all
//! tenants, filtered, plus, by id, the unfinished ones it showed before
//! that have dropped out of that window. Each look therefore costs a
//! bounded read, however long the history; only more than [`WATCHED`]
//! executions created within one poll can slip past. It sends one
//! `execution` event (data: the execution as `GET /v1/executions` lists
//! it) for each one that is new or whose status, start, end or retry count
//! changed. The first
//! event is `ready`, sent once the stream has taken its first look: a
//! client that loads the list after `ready` misses nothing. A comment line
//! every 15 s keeps idle connections open through proxies.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::auth::Caller;
use super::error::{AppError, ErrorBody};
use super::executions::{ExecutionSummary, ListQuery};
use crate::model::ExecutionRecord;
use crate::storage::{ExecutionFilter, StorageError};

/// How often the stream looks at storage: quick enough that a console
/// shows a webhook's execution within a blink, cheap enough (one listing
/// of [`WATCHED`] records) for a few dozen open consoles.
pub const POLL_EVERY: Duration = Duration::from_millis(400);

/// How many of the newest executions (of every tenant) each look reads; a
/// poll interval in which more than this many start lets some pass
/// unannounced (a listing still shows them).
pub const WATCHED: usize = 200;

/// Filters of `GET /v1/executions/events` (those of `GET /v1/executions`
/// without paging).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only this instance's executions.
    pub instance: Option<String>,
    /// Only this flow's executions.
    pub flow: Option<String>,
    /// Only executions with this status.
    pub status: Option<String>,
    /// Only this tenant's (operator; a tenant token always sees only its own).
    pub tenant: Option<String>,
}

/// What a look remembers of an execution, to tell whether it changed.
type Fingerprint = (
    &'static str,
    Option<chrono::DateTime<chrono::Utc>>,
    Option<chrono::DateTime<chrono::Utc>>,
    u32,
    u32,
);

fn fingerprint(r: &ExecutionRecord) -> Fingerprint {
    (
        r.status.as_str(),
        r.started_at,
        r.finished_at,
        r.retries,
        r.resumed,
    )
}

struct Watch {
    state: AppState,
    /// `None`: nothing can match (a tenant asking for another tenant).
    filter: Option<ExecutionFilter>,
    seen: HashMap<String, Fingerprint>,
    /// Events found by the last look, not sent yet.
    pending: Vec<Event>,
    started: bool,
    ticker: tokio::time::Interval,
}

impl Watch {
    /// The executions one look compares: the newest [`WATCHED`] of all
    /// tenants that pass the filter, and the unfinished ones seen before
    /// that are older than that window; oldest first.
    fn records(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>, StorageError> {
        let store = self.state.store.as_ref();
        let window = store.list_executions(&ExecutionFilter {
            limit: WATCHED,
            ..ExecutionFilter::default()
        })?;
        let in_window: HashSet<&str> = window.iter().map(|r| r.id.as_str()).collect();
        let mut records: Vec<ExecutionRecord> = Vec::new();
        for (id, print) in &self.seen {
            if in_window.contains(id.as_str()) || print.0 == "succeeded" || print.0 == "failed" {
                continue;
            }
            if let Some(mut record) = store.get_execution(id)?
                && filter.matches(&record)
            {
                record.steps.clear();
                records.push(record);
            }
        }
        records.extend(window.into_iter().filter(|r| filter.matches(r)));
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }

    /// One look at storage: the events for what changed since the last.
    fn look(&mut self) -> Vec<Event> {
        let Some(filter) = &self.filter else {
            return Vec::new();
        };
        let records = match self.records(filter) {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!(error = %e, "execution events: listing failed; trying again");
                return Vec::new();
            }
        };
        let mut events = Vec::new();
        let mut seen = HashMap::with_capacity(records.len());
        // Oldest first, so a client applying events in order ends with the
        // newest on top.
        for record in &records {
            let print = fingerprint(record);
            if self.started && self.seen.get(&record.id) != Some(&print) {
                let summary = ExecutionSummary::from(record);
                match Event::default().event("execution").json_data(&summary) {
                    Ok(event) => events.push(event.id(record.id.clone())),
                    Err(e) => tracing::warn!(error = %e, "execution events: encoding failed"),
                }
            }
            seen.insert(record.id.clone(), print);
        }
        self.seen = seen;
        events
    }

    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.pending.pop() {
                return Some((Ok(event), self));
            }
            if !self.started {
                self.look();
                self.started = true;
                return Some((Ok(Event::default().event("ready").data("{}")), self));
            }
            self.ticker.tick().await;
            let mut events = self.look();
            events.reverse();
            self.pending = events;
        }
    }
}

/// A server-sent event stream of execution changes (`ready` once, then
/// one `execution` event per new or changed execution).
#[utoipa::path(get, path = "/v1/executions/events", tag = "executions", params(EventsQuery),
    responses(
        (status = 200, content_type = "text/event-stream",
            description = "`event: ready` once the stream watches, then `event: execution` with an ExecutionSummary as data, `id` the execution id, for every new or changed execution the caller may see"),
        (status = 400, description = "an unknown status or an unknown filter", body = ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let Query(query) = query.map_err(|e| AppError::bad_request(e.body_text()))?;
    let list = ListQuery {
        instance: query.instance,
        flow: query.flow,
        status: query.status,
        tenant: query.tenant,
        ..ListQuery::default()
    };
    let filter = list.filter(&caller)?;
    let mut ticker = tokio::time::interval(POLL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watch = Watch {
        state,
        filter,
        seen: HashMap::new(),
        pending: Vec::new(),
        started: false,
        ticker,
    };
    let stream = futures::stream::unfold(watch, Watch::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
