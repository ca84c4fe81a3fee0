//! Backend-specific cases of PostgreSQL: the migration rule, a database
//! that is unreachable or drops connections, and two stores (two nodes)
//! sharing one queue.

use super::*;
use weft::storage::AccessStore as _;

#[test]
fn a_newer_schema_is_refused_naming_both_versions() {
    let url = crate::pg::database();
    drop(PostgresStore::open(&url).unwrap());
    // Opening again is a no-op migration.
    drop(PostgresStore::open(&url).unwrap());
    let next = weft::storage::PG_SCHEMA_VERSION + 1;
    crate::pg::psql(
        &url,
        &format!("INSERT INTO weft_schema (version) VALUES ({next})"),
    );
    let err = PostgresStore::open(&url).unwrap_err().to_string();
    assert!(err.contains(&format!("schema version {next}")), "{err}");
    assert!(
        err.contains(&format!(
            "schema version {}",
            weft::storage::PG_SCHEMA_VERSION
        )),
        "{err}"
    );
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://weft:secret-pw@127.0.0.1:{port}/nowhere");
    let err = PostgresStore::open(&url).unwrap_err().to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}/nowhere")), "{err}");
    assert!(!err.contains("secret-pw"), "the password stays out: {err}");
    let bad = PostgresStore::open("postgres://x@127.0.0.1/db?weft_pool=0")
        .unwrap_err()
        .to_string();
    assert!(bad.contains("weft_pool=0"), "{bad}");
}

#[test]
fn broken_connections_are_replaced() {
    let url = crate::pg::database();
    let store = PostgresStore::open(&format!("{url}?weft_pool=2")).unwrap();
    store
        .insert_tenant(&TenantRecord {
            name: "acme".into(),
            created_at: Utc::now(),
        })
        .unwrap();
    crate::pg::terminate_connections(&url);
    // A call on a killed connection, however the client learns of it (the
    // server's farewell, a reset socket, a closed stream), runs again on a
    // new connection: no call fails.
    for _ in 0..10 {
        assert!(store.get_tenant("acme").unwrap().is_some());
    }
    store.check().unwrap();
}

#[test]
fn a_reset_connection_is_replaced_without_failing_the_call() {
    let url = crate::pg::database();
    let relay = crate::pg::ResettingRelay::start(&url);
    let store = PostgresStore::open(&format!("{}?weft_pool=1", relay.url())).unwrap();
    store
        .insert_tenant(&TenantRecord {
            name: "acme".into(),
            created_at: Utc::now(),
        })
        .unwrap();
    // The network cuts the one connection; the client hears of it only as
    // a reset socket on its next query, which runs again on a new one.
    relay.reset();
    assert!(store.get_tenant("acme").unwrap().is_some());
    relay.reset();
    store.check().unwrap();
}

#[test]
fn two_nodes_share_one_queue_and_a_dead_nodes_leases_expire() {
    use weft::storage::Queue as _;
    let url = crate::pg::database();
    let (n1, n2) = (
        PostgresStore::open(&url).unwrap(),
        PostgresStore::open(&url).unwrap(),
    );
    for n in 0..6 {
        let record = ExecutionRecord::queued("acme", "i1", "hello@1", "f", json!({"n": n}));
        create(&n1, &record).unwrap();
    }
    let now = Utc::now();
    let claim = |store: &PostgresStore, node: &str, now, lease: Age, max| {
        store
            .claim(&ClaimRequest {
                node,
                now,
                lease_until: now + lease,
                per_tenant: 100,
                max,
            })
            .unwrap()
    };
    // Concurrent claims never hand out one entry twice.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| claim(&n1, "n1", now, Age::seconds(1), 3));
        let b = s.spawn(|| claim(&n2, "n2", now, Age::seconds(60), 3));
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut all: Vec<String> = a.iter().chain(&b).map(|e| e.execution.clone()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 6, "{a:?} {b:?}");
    // n1 dies: after its leases expire, n2 takes its entries.
    let later = now + Age::seconds(2);
    let taken = claim(&n2, "n2", later, Age::seconds(60), 10);
    let mut expected: Vec<String> = a.iter().map(|e| e.execution.clone()).collect();
    expected.sort();
    let mut got: Vec<String> = taken.iter().map(|e| e.execution.clone()).collect();
    got.sort();
    assert_eq!(got, expected);
    assert!(!n1.ack("n1", &expected[0]).unwrap(), "n1 lost its lease");
    assert!(n2.ack("n2", &expected[0]).unwrap());
}

fn entries(queue: &dyn weft::storage::Queue, node: &str, max: usize) -> Vec<QueueEntry> {
    let now = Utc::now();
    queue
        .claim(&ClaimRequest {
            node,
            now,
            lease_until: now + Age::seconds(60),
            per_tenant: 100,
            max,
        })
        .unwrap()
}

fn tenants_of(claimed: &[QueueEntry]) -> Vec<&str> {
    claimed.iter().map(|e| e.tenant.as_str()).collect()
}

