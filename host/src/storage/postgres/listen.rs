//! Announcements between the nodes of one database: when a node stores
//! the response or the end of an execution, the same transaction sends
//! `NOTIFY weft_progress, '<execution id>'` ([`CHANNEL`], see
//! `executions.rs`); PostgreSQL delivers it to every listening connection
//! of the database once the transaction commits, so a listener never
//! hears of a record it cannot read yet.
//!
//! [`Listener`] is one dedicated thread per store, started the first time
//! someone asks for the announcements, with a connection of its own
//! (never one of the pool's: a listening connection must stay open and
//! idle). It blocks on the connection's notifications and relays each id
//! to a broadcast channel; when the connection drops it reconnects (and
//! listens again) every [`RECONNECT`] until the database answers.
//! Announcements sent while it was away are lost: waiters also read the
//! store now and then (see `flow/remote.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator as _;
use postgres::{Client, NoTls};
use tokio::sync::broadcast;

use super::pool::{self, describe};
use crate::storage::{Result, StorageError};

/// The channel of the announcements.
pub const CHANNEL: &str = "weft_progress";

/// Pause between connection attempts while the database is away.
pub const RECONNECT: Duration = Duration::from_millis(500);

/// How long the thread blocks on the connection before it looks whether
/// the store is gone.
const WAKE: Duration = Duration::from_secs(1);

/// An idle listening connection is checked (an empty query) this often,
/// so a connection that died silently is replaced.
const CHECK: Duration = Duration::from_secs(5);

/// Announcements a slow receiver may fall behind by before it is told it
/// lagged (it then reads the store instead).
const BACKLOG: usize = 4096;

/// The listening thread of one store; it stops (within [`WAKE`]) when
/// this is dropped.
#[derive(Debug)]
pub struct Listener {
    sender: broadcast::Sender<String>,
    stop: Arc<AtomicBool>,
}

impl Listener {
    /// Starts the thread listening on the database of `config` (`label`
    /// names it in log lines, without the password).
    pub fn start(config: Arc<postgres::Config>, label: Arc<str>) -> Result<Self> {
        let (sender, _) = broadcast::channel(BACKLOG);
        let stop = Arc::new(AtomicBool::new(false));
        let relay = sender.clone();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("weft-pg-listen".into())
            .spawn(move || run(&config, &label, &relay, &stopped))
            .map_err(|e| {
                StorageError::Backend(format!("failed to start the postgresql listener: {e}"))
            })?;
        Ok(Self { sender, stop })
    }

    /// A receiver of the ids announced from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.sender.subscribe()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Connects, listens and relays until `stop`; reconnects after a drop.
fn run(
    config: &postgres::Config,
    label: &str,
    relay: &broadcast::Sender<String>,
    stop: &AtomicBool,
) {
    let mut warned = false;
    while !stop.load(Ordering::Relaxed) {
        let connected = config.connect(NoTls).and_then(|mut client| {
            client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
            Ok(client)
        });
        match connected {
            Ok(mut client) => {
                if warned {
                    tracing::info!(
                        database = label,
                        "listening for other nodes' progress again"
                    );
                    warned = false;
                }
                if let Err(e) = relay_from(&mut client, relay, stop) {
                    tracing::warn!(
                        database = label,
                        error = %describe(&e),
                        "lost the connection listening for other nodes' progress; reconnecting"
                    );
                    warned = true;
                }
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(
                        database = label,
                        error = %describe(&e),
                        "cannot listen for other nodes' progress; retrying"
                    );
                    warned = true;
                }
                std::thread::sleep(RECONNECT.min(pool::CONNECT_TIMEOUT));
            }
        }
    }
}

/// Relays the notifications `client` receives until `stop` (`Ok`) or
/// until the connection fails (`Err`).
fn relay_from(
    client: &mut Client,
    relay: &broadcast::Sender<String>,
    stop: &AtomicBool,
) -> Result<(), postgres::Error> {
    let mut checked = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let mut heard = false;
        {
            let mut notifications = client.notifications();
            let mut waiting = notifications.timeout_iter(WAKE);
            // `None` once WAKE passed without one (or the connection ended).
            while let Some(notification) = waiting.next()? {
                heard = true;
                // No receiver yet (or any more) is not an error.
                let _ = relay.send(notification.payload().to_owned());
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
            }
        }
        if client.is_closed() || !heard && checked.elapsed() >= CHECK {
            // An error for a closed connection (or one that died silently).
            client.is_valid(pool::CONNECT_TIMEOUT)?;
        }
        if heard || checked.elapsed() >= CHECK {
            checked = Instant::now();
        }
    }
    Ok(())
}
