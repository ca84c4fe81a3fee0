//! One storage contract, two backends: every case below takes a
//! `&dyn Storage` and runs against the embedded sled store (on disk in a
//! temp dir) and against PostgreSQL (a database of its own on the test
//! run's private server, see `pg.rs`), through weft's public storage API.
//! A behaviour that differs between the backends fails one of the pair.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration as Age, Utc};
use serde_json::json;
use weft::model::{ExecutionRecord, ExecutionStatus};
use weft::sandbox::{ScopeQuota, ScopeUsage, SetError, StateScope, StateStore};
use weft::storage::{
    ClaimRequest, Inserted, InstanceRecord, InstanceStatus, IntegrationRecord, PostgresStore,
    QueueEntry, ScheduleEntry, SledStore, Storage, TenantRecord, TokenRecord, queue_contract,
};

/// A store and what keeps it alive.
struct Fixture {
    store: Arc<dyn Storage>,
    _dir: Option<tempfile::TempDir>,
}

fn sled_fixture() -> Fixture {
    let dir = crate::support::temp_dir();
    let store = SledStore::open(&dir.path().join("data")).expect("open sled");
    Fixture {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

fn pg_fixture() -> Fixture {
    let url = crate::pg::database();
    let store = PostgresStore::open(&url).expect("open postgres");
    Fixture {
        store: Arc::new(store),
        _dir: None,
    }
}

/// Each case as `sled::case` and `postgres::case`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sled {
            $(#[test] fn $case() { super::$case(&*super::sled_fixture().store) })*
        }
        mod postgres {
            $(#[test] fn $case() { super::$case(&*super::pg_fixture().store) })*
        }
    };
}

contract!(
    components_are_immutable_and_sorted,
    integrations_keep_versions_and_latest,
    tenants_and_tokens,
    instances_index_update_and_delete_cascade,
    idempotency_keys_hold_under_concurrency,
    executions_list_page_update_and_steps,
    requeue_writes_record_steps_and_entry_together,
    state_quotas_and_totals,
    state_quota_holds_under_concurrency,
    schedule_due_times,
    pruning_removes_old_finished_executions_only,
    result_tokens_expire,
    queue_claim_ack_release,
    queue_expired_leases_are_reclaimed,
    queue_release_waits_for_not_before,
    queue_home_node_claims_first,
    queue_tenants_share_and_sync_goes_first,
    queue_flow_limits_and_fifo,
    queue_lanes_are_counted_apart,
    answered_lists_responded_and_finished,
);

/// Stores `record` with its queue entry, as the engine does.
fn create(
    store: &dyn Storage,
    record: &ExecutionRecord,
) -> weft::storage::Result<Inserted<ExecutionRecord>> {
    let entry = QueueEntry::new(&record.id, &record.tenant, &record.instance, &record.flow);
    store.create_execution(record, &entry)
}

/// A claim of everything waiting, leased for a minute to `node`.
fn claim_all(node: &str) -> ClaimRequest<'_> {
    let now = Utc::now();
    ClaimRequest {
        node,
        now,
        lease_until: now + Age::minutes(1),
        per_tenant: 100,
        max: 100,
    }
}

fn queue_claim_ack_release(store: &dyn Storage) {
    queue_contract::claim_ack_release(store);
}

fn queue_expired_leases_are_reclaimed(store: &dyn Storage) {
    queue_contract::expired_leases_are_reclaimed(store);
}

fn queue_release_waits_for_not_before(store: &dyn Storage) {
    queue_contract::release_waits_for_not_before(store);
}

fn queue_home_node_claims_first(store: &dyn Storage) {
    queue_contract::home_node_claims_first(store);
}

fn queue_tenants_share_and_sync_goes_first(store: &dyn Storage) {
    queue_contract::tenants_share_and_sync_goes_first(store);
}

fn queue_lanes_are_counted_apart(store: &dyn Storage) {
    queue_contract::lanes_are_counted_apart(store);
}

fn queue_flow_limits_and_fifo(store: &dyn Storage) {
    queue_contract::flow_limits_and_fifo(store);
}

