//! Contract cases of execution records: idempotency keys under
//! concurrency, listing, paging, updates and step records, pruning and
//! result tokens (run on both backends by the `contract!` list in
//! `mod.rs`).

use chrono::{Duration as Age, Utc};
use serde_json::json;
use weft::model::{ExecutionId, ExecutionRecord, ExecutionStatus, StepRecord};
use weft::sandbox::{ScopeQuota, ScopeUsage, StateScope, StateStore};
use weft::storage::{ExecutionFilter, Inserted, QueueEntry, Storage};

use super::create;

pub(super) fn idempotency_keys_hold_under_concurrency(store: &dyn Storage) {
    let created = std::sync::atomic::AtomicUsize::new(0);
    let ids = std::sync::Mutex::new(std::collections::BTreeSet::new());
    std::thread::scope(|s| {
        for _ in 0..12 {
            s.spawn(|| {
                let mut record =
                    ExecutionRecord::queued("acme", "i1", "hello@1", "greet", json!({}));
                record.idempotency_key = Some("same".into());
                match create(store, &record).unwrap() {
                    Inserted::Created => {
                        created.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        ids.lock().unwrap().insert(record.id);
                    }
                    Inserted::Exists(first) => {
                        ids.lock().unwrap().insert(first.id);
                    }
                }
            });
        }
    });
    assert_eq!(created.into_inner(), 1, "exactly one submit creates");
    assert_eq!(
        ids.into_inner().unwrap().len(),
        1,
        "every submit sees the one"
    );
    let all = store
        .list_executions(&ExecutionFilter {
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), 1);
    // The keyed execution is found by its key, only under its own
    // instance and flow.
    let found = store.find_keyed("i1", "greet", "same").unwrap();
    assert_eq!(found.map(|r| r.id), Some(all[0].id.clone()));
    assert!(store.find_keyed("i1", "greet", "other").unwrap().is_none());
    assert!(store.find_keyed("i2", "greet", "same").unwrap().is_none());
    assert!(store.find_keyed("i1", "wave", "same").unwrap().is_none());
}

fn step(path: &str, offset_ms: i64) -> StepRecord {
    serde_json::from_value(json!({
        "path": path, "step": path, "kind": "action", "status": "succeeded",
        "attempts": 1, "duration_ms": 1, "fuel_used": 0, "peak_memory": 0,
        "started_at": chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
            + Age::milliseconds(offset_ms),
    }))
    .expect("step record")
}

/// What the engine's retries do: put a failed execution back in line in
/// one write (record, failed step records, queue entry), or nothing.
pub(super) fn requeue_writes_record_steps_and_entry_together(store: &dyn Storage) {
    let record = ExecutionRecord::queued("acme", "i1", "hello@1", "a", json!({}));
    let id = record.id.as_str();
    create(store, &record).unwrap();
    let claimed = store.claim(&super::claim_all("n1")).unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(store.ack("n1", id).unwrap());
    store
        .update_execution(id, &mut |r| r.status = ExecutionStatus::Failed)
        .unwrap();
    let mut failed = step("b", 20);
    failed.status = weft::model::StepStatus::Failed;
    store.put_step(id, &step("a", 10)).unwrap();
    store.put_step(id, &failed).unwrap();
    let paths = |store: &dyn Storage| -> Vec<String> {
        let record = store.get_execution(id).unwrap().unwrap();
        record.steps.into_iter().map(|s| s.path).collect()
    };
    let entry = QueueEntry::new(id, "acme", "i1", "a");
    let retry = &mut |r: &mut ExecutionRecord| {
        let go = r.status == ExecutionStatus::Failed;
        if go {
            r.status = ExecutionStatus::Queued;
            r.retries += 1;
        }
        go
    };

    // Declined: nothing is written.
    let declined = store.requeue(id, &mut |_| false, Some(&entry)).unwrap();
    assert!(declined.is_none());
    assert_eq!(paths(store), ["a", "b"]);
    assert_eq!(
        store.depth().unwrap(),
        0,
        "a declined requeue queues nothing"
    );

    let requeued = store.requeue(id, retry, Some(&entry)).unwrap().unwrap();
    assert_eq!(requeued.status, ExecutionStatus::Queued);
    assert_eq!(requeued.retries, 1);
    assert_eq!(paths(store), ["a"], "the failed step goes, the other stays");
    let stored = store.get_execution(id).unwrap().unwrap();
    assert_eq!(stored.status, ExecutionStatus::Queued);
    let claimed = store.claim(&super::claim_all("n1")).unwrap();
    assert_eq!(claimed.len(), 1, "the requeued execution is claimable");
    assert_eq!(claimed[0].execution, id);

    // A second retry of the same failure finds it queued.
    assert!(store.requeue(id, retry, Some(&entry)).unwrap().is_none());
    assert_eq!(store.get_execution(id).unwrap().unwrap().retries, 1);
    // Without an entry (a flow-level retry keeps its leased one), only
    // the record and the steps change.
    store.put_step(id, &failed).unwrap();
    let kept = store
        .requeue(
            id,
            &mut |r| {
                r.retries += 1;
                true
            },
            None,
        )
        .unwrap()
        .unwrap();
    assert_eq!(kept.retries, 2);
    assert_eq!(paths(store), ["a"]);
    assert!(store.ack("n1", id).unwrap(), "the leased entry stays");
    assert!(store.requeue("missing", retry, None).unwrap().is_none());
}

