//! A real NATS server with JetStream for queue-trigger tests:
//! [`NatsServer::start`] runs `nats-server -js` on a free loopback port
//! with its store in a temp dir (`make test-setup` installs the Debian
//! package `nats-server`), and stops it when dropped. [`Publisher`] is
//! the test's own client: it creates streams, publishes and looks at
//! consumers.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;

use crate::server::poll;

/// How long nats-server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A `nats-server -js` child process.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// `WEFT_TEST_NATS_SERVER`, else `nats-server` on the PATH, else Debian's
/// `/usr/sbin/nats-server` (not on an unprivileged user's PATH).
fn binary() -> String {
    static BINARY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Ok(path) = std::env::var("WEFT_TEST_NATS_SERVER") {
                return path;
            }
            let on_path = Command::new("nats-server")
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok();
            if on_path {
                "nats-server".to_owned()
            } else {
                "/usr/sbin/nats-server".to_owned()
            }
        })
        .clone()
}

impl NatsServer {
    /// Starts one on a free port.
    pub fn start() -> Self {
        let mut last = String::new();
        for _ in 0..5 {
            let mut server = Self::reserved(free_port());
            match server.try_up() {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("nats-server did not start: {last}");
    }

    /// One for `port` that is not running yet ([`NatsServer::up`] starts
    /// it), for tests of a broker that is down.
    pub fn reserved(port: u16) -> Self {
        Self {
            child: None,
            port,
            dir: crate::support::temp_dir(),
        }
    }

    /// Starts the process (again, with the same store) and waits until it
    /// accepts connections.
    pub fn up(&mut self) {
        self.try_up().unwrap_or_else(|e| panic!("{e}"));
    }

    fn try_up(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "nats-server already running");
        let child = Command::new(binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.dir.path().join("js"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run {} ({e}); `make test-setup` installs the Debian package nats-server",
                    binary()
                )
            })?;
        self.child = Some(child);
        let port = self.port;
        let up = poll(START_DEADLINE, || {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return true;
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let exited = self
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
        if !up || exited {
            self.child = None;
            return Err(format!("nats-server on port {port} did not come up"));
        }
        Ok(())
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A `weft.toml` naming this server as broker `events` (acks waited
    /// for 2 s, so messages cut off by a kill come back quickly), plus the
    /// loopback allowlist.
    pub fn weft_config(&self) -> String {
        format!(
            "{}\n[brokers.events]\nurl = \"{}\"\nack_wait = \"2s\"\n",
            crate::triggers::LOOPBACK_CONFIG,
            self.url()
        )
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.down();
    }
}

/// The test's NATS client, with its own runtime.
pub struct Publisher {
    runtime: tokio::runtime::Runtime,
    js: jetstream::Context,
}

impl Publisher {
    /// Connects to `server`.
    pub fn connect(server: &NatsServer) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // The context spawns its acker task: inside the runtime.
        let js = runtime.block_on(async {
            let client = async_nats::connect(server.url())
                .await
                .expect("connect to nats-server");
            jetstream::new(client)
        });
        Self { js, runtime }
    }

    /// Creates stream `name` capturing `subjects`.
    pub fn create_stream(&self, name: &str, subjects: &[&str]) {
        self.runtime
            .block_on(self.js.create_stream(jetstream::stream::Config {
                name: name.to_owned(),
                subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
                ..Default::default()
            }))
            .expect("create stream");
    }

    /// Publishes `payload` to `subject` (with `Nats-Msg-Id: id` when
    /// given) and waits for the stream's acknowledgement.
    pub fn publish(&self, subject: &str, payload: &serde_json::Value, id: Option<&str>) {
        let mut headers = async_nats::HeaderMap::new();
        if let Some(id) = id {
            headers.insert("Nats-Msg-Id", id);
        }
        let body = payload.to_string().into_bytes();
        self.runtime
            .block_on(async {
                self.js
                    .publish_with_headers(subject.to_owned(), headers, body.into())
                    .await?
                    .await
            })
            .unwrap_or_else(|e| panic!("publish to {subject}: {e}"));
    }

    /// The names of the stream's consumers.
    pub fn consumers(&self, stream: &str) -> Vec<String> {
        use futures::StreamExt as _;
        self.runtime.block_on(async {
            let stream = self.js.get_stream(stream).await.expect("get stream");
            stream
                .consumer_names()
                .filter_map(|n| async move { n.ok() })
                .collect()
                .await
        })
    }

    /// `(num_pending, num_ack_pending)` of a consumer: messages not yet
    /// delivered, and delivered but not acknowledged.
    pub fn pending(&self, stream: &str, consumer: &str) -> (u64, usize) {
        self.runtime.block_on(async {
            let stream = self.js.get_stream(stream).await.expect("get stream");
            let info = stream.consumer_info(consumer).await.expect("consumer info");
            (info.num_pending, info.num_ack_pending)
        })
    }

    /// Deletes a consumer (as if the broker lost it).
    pub fn delete_consumer(&self, stream: &str, consumer: &str) {
        self.runtime.block_on(async {
            let stream = self.js.get_stream(stream).await.expect("get stream");
            stream
                .delete_consumer(consumer)
                .await
                .expect("delete consumer");
        });
    }
}
