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

/// A loopback TCP relay in front of the test PostgreSQL whose
/// [`ResettingRelay::reset`] cuts every relayed connection with a TCP
/// reset (what a client sees when a firewall, a load balancer or a
/// crashed host drops it): the client learns of it only as an I/O error
/// on its next query, with no farewell from the server.
pub struct ResettingRelay {
    url: String,
    conns: std::sync::Arc<std::sync::Mutex<Vec<Relayed>>>,
}

/// One relayed connection: both sockets and the two pumps between them.
struct Relayed {
    client: std::net::TcpStream,
    upstream: std::net::TcpStream,
    pumps: Vec<std::thread::JoinHandle<()>>,
}

impl ResettingRelay {
    /// Relays to the database of `url`; [`ResettingRelay::url`] names the
    /// same database through the relay.
    pub fn start(url: &str) -> Self {
        use std::net::{TcpListener, TcpStream};
        let (head, rest) = url.split_once('@').expect("user@ in the url");
        let (target, db) = rest.split_once('/').expect("/database in the url");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let relay_url = format!("{head}@{}/{db}", listener.local_addr().unwrap());
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Relayed>::new()));
        let accepted = conns.clone();
        let target = target.to_owned();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let upstream = TcpStream::connect(&target).unwrap();
                let pumps = vec![
                    pump(client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    pump(upstream.try_clone().unwrap(), client.try_clone().unwrap()),
                ];
                accepted.lock().unwrap().push(Relayed {
                    client,
                    upstream,
                    pumps,
                });
            }
        });
        Self {
            url: relay_url,
            conns,
        }
    }

    /// The database's URL through the relay.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Cuts every connection relayed so far: the client side gets a TCP
    /// reset (closed with a zero linger), the server side a plain close.
    pub fn reset(&self) {
        let conns = std::mem::take(&mut *self.conns.lock().unwrap());
        assert!(!conns.is_empty(), "nothing relayed yet");
        for conn in conns {
            socket2::SockRef::from(&conn.client)
                .set_linger(Some(std::time::Duration::ZERO))
                .unwrap();
            // Wake both pumps (their reads end) so they drop their copies
            // of the sockets; the last close of the client's sends the RST.
            let _ = conn.client.shutdown(std::net::Shutdown::Read);
            let _ = conn.upstream.shutdown(std::net::Shutdown::Both);
            for pump in conn.pumps {
                pump.join().unwrap();
            }
        }
    }
}

/// Copies `from` to `to` until either ends; never closes `to` politely.
fn pump(mut from: std::net::TcpStream, mut to: std::net::TcpStream) -> std::thread::JoinHandle<()> {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let mut buf = [0; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    })
}