fn component(name: &str, version: &str) -> weft::storage::ComponentRecord {
    serde_json::from_value(json!({
        "name": name, "version": version, "sha256": "00", "size": 3,
        "manifest": {"name": name, "version": version, "description": "", "actions": [], "hosts": []},
        "created_at": Utc::now(),
    }))
    .expect("component record")
}

fn components_are_immutable_and_sorted(store: &dyn Storage) {
    for (name, version) in [("echo-http", "1.0.0"), ("echo", "2.0.0"), ("echo", "1.0.0")] {
        let inserted = store
            .insert_component(&component(name, version), name.as_bytes())
            .unwrap();
        assert_eq!(inserted, Inserted::Created);
    }
    let again = store
        .insert_component(&component("echo", "1.0.0"), b"other")
        .unwrap();
    assert!(matches!(again, Inserted::Exists(r) if r.name == "echo"));
    let listed: Vec<String> = store
        .list_components()
        .unwrap()
        .iter()
        .map(|c| c.reference())
        .collect();
    assert_eq!(listed, ["echo@1.0.0", "echo@2.0.0", "echo-http@1.0.0"]);
    assert_eq!(
        store.component_bytes("echo", "1.0.0").unwrap().as_deref(),
        Some(&b"echo"[..])
    );
    assert!(store.delete_component("echo", "1.0.0").unwrap());
    assert!(!store.delete_component("echo", "1.0.0").unwrap());
    assert_eq!(store.component_bytes("echo", "1.0.0").unwrap(), None);
    assert_eq!(store.get_component("echo", "1.0.0").unwrap(), None);
}

fn integration(version: u32) -> IntegrationRecord {
    let text = format!(
        "name: hello\nversion: {version}\nflows:\n  - name: greet\n    trigger: {{ type: webhook }}\n    steps:\n      - id: say\n        component: echo@1.0.0\n        action: echo\n"
    );
    let model = weft::integration::parse(&text).expect("parse integration");
    IntegrationRecord {
        name: "hello".into(),
        version,
        text,
        model,
        components: vec!["echo@1.0.0".into()],
        created_at: Utc::now(),
    }
}

fn integrations_keep_versions_and_latest(store: &dyn Storage) {
    for v in [2, 10, 1] {
        assert_eq!(
            store.insert_integration(&integration(v)).unwrap(),
            Inserted::Created
        );
    }
    assert!(matches!(
        store.insert_integration(&integration(2)).unwrap(),
        Inserted::Exists(_)
    ));
    let versions: Vec<u32> = store
        .list_integrations()
        .unwrap()
        .iter()
        .map(|i| i.version)
        .collect();
    assert_eq!(versions, [1, 2, 10]);
    assert_eq!(
        store.latest_integration("hello").unwrap().unwrap().version,
        10
    );
    assert!(store.delete_integration("hello", 10).unwrap());
    assert_eq!(
        store.latest_integration("hello").unwrap().unwrap().version,
        2
    );
    assert_eq!(store.get_integration("hello", 10).unwrap(), None);
    assert!(store.latest_integration("nope").unwrap().is_none());
}

fn token(id: &str, tenant: Option<&str>, fill: u8) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        tenant: tenant.map(str::to_owned),
        sha256: hex_of(&[fill; 32]),
        prefix: None,
        origin: "api".into(),
        created_at: Utc::now(),
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn tenants_and_tokens(store: &dyn Storage) {
    let acme = TenantRecord {
        name: "acme".into(),
        created_at: Utc::now(),
    };
    assert_eq!(store.insert_tenant(&acme).unwrap(), Inserted::Created);
    assert!(matches!(
        store.insert_tenant(&acme).unwrap(),
        Inserted::Exists(_)
    ));
    assert!(!store.has_operator_token().unwrap());
    store.put_token(&token("t1", None, 1)).unwrap();
    store.put_token(&token("t2", Some("acme"), 2)).unwrap();
    assert!(store.has_operator_token().unwrap());
    assert_eq!(store.find_token(&[2; 32]).unwrap().unwrap().id, "t2");
    let ids: Vec<String> = store
        .list_tokens()
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["t1", "t2"]);
    assert!(store.delete_tenant("acme").unwrap());
    assert_eq!(
        store.find_token(&[2; 32]).unwrap(),
        None,
        "tenant tokens go"
    );
    assert!(!store.delete_tenant("acme").unwrap());
    assert_eq!(store.delete_token("t1").unwrap().unwrap().id, "t1");
    assert_eq!(store.delete_token("t1").unwrap(), None);
    assert!(!store.has_operator_token().unwrap());
}

