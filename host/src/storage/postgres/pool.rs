//! The bridge between the synchronous storage traits and PostgreSQL: a
//! few dedicated threads (never tokio workers), each owning one
//! connection of the blocking `postgres` client. A call hands a job to
//! whichever thread is free and blocks on its answer, so the traits work
//! the same from async handlers, blocking tasks and plain threads (the
//! blocking client must not run on a tokio thread; these threads have no
//! runtime of their own).
//!
//! A thread connects lazily and again after its connection broke, so a
//! database that went away and came back is used again without a restart;
//! while it is away, calls fail with [`StorageError::Backend`] naming the
//! database (never a panic).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use crate::storage::{Result, StorageError};

/// How long a connection attempt may take before the call fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection idle for longer is checked (an empty query) before its
/// next use, so one the server dropped meanwhile (a restart, a terminated
/// backend) is replaced instead of failing that call.
pub const IDLE_CHECK: Duration = Duration::from_secs(1);

type Job = Box<dyn FnOnce(&mut Slot) + Send>;

/// One thread's connection (absent until first used, or after it broke).
pub struct Slot {
    config: Arc<postgres::Config>,
    label: Arc<str>,
    client: Option<Client>,
    last_used: Instant,
}

impl Slot {
    /// The connection, opened if needed.
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        let idle = self.last_used.elapsed() > IDLE_CHECK;
        self.last_used = Instant::now();
        if idle
            && let Some(client) = self.client.as_mut()
            && client.is_valid(CONNECT_TIMEOUT).is_err()
        {
            self.client = None;
        }
        if self.client.is_none() {
            let client = self.config.connect(NoTls).map_err(|e| {
                StorageError::Backend(format!(
                    "cannot connect to postgresql {}: {}",
                    self.label,
                    describe(&e)
                ))
            })?;
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StorageError::Backend("postgresql connection vanished".into()))
    }
}

/// A fixed set of connection threads.
#[derive(Debug)]
pub struct Pool {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    label: Arc<str>,
}

impl Pool {
    /// Starts `size` threads connecting with `config`; `label` names the
    /// database in messages (no password).
    pub fn new(config: postgres::Config, label: &str, size: usize) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let config = Arc::new(config);
        let label: Arc<str> = Arc::from(label);
        for n in 0..size.max(1) {
            let rx = rx.clone();
            let mut slot = Slot {
                config: config.clone(),
                label: label.clone(),
                client: None,
                last_used: Instant::now(),
            };
            std::thread::Builder::new()
                .name(format!("weft-pg-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is only held while waiting for a job.
                        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(job) = job else { break };
                        job(&mut slot);
                    }
                })
                .map_err(|e| {
                    StorageError::Backend(format!("failed to start a postgresql thread: {e}"))
                })?;
        }
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            label,
        })
    }

    /// The database in messages (`user@host:port/db`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Runs `f` on a connection thread and returns its result. A query
    /// error is [`StorageError::Backend`] naming the database. When the
    /// connection turns out to be closed (the server dropped it), `f` runs
    /// once more on a new connection.
    pub fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: Fn(&mut Client) -> Result<R, postgres::Error> + Send + 'static,
    {
        self.try_run(move |client| f(client).map_err(Failure::Pg))
    }

    /// Like [`Pool::run`], with a closure that may fail with a storage
    /// error of its own (a corrupt record, a refused quota).
    pub fn try_run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: Fn(&mut Client) -> Result<R, Failure> + Send + 'static,
    {
        let (answer_tx, answer_rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |slot: &mut Slot| {
            let label = slot.label.clone();
            let mut outcome = slot.client().map(&f);
            if matches!(&outcome, Ok(Err(Failure::Pg(e))) if dropped(e)) {
                slot.client = None;
                outcome = slot.client().map(&f);
            }
            let outcome = match outcome {
                Ok(result) => result.map_err(|failure| match failure {
                    Failure::Pg(e) => StorageError::Backend(format!(
                        "postgresql {label} failed: {}",
                        describe(&e)
                    )),
                    Failure::Storage(e) => e,
                }),
                Err(e) => Err(e),
            };
            let _ = answer_tx.send(outcome);
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|tx| tx.send(job).is_ok())
            .unwrap_or(false);
        if !sent {
            return Err(self.stopped());
        }
        wait_off_the_runtime(|| answer_rx.recv().unwrap_or_else(|_| Err(self.stopped())))
    }

    fn stopped(&self) -> StorageError {
        StorageError::Backend(format!(
            "the postgresql connection threads for {} stopped",
            self.label
        ))
    }
}

/// Runs `wait` (blocking on a connection thread's answer) so that it does
/// not hold up the async tasks of the caller's runtime: on a worker thread
/// of a multi-thread tokio runtime, through `block_in_place`, which hands
/// the worker's other tasks to another thread first. Without it, every
/// database round trip of an async handler or of the engine blocked one
/// of the runtime's few workers (two on two cores), so no more than that
/// many store calls were ever in flight and a node ran about 85 sync
/// webhooks a second. Elsewhere (plain threads, blocking tasks, a
/// current-thread runtime) it just waits.
fn wait_off_the_runtime<R>(wait: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the channel ends the threads (and their connections).
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// Why a job failed.
#[derive(Debug)]
pub enum Failure {
    /// The database refused or failed.
    Pg(postgres::Error),
    /// Our own check failed.
    Storage(StorageError),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Self::Pg(e)
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

/// Whether `e` says the server dropped the connection (closed, the
/// backend terminated, or the socket reset or cut before the client had
/// noticed): the call is worth one more try on a new connection (a drop
/// during COMMIT may repeat a write that committed; the writes are keyed
/// inserts and upserts).
fn dropped(e: &postgres::Error) -> bool {
    use std::io::ErrorKind;
    if e.is_closed() || e.code() == Some(&postgres::error::SqlState::ADMIN_SHUTDOWN) {
        return true;
    }
    std::error::Error::source(e)
        .and_then(|cause| cause.downcast_ref::<std::io::Error>())
        .is_some_and(|io| {
            matches!(
                io.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
            )
        })
}

/// A client error in one line: the server's message when there is one,
/// else the error and its cause.
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}
