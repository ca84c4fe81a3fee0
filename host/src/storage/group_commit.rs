//! Group commit: callers that need their writes on disk before they answer
//! (a new execution before its 202) share fsyncs. The first waiter with no
//! flush under way leads: it flushes everything written so far while the
//! others wait asynchronously; one fsync then covers a whole batch of
//! concurrent requests instead of one each.

use std::sync::atomic::{AtomicU64, Ordering};

use sled::Db;
use tokio::sync::{Mutex, watch};

use super::sled_store::backend;
use super::{Result, StorageError};

/// Shared flush state of one sled database.
#[derive(Debug)]
pub struct GroupCommit {
    /// Durability requests so far (each waiter takes a number).
    requested: AtomicU64,
    /// Held by the waiter currently flushing.
    leader: Mutex<()>,
    /// The highest request number known to be on disk.
    flushed: watch::Sender<u64>,
}

impl Default for GroupCommit {
    fn default() -> Self {
        Self {
            requested: AtomicU64::new(0),
            leader: Mutex::new(()),
            flushed: watch::Sender::new(0),
        }
    }
}

impl GroupCommit {
    /// Returns once everything written to `db` before the call is on disk.
    pub async fn durable(&self, db: &Db) -> Result<()> {
        let mut flushed = self.flushed.subscribe();
        let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        loop {
            if *flushed.borrow_and_update() >= mine {
                return Ok(());
            }
            if let Ok(_lead) = self.leader.try_lock() {
                if *self.flushed.borrow() >= mine {
                    return Ok(());
                }
                // Every request numbered up to here wrote before taking its
                // number, so this flush covers all of them.
                let covered = self.requested.load(Ordering::SeqCst);
                let db = db.clone();
                tokio::task::spawn_blocking(move || db.flush())
                    .await
                    .map_err(|e| StorageError::Backend(format!("flush task failed: {e}")))?
                    .map_err(backend)?;
                self.flushed.send_modify(|f| *f = (*f).max(covered));
                continue;
            }
            // Someone else is flushing: wait for it to finish.
            if flushed.changed().await.is_err() {
                return Err(StorageError::Backend("flush state dropped".into()));
            }
        }
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
        assert_eq!(*commit.flushed.borrow(), 32);
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("weft-group-commit-{}", uuid::Uuid::now_v7()))
    }
}