fn instance(id: &str, tenant: &str) -> InstanceRecord {
    let now = Utc::now();
    InstanceRecord {
        id: id.into(),
        tenant: tenant.into(),
        integration: "hello".into(),
        version: 1,
        config: Default::default(),
        secrets: BTreeMap::new(),
        status: InstanceStatus::Created,
        last_lifecycle_execution: None,
        lifecycle_run: None,
        created_at: now,
        updated_at: now,
        outbound_allow: Vec::new(),
    }
}

fn instances_index_update_and_delete_cascade(store: &dyn Storage) {
    for (id, tenant) in [("a1", "acme"), ("b1", "bolt"), ("a2", "acme")] {
        store.create_instance(&instance(id, tenant)).unwrap();
    }
    let acme: Vec<String> = store
        .list_instances(Some("acme"))
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(acme, ["a1", "a2"]);
    assert_eq!(store.list_instances(None).unwrap().len(), 3);
    // Read before every write: a store that keeps decoded records (sled)
    // must not serve the old one after the write.
    assert_eq!(
        store.get_instance("b1").unwrap().unwrap().status,
        InstanceStatus::Created
    );
    let updated = store
        .update_instance("b1", &mut |i| i.status = InstanceStatus::Active)
        .unwrap()
        .unwrap();
    assert_eq!(updated.status, InstanceStatus::Active);
    assert_eq!(
        store.get_instance("b1").unwrap().unwrap().status,
        InstanceStatus::Active
    );
    assert!(store.update_instance("zz", &mut |_| {}).unwrap().is_none());
    assert_eq!(store.instances_of_integration("hello").unwrap().len(), 3);

    // What an instance owns goes with it.
    let due = ScheduleEntry {
        instance: "a1".into(),
        flow: "tick".into(),
        due: Utc::now(),
    };
    store.set_schedule(&due).unwrap();
    let scope = StateScope::Instance {
        instance: "a1".into(),
    };
    StateStore::set(store, &scope, "k", "v", ScopeQuota::UNLIMITED).unwrap();
    let mut keyed = ExecutionRecord::queued("acme", "a1", "hello@1", "greet", json!({}));
    keyed.idempotency_key = Some("k1".into());
    create(store, &keyed).unwrap();
    assert!(store.get_instance("a1").unwrap().is_some());
    assert!(store.delete_instance("a1").unwrap());
    assert!(store.get_instance("a1").unwrap().is_none());
    assert!(!store.delete_instance("a1").unwrap());
    assert_eq!(store.get_schedule("a1", "tick").unwrap(), None);
    assert_eq!(StateStore::get(store, &scope, "k").unwrap(), None);
    let mut again = ExecutionRecord::queued("acme", "a1", "hello@1", "greet", json!({}));
    again.idempotency_key = Some("k1".into());
    assert_eq!(create(store, &again).unwrap(), Inserted::Created);
    assert!(
        store.get_execution(&keyed.id).unwrap().is_some(),
        "executions stay"
    );
}

