//! Group commit: callers that need their writes on disk before they go on
//! (a new execution before its 202, a step record before the next step)
//! share fsyncs. Waiters queue on one lock; whoever holds it flushes
//! everything written so far, and the waiters queued behind it whose writes
//! that flush covered return without flushing again.

use std::sync::atomic::{AtomicU64, Ordering};

use sled::Db;
use tokio::sync::Mutex;

use super::sled_store::backend;
use super::{Result, StorageError};

/// Shared flush state of one sled database.
#[derive(Debug, Default)]
pub struct GroupCommit {
    /// Durability requests so far (each caller takes a number after its
    /// writes).
    requested: AtomicU64,
    /// The highest request number known to be on disk; guarded by the
    /// lock for writers.
    flushed: Mutex<u64>,
}

impl GroupCommit {
    /// Returns once everything written to `db` before the call is on disk.
    pub async fn durable(&self, db: &Db) -> Result<()> {
        let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut flushed = self.flushed.lock().await;
        if *flushed >= mine {
            return Ok(());
        }
        // Every request numbered up to here wrote before taking its number,
        // so this flush covers all of them.
        let covered = self.requested.load(Ordering::SeqCst);
        let db = db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StorageError::Backend(format!("flush task failed: {e}")))?
            .map_err(backend)?;
        *flushed = (*flushed).max(covered);
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
        assert_eq!(*commit.flushed.lock().await, 32);
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("weft-group-commit-{}", uuid::Uuid::now_v7()))
    }
}
