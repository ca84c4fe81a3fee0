//! What a node waiting for an execution another node runs learns from
//! the store: which executions have a stored response or end
//! ([`ExecutionStore::answered`](weft::storage::ExecutionStore::answered),
//! both backends), and, on PostgreSQL, the announcement of each response
//! and end to every other store on the database, also after the
//! listening connection was dropped.

use std::time::Duration;

use tokio::sync::broadcast;
use weft::model::FlowResponse;
use weft::storage::ExecutionStore as _;

use super::*;

/// The response and the end are answers; a status change alone is not.
pub(super) fn answered_lists_responded_and_finished(store: &dyn Storage) {
    let records: Vec<ExecutionRecord> = (0..3)
        .map(|_| ExecutionRecord::queued("acme", "i1", "hello@1", "f", json!({})))
        .collect();
    for record in &records {
        create(store, record).unwrap();
    }
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let answered = || {
        let mut found = store.answered(&ids).unwrap();
        found.sort();
        found
    };
    assert!(answered().is_empty());
    for id in &ids {
        store
            .update_execution(id, &mut |r| r.status = ExecutionStatus::Running)
            .unwrap();
    }
    assert!(answered().is_empty(), "running is no answer");
    store
        .update_execution(&ids[0], &mut |r| {
            r.response = Some(FlowResponse {
                status: 200,
                headers: BTreeMap::new(),
                body: json!({"ok": true}),
            });
        })
        .unwrap();
    store
        .update_execution(&ids[2], &mut |r| r.status = ExecutionStatus::Failed)
        .unwrap();
    let mut expected = vec![ids[0].clone(), ids[2].clone()];
    expected.sort();
    assert_eq!(answered(), expected);
    assert!(store.answered(&[]).unwrap().is_empty());
}

/// The next id `events` relays within a deadline.
fn next(events: &mut broadcast::Receiver<String>) -> Option<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .ok()?
            .ok()
    })
}

#[test]
fn postgres_announces_responses_and_ends_to_the_other_nodes() {
    let url = crate::pg::database();
    let runner = PostgresStore::open(&url).unwrap();
    let waiter = PostgresStore::open(&url).unwrap();
    assert!(
        SledStore::open(&crate::support::temp_dir().path().join("d"))
            .unwrap()
            .progress_events()
            .is_none()
    );
    let mut events = waiter.progress_events().expect("postgres announces");
    let record = ExecutionRecord::queued("acme", "i1", "hello@1", "f", json!({}));
    create(&runner, &record).unwrap();
    // The listener connects on its own thread: announce until it hears.
    let mut heard = None;
    for _ in 0..30 {
        runner
            .update_execution(&record.id, &mut |r| {
                r.response = Some(FlowResponse {
                    status: 200,
                    headers: BTreeMap::new(),
                    body: json!({}),
                });
            })
            .unwrap();
        heard = next_within(&mut events, Duration::from_secs(1));
        if heard.is_some() {
            break;
        }
        runner
            .update_execution(&record.id, &mut |r| r.response = None)
            .unwrap();
    }
    assert_eq!(heard.as_deref(), Some(record.id.as_str()));
    // A change that is no news is not announced; the end is (an earlier
    // try's announcement of the first record may still come).
    let third = ExecutionRecord::queued("acme", "i1", "hello@1", "f", json!({}));
    create(&runner, &third).unwrap();
    runner
        .update_execution(&third.id, &mut |r| r.status = ExecutionStatus::Running)
        .unwrap();
    runner
        .update_execution(&third.id, &mut |r| r.status = ExecutionStatus::Succeeded)
        .unwrap();
    let mut heard = Vec::new();
    while let Some(id) = next(&mut events) {
        heard.push(id.clone());
        if id == third.id {
            break;
        }
    }
    assert_eq!(heard.last(), Some(&third.id), "{heard:?}");
    while let Ok(id) = events.try_recv() {
        assert_ne!(id, third.id, "announced more than the end");
    }

    // The database drops every connection; the listener reconnects and
    // hears the next end.
    crate::pg::terminate_connections(&url);
    let other = ExecutionRecord::queued("acme", "i1", "hello@1", "f", json!({}));
    create(&runner, &other).unwrap();
    let mut heard = None;
    for _ in 0..30 {
        runner
            .update_execution(&other.id, &mut |r| r.status = ExecutionStatus::Failed)
            .unwrap();
        heard = next_within(&mut events, Duration::from_secs(1));
        if heard.is_some() {
            break;
        }
        runner
            .update_execution(&other.id, &mut |r| r.status = ExecutionStatus::Running)
            .unwrap();
    }
    assert_eq!(heard.as_deref(), Some(other.id.as_str()));
}

/// The next id `events` relays within `wait`, if any.
fn next_within(events: &mut broadcast::Receiver<String>, wait: Duration) -> Option<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { tokio::time::timeout(wait, events.recv()).await.ok()?.ok() })
}