/// Whether a connection of weft's (application name `weft`) waits for a
/// lock now.
fn a_claim_waits_for_a_lock(url: &str) -> bool {
    crate::pg::psql(
        url,
        "SELECT count(*) FROM pg_stat_activity
         WHERE application_name = 'weft' AND wait_event_type = 'Lock'",
    )
    .trim()
        == "1"
}

#[test]
fn a_claim_takes_free_tenants_past_one_another_claim_holds_and_waits_only_when_nothing_else_is_claimable()
 {
    use weft::storage::Queue as _;
    let url = crate::pg::database();
    let store = PostgresStore::open(&url).unwrap();
    for n in 0..3 {
        for tenant in ["busy", "free"] {
            let id = format!("0-{tenant}-{n}");
            store
                .enqueue(&QueueEntry::new(&id, tenant, &format!("{tenant}-i"), "f"))
                .unwrap();
        }
    }
    // Another node's claim, mid-transaction, holds the tenant `busy`.
    let mut other = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let mut held = other.transaction().unwrap();
    held.query(
        "SELECT tenant FROM queue_tenants WHERE tenant = 'busy' FOR UPDATE",
        &[],
    )
    .unwrap();
    let claimed = entries(&store, "n1", 10);
    assert_eq!(
        tenants_of(&claimed),
        ["free"; 3],
        "the held tenant is skipped, the other claimed without waiting"
    );
    // Nothing else is claimable: the claim waits for the held tenant
    // (rather than come back empty) and takes its entries once free.
    std::thread::scope(|s| {
        let waiting = s.spawn(|| entries(&store, "n1", 10));
        assert!(
            crate::server::poll(std::time::Duration::from_secs(10), || {
                a_claim_waits_for_a_lock(&url)
            }),
            "the claim did not wait for the held tenant"
        );
        held.rollback().unwrap();
        assert_eq!(tenants_of(&waiting.join().unwrap()), ["busy"; 3]);
    });
}

/// Turns a database of this weft back into schema version 2 (migration 3
/// undone); a later migration must be undone here too.
const BACK_TO_VERSION_2: &str = "
DELETE FROM weft_schema WHERE version >= 3;
DROP TABLE leases;
DROP TABLE queue_tenants;
DROP INDEX queue_by_tenant, queue_by_flow, queue_tenant_leases, queue_flow_leases;
ALTER TABLE queue DROP COLUMN instance, DROP COLUMN flow, DROP COLUMN lane,
    DROP COLUMN flow_limit, DROP COLUMN fifo, DROP COLUMN not_before,
    DROP COLUMN home_node, DROP COLUMN home_until;
CREATE INDEX queue_by_tenant ON queue (tenant);";

#[test]
fn migrating_from_version_2_fills_the_claim_columns_from_the_entries() {
    use weft::storage::{Lane, Queue as _};
    let url = crate::pg::database();
    drop(PostgresStore::open(&url).unwrap());
    crate::pg::psql(&url, BACK_TO_VERSION_2);
    let later = Utc::now() + Age::hours(1);
    let plain = |id: &str, instance: &str| QueueEntry::new(id, "mt", instance, "f");
    let bounded = |id: &str, instance: &str, limit: u32, fifo: bool| QueueEntry {
        limit: Some(limit),
        fifo,
        ..plain(id, instance)
    };
    let stored = [
        plain("m1", "i"),
        QueueEntry {
            lane: Lane::Sync,
            ..plain("m2", "i")
        },
        QueueEntry {
            home: Some(("n-home".into(), later)),
            ..plain("m3", "i")
        },
        QueueEntry {
            not_before: Some(later),
            ..plain("m4", "i")
        },
        bounded("m5", "i-fifo", 1, true),
        bounded("m6", "i-fifo", 1, true),
        bounded("m7", "i-limited", 2, false),
        bounded("m8", "i-limited", 2, false),
        bounded("m9", "i-limited", 2, false),
    ];
    for entry in &stored {
        // As weft 2 wrote them: the id, the tenant and the record.
        let record = json!({"v": 1, "data": entry}).to_string();
        crate::pg::psql(
            &url,
            &format!(
                "INSERT INTO queue (execution, tenant, record)
                 VALUES ('{}', 'mt', convert_to('{}', 'UTF8'))",
                entry.execution,
                record.replace('\'', "''")
            ),
        );
    }
    let store = PostgresStore::open(&url).unwrap();
    let claimed = entries(&store, "n1", 100);
    let ids: Vec<&str> = claimed.iter().map(|e| e.execution.as_str()).collect();
    assert_eq!(
        ids,
        ["m2", "m1", "m5", "m7", "m8"],
        "sync first; not m3 (another node's), m4 (later), m6 (fifo), m9 (limit 2)"
    );
    for entry in &claimed {
        assert!(stored.contains(entry), "{entry:?} read back as stored");
    }
    assert_eq!(store.queued("mt").unwrap(), 4);
    let home = entries(&store, "n-home", 100);
    assert_eq!(
        home.iter()
            .map(|e| e.execution.as_str())
            .collect::<Vec<_>>(),
        ["m3"]
    );
}