fn state_quotas_and_totals(store: &dyn Storage) {
    let exec = StateScope::Execution {
        execution: "x1".into(),
    };
    let other = StateScope::Flow {
        instance: "x1".into(),
        flow: "f".into(),
    };
    let quota = ScopeQuota {
        bytes: 100,
        keys: 3,
    };
    StateStore::set(store, &exec, "a", &"1".repeat(40), quota).unwrap();
    StateStore::set(store, &exec, "a", &"1".repeat(50), quota).unwrap();
    StateStore::set(store, &other, "a", "x", quota).unwrap();
    assert_eq!(
        store.usage(&exec).unwrap(),
        ScopeUsage { bytes: 51, keys: 1 }
    );
    let full = StateStore::set(store, &exec, "b", &"1".repeat(50), quota).unwrap_err();
    assert!(matches!(full, SetError::Quota(_)), "{full}");
    assert_eq!(StateStore::get(store, &exec, "b").unwrap(), None);
    StateStore::set(store, &exec, "b", "1", quota).unwrap();
    StateStore::set(store, &exec, "ba", "1", quota).unwrap();
    assert!(matches!(
        StateStore::set(store, &exec, "d", "1", quota),
        Err(SetError::Quota(_))
    ));
    assert_eq!(store.keys(&exec, "b").unwrap(), ["b", "ba"]);
    assert_eq!(store.keys(&exec, "").unwrap(), ["a", "b", "ba"]);
    StateStore::delete(store, &exec, "a").unwrap();
    StateStore::delete(store, &exec, "never").unwrap();
    assert_eq!(
        store.usage(&exec).unwrap(),
        ScopeUsage { bytes: 5, keys: 2 }
    );
    store.clear(&exec).unwrap();
    assert_eq!(store.usage(&exec).unwrap(), ScopeUsage::default());
    assert!(store.keys(&exec, "").unwrap().is_empty());
    assert_eq!(
        StateStore::get(store, &other, "a").unwrap().as_deref(),
        Some("x"),
        "other scopes stay"
    );
}

fn state_quota_holds_under_concurrency(store: &dyn Storage) {
    let scope = StateScope::Instance {
        instance: "busy".into(),
    };
    let quota = ScopeQuota {
        bytes: 1 << 20,
        keys: 5,
    };
    let stored = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for n in 0..16 {
            let (scope, stored) = (&scope, &stored);
            s.spawn(
                move || match StateStore::set(store, scope, &format!("k{n:02}"), "v", quota) {
                    Ok(()) => {
                        stored.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(SetError::Quota(_)) => {}
                    Err(e) => panic!("set failed: {e}"),
                },
            );
        }
    });
    assert_eq!(stored.into_inner(), 5);
    assert_eq!(store.usage(&scope).unwrap().keys, 5);
    assert_eq!(store.keys(&scope, "").unwrap().len(), 5);
}

fn schedule_due_times(store: &dyn Storage) {
    let now = Utc::now();
    let entry = |instance: &str, flow: &str, secs: i64| ScheduleEntry {
        instance: instance.into(),
        flow: flow.into(),
        due: now + Age::seconds(secs),
    };
    store.set_schedule(&entry("i1", "tick", 30)).unwrap();
    store.set_schedule(&entry("i2", "tick", 10)).unwrap();
    store.set_schedule(&entry("i1", "tock", 20)).unwrap();
    assert_eq!(
        store.first_schedule().unwrap(),
        Some(entry("i2", "tick", 10))
    );
    // Replacing a due time moves it (one per instance and flow).
    store.set_schedule(&entry("i2", "tick", 40)).unwrap();
    let order: Vec<(String, String)> = store
        .list_schedules()
        .unwrap()
        .into_iter()
        .map(|e| (e.instance, e.flow))
        .collect();
    assert_eq!(
        order,
        [
            ("i1".to_owned(), "tock".to_owned()),
            ("i1".into(), "tick".into()),
            ("i2".into(), "tick".into())
        ]
    );
    assert_eq!(
        store.get_schedule("i2", "tick").unwrap(),
        Some(entry("i2", "tick", 40))
    );
    assert!(store.remove_schedule("i1", "tock").unwrap());
    assert!(!store.remove_schedule("i1", "tock").unwrap());
    assert_eq!(
        store.first_schedule().unwrap(),
        Some(entry("i1", "tick", 30))
    );
}

mod coordination;
mod executions;
mod postgres_only;
mod progress;

use executions::{
    executions_list_page_update_and_steps, idempotency_keys_hold_under_concurrency,
    pruning_removes_old_finished_executions_only, requeue_writes_record_steps_and_entry_together,
    result_tokens_expire,
};
use progress::answered_lists_responded_and_finished;
