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
    // A call on a killed connection fails (clearly) once per
    // connection thread; the thread then reconnects.
    let mut failures = 0;
    for _ in 0..10 {
        match store.get_tenant("acme") {
            Ok(found) => assert!(found.is_some()),
            Err(e) => {
                assert!(e.to_string().contains("postgresql"), "{e}");
                failures += 1;
            }
        }
    }
    assert!(failures <= 2, "{failures} failures with 2 connections");
    for _ in 0..4 {
        assert!(store.get_tenant("acme").unwrap().is_some());
    }
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
