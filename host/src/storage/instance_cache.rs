//! Decoded instance records of the sled store, kept between reads: a
//! webhook reads its instance three times (the trigger, the admission,
//! the run), and decoding the record each time was ~2 % of a sync
//! webhook's CPU. Only one process opens a sled store and every write goes
//! through it, so the cache is exact: a write forgets the record once it
//! is stored, and a read that raced a write does not keep what it read
//! (each write counts a generation; a read keeps its record only if none
//! passed since it began).

use std::collections::HashMap;
use std::sync::RwLock;

use super::records::InstanceRecord;

/// The most records kept; past it the cache starts over (a server with
/// more instances than this reads the rest from sled, as before).
const CAPACITY: usize = 10_000;

/// Decoded instance records by id.
#[derive(Debug, Default)]
pub(super) struct InstanceCache {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    records: HashMap<String, InstanceRecord>,
    /// Writes so far.
    generation: u64,
}

impl InstanceCache {
    /// The kept record of `id`, else what `read` finds in sled (kept
    /// for the next read unless a write came in meanwhile).
    pub(super) fn get_or_read<E>(
        &self,
        id: &str,
        read: impl FnOnce() -> Result<Option<InstanceRecord>, E>,
    ) -> Result<Option<InstanceRecord>, E> {
        if let Some(kept) = self.get(id) {
            return Ok(Some(kept));
        }
        let generation = self.generation();
        let found = read()?;
        if let Some(record) = &found {
            self.keep(record, generation);
        }
        Ok(found)
    }

    /// The kept record of `id`, if any.
    fn get(&self, id: &str) -> Option<InstanceRecord> {
        self.read().records.get(id).cloned()
    }

    /// The generation a read starts at (pass it to [`Self::keep`]).
    fn generation(&self) -> u64 {
        self.read().generation
    }

    /// Keeps `record`, read from sled since `generation`, unless a write
    /// came in between.
    fn keep(&self, record: &InstanceRecord, generation: u64) {
        let mut inner = self.write();
        if inner.generation != generation {
            return;
        }
        if inner.records.len() >= CAPACITY {
            inner.records.clear();
        }
        inner.records.insert(record.id.clone(), record.clone());
    }

    /// Forgets `id` after a write of it.
    pub(super) fn forget(&self, id: &str) {
        let mut inner = self.write();
        inner.generation += 1;
        inner.records.remove(id);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, config: i64) -> InstanceRecord {
        serde_json::from_value(serde_json::json!({
            "id": id,
            "tenant": "acme",
            "integration": "hello",
            "version": 1,
            "status": "active",
            "config": { "n": config },
            "secrets": {},
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = InstanceCache::default();
        let began = cache.generation();
        // A write lands between the read from sled and keeping it.
        cache.forget("i1");
        cache.keep(&record("i1", 1), began);
        assert!(cache.get("i1").is_none());
        let began = cache.generation();
        cache.keep(&record("i1", 2), began);
        assert_eq!(cache.get("i1").unwrap().config["n"], 2);
        cache.forget("i1");
        assert!(cache.get("i1").is_none());
    }
}
