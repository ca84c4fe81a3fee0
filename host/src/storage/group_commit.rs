//! Group commit: callers that need their writes on disk before they go on
//! (a new execution before its 202, a step record before the next step)
//! share fsyncs. Waiters queue on one lock; whoever holds it flushes
//! everything written so far, and the waiters queued behind it whose writes
//! that flush covered return without flushing again.
//!
//! Flushes are paced: one starts at least [`FLUSH_SPACING`] after the
//! previous one started. An idle store flushes at once; a busy one
//! gathers the writes of that interval into one flush instead of flushing
//! as fast as the disk allows, each flush covering one or two callers.
//! Every sled flush hands its buffer to sled's I/O threads and wakes all of
//! them; unpaced, at ~1,900 sync webhooks a second that was ~3,600 flushes
//! and ~37,000 context switches a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sled::Db;
use tokio::sync::Mutex;

use super::sled_store::backend;
use super::{Result, StorageError};

/// The least time from the start of one flush to the start of the next.
pub const FLUSH_SPACING: Duration = Duration::from_micros(500);

/// Shared flush state of one sled database.
#[derive(Debug, Default)]
pub struct GroupCommit {
    /// Durability requests so far (each caller takes a number after its
    /// writes).
    requested: Arc<AtomicU64>,
    /// The highest request number known to be on disk and when the last
    /// flush started; guarded by the lock for writers.
    state: Mutex<Flushed>,
}

#[derive(Debug, Default)]
struct Flushed {
    through: u64,
    last_start: Option<Instant>,
}

impl GroupCommit {
    /// Returns once everything written to `db` before the call is on disk.
    pub async fn durable(&self, db: &Db) -> Result<()> {
        let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut state = self.state.lock().await;
        if state.through >= mine {
            return Ok(());
        }
        let pause = state.last_start.map_or(Duration::ZERO, |last| {
            FLUSH_SPACING.saturating_sub(last.elapsed())
        });
        let (db, requested) = (db.clone(), self.requested.clone());
        let (covered, started) = tokio::task::spawn_blocking(move || {
            // A blocking thread sleeps precisely (a tokio timer would
            // round up to a millisecond); writes keep arriving meanwhile.
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
            // Every request numbered up to here wrote before taking its
            // number, so this flush covers all of them.
            let covered = requested.load(Ordering::SeqCst);
            let started = Instant::now();
            db.flush().map(|_| (covered, started))
        })
        .await
        .map_err(|e| StorageError::Backend(format!("flush task failed: {e}")))?
        .map_err(backend)?;
        state.through = state.through.max(covered);
        state.last_start = Some(started);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_waiters_all_return_after_a_flush() {
        let dir = tempfile_dir();
        let db = sled::Config::new().path(&dir).open().unwrap();
        let commit = std::sync::Arc::new(GroupCommit::default());
        let mut tasks = Vec::new();
        for i in 0..32u32 {
            let (db, commit) = (db.clone(), commit.clone());
            tasks.push(tokio::spawn(async move {
                db.insert(i.to_be_bytes(), &b"x"[..]).unwrap();
                commit.durable(&db).await.unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(commit.state.lock().await.through, 32);
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn back_to_back_flushes_are_paced() {
        let dir = tempfile_dir();
        let db = sled::Config::new().path(&dir).open().unwrap();
        let commit = GroupCommit::default();
        let before = Instant::now();
        db.insert(b"a", &b"1"[..]).unwrap();
        commit.durable(&db).await.unwrap();
        db.insert(b"b", &b"2"[..]).unwrap();
        commit.durable(&db).await.unwrap();
        assert!(
            before.elapsed() >= FLUSH_SPACING,
            "the second flush started {:?} after the first",
            before.elapsed()
        );
        assert_eq!(commit.state.lock().await.through, 2);
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("weft-group-commit-{}", uuid::Uuid::now_v7()))
    }
}
