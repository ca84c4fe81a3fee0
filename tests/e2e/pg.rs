//! The test run's private PostgreSQL 15 (started once, by
//! [`weft_tests::pg::PgServer`], and stopped when the test process exits):
//! [`database`] hands every caller a database of its own, so tests run in
//! parallel.

use std::sync::OnceLock;

use weft_tests::pg::PgServer;

fn server() -> &'static PgServer {
    static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
    match SERVER.get_or_init(|| PgServer::start(400)) {
        Ok(server) => server,
        Err(e) => panic!("the test postgresql did not start: {e}"),
    }
}

/// The name of `url`'s database.
fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or("postgres")
}

/// A fresh, empty database for one test; returns its URL
/// (`postgres://postgres@127.0.0.1:PORT/NAME`).
pub fn database() -> String {
    server().database()
}

/// Runs `sql` against database `url` (made by [`database`]) as the
/// superuser; returns the unaligned output.
#[allow(dead_code, reason = "for tests that inspect or damage the schema")]
pub fn psql(url: &str, sql: &str) -> String {
    server()
        .psql(db_name(url), sql)
        .unwrap_or_else(|e| panic!("psql {sql:?}: {e}"))
}

/// Drops the connection of every client to `url`'s database (a database
/// that "went away" for a moment).
#[allow(dead_code, reason = "for tests of an unreachable database")]
pub fn terminate_connections(url: &str) {
    let db = db_name(url);
    server()
        .psql(
            "postgres",
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
            ),
        )
        .expect("terminate connections");
}