pub(super) fn executions_list_page_update_and_steps(store: &dyn Storage) {
    let mut ids = Vec::new();
    for (instance, flow) in [("i1", "a"), ("i2", "a"), ("i1", "b"), ("i1", "a")] {
        let record = ExecutionRecord::queued("acme", instance, "hello@1", flow, json!({"n": 1}));
        create(store, &record).unwrap();
        ids.push(record.id);
    }
    let page = |filter: ExecutionFilter| -> Vec<String> {
        store
            .list_executions(&filter)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(
        page(ExecutionFilter {
            limit: 10,
            ..Default::default()
        }),
        newest_first
    );
    let first = page(ExecutionFilter {
        limit: 2,
        ..Default::default()
    });
    assert_eq!(first, newest_first[..2]);
    let next = page(ExecutionFilter {
        limit: 2,
        before: first.last().cloned(),
        ..Default::default()
    });
    assert_eq!(next, newest_first[2..]);
    let i1a = page(ExecutionFilter {
        instance: Some("i1".into()),
        flow: Some("a".into()),
        limit: 10,
        ..Default::default()
    });
    assert_eq!(i1a, [ids[3].clone(), ids[0].clone()]);

    let id = &ids[0];
    let (b, a) = (step("b", 20), step("a", 10));
    store.put_step(id, &b).unwrap();
    store.put_step(id, &a).unwrap();
    let ended = store
        .update_execution(id, &mut |e| {
            e.status = ExecutionStatus::Succeeded;
            e.finished_at = Some(Utc::now());
        })
        .unwrap()
        .unwrap();
    assert_eq!(ended.status, ExecutionStatus::Succeeded);
    let stored = store.get_execution(id).unwrap().unwrap();
    let paths: Vec<&str> = stored.steps.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["a", "b"], "steps in start order");
    let succeeded = page(ExecutionFilter {
        status: Some(ExecutionStatus::Succeeded),
        limit: 10,
        ..Default::default()
    });
    assert_eq!(succeeded, std::slice::from_ref(id));
    assert_eq!(
        store.depth().unwrap(),
        4,
        "each new execution is queued with it"
    );
    assert!(
        store
            .update_execution("missing", &mut |_| {})
            .unwrap()
            .is_none()
    );
}

pub(super) fn pruning_removes_old_finished_executions_only(store: &dyn Storage) {
    let old = Utc::now() - Age::days(10);
    let mut ended = ExecutionRecord::queued("acme", "i1", "hello@1", "greet", json!({}));
    // Created when it would have been (ids are time-ordered; a backend
    // may look only at executions created before the cut).
    ended.id = ExecutionId::first_at(old).into_string();
    ended.created_at = old;
    ended.idempotency_key = Some("k".into());
    ended.status = ExecutionStatus::Failed;
    ended.finished_at = Some(old);
    create(store, &ended).unwrap();
    store.put_step(&ended.id, &step("a", 0)).unwrap();
    let scope = StateScope::Execution {
        execution: ended.id.clone(),
    };
    StateStore::set(store, &scope, "k", "v", ScopeQuota::UNLIMITED).unwrap();
    let mut recent = ExecutionRecord::queued("acme", "i1", "hello@1", "greet", json!({}));
    recent.status = ExecutionStatus::Succeeded;
    recent.finished_at = Some(Utc::now());
    create(store, &recent).unwrap();
    let mut running = ExecutionRecord::queued("acme", "i1", "hello@1", "greet", json!({}));
    running.id = ExecutionId::first_at(old - Age::days(1)).into_string();
    running.created_at = old - Age::days(1);
    running.status = ExecutionStatus::Running;
    create(store, &running).unwrap();
    // Created long ago, ended only now: kept.
    let mut slow = ExecutionRecord::queued("acme", "i1", "hello@1", "greet", json!({}));
    slow.id = ExecutionId::first_at(old + Age::days(1)).into_string();
    slow.created_at = old + Age::days(1);
    slow.status = ExecutionStatus::Succeeded;
    slow.finished_at = Some(Utc::now());
    create(store, &slow).unwrap();

    let pruned = store.prune_executions(Utc::now() - Age::days(1)).unwrap();
    assert_eq!(pruned, 1);
    assert!(store.get_execution(&ended.id).unwrap().is_none());
    assert!(store.get_execution(&recent.id).unwrap().is_some());
    assert!(store.get_execution(&running.id).unwrap().is_some());
    assert!(store.get_execution(&slow.id).unwrap().is_some());
    assert_eq!(store.usage(&scope).unwrap(), ScopeUsage::default());
    // The key is free again.
    let mut again = ExecutionRecord::queued("acme", "i1", "hello@1", "greet", json!({}));
    again.idempotency_key = Some("k".into());
    assert_eq!(create(store, &again).unwrap(), Inserted::Created);
    assert_eq!(
        store.prune_executions(Utc::now() - Age::days(1)).unwrap(),
        0
    );
}

pub(super) fn result_tokens_expire(store: &dyn Storage) {
    let now = Utc::now();
    store
        .put_result_token(&[7; 32], "x1", now + Age::seconds(60))
        .unwrap();
    store
        .put_result_token(&[8; 32], "x2", now - Age::seconds(1))
        .unwrap();
    assert_eq!(
        store.find_result_token(&[7; 32], now).unwrap().as_deref(),
        Some("x1")
    );
    assert_eq!(store.find_result_token(&[8; 32], now).unwrap(), None);
    assert_eq!(
        store
            .find_result_token(&[7; 32], now + Age::seconds(61))
            .unwrap(),
        None
    );
    assert_eq!(store.find_result_token(&[9; 32], now).unwrap(), None);
}
