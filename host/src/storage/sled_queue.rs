//! The sled implementation of [`Queue`]: entries in the `queue` tree
//! (key: execution id, value: [`QueueEntry`]), written in the same
//! transaction as a new execution's record, and an in-memory index of them
//! that claims are answered from. Leases live in that index only: one
//! process opens a sled store, so at open every lease is stale and every
//! entry is waiting again.
//!
//! A data dir written before the queue existed has no `queue` tree; the
//! first open builds it from the executions left `queued` or `running`.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sled::Tree;

use super::queue::{ClaimRequest, Lane, Queue, QueueEntry};
use super::records::{decode, encode};
use super::sled_store::backend;
use super::{Result, SledStore};
use crate::model::ExecutionRecord;

/// Name of the tree of queue entries.
const QUEUE_TREE: &str = "queue";

#[derive(Debug)]
struct Slot {
    entry: QueueEntry,
    /// Holder and expiry of the lease, if leased.
    lease: Option<(String, DateTime<Utc>)>,
}

/// Entries of one instance and flow.
#[derive(Debug, Default)]
struct Group {
    /// Every entry of the pair, leased or not, oldest first.
    all: BTreeSet<String>,
    leased: usize,
}

/// What claims are answered from; mirrors the `queue` tree plus leases.
#[derive(Debug, Default)]
pub(super) struct QueueIndex {
    slots: HashMap<String, Slot>,
    /// Entries without a lease, by tenant, sync first then oldest.
    waiting: HashMap<String, BTreeSet<(Lane, String)>>,
    /// Leases held (live or not yet found expired), by tenant.
    leased_by_tenant: HashMap<String, usize>,
    leased: HashSet<String>,
    groups: HashMap<(String, String), Group>,
}

fn group_key(entry: &QueueEntry) -> (String, String) {
    (entry.instance.clone(), entry.flow.clone())
}

impl QueueIndex {
    /// Adds (or replaces) a waiting entry.
    pub(super) fn insert(&mut self, entry: QueueEntry) {
        self.remove(&entry.execution.clone());
        self.groups
            .entry(group_key(&entry))
            .or_default()
            .all
            .insert(entry.execution.clone());
        self.waiting
            .entry(entry.tenant.clone())
            .or_default()
            .insert((entry.lane, entry.execution.clone()));
        self.slots
            .insert(entry.execution.clone(), Slot { entry, lease: None });
    }

    fn remove(&mut self, id: &str) -> Option<QueueEntry> {
        let slot = self.slots.remove(id)?;
        let entry = slot.entry;
        if slot.lease.is_some() {
            self.unlease_counts(&entry);
        } else if let Some(waiting) = self.waiting.get_mut(&entry.tenant) {
            waiting.remove(&(entry.lane, entry.execution.clone()));
            if waiting.is_empty() {
                self.waiting.remove(&entry.tenant);
            }
        }
        let key = group_key(&entry);
        if let Some(group) = self.groups.get_mut(&key) {
            group.all.remove(id);
            if group.all.is_empty() {
                self.groups.remove(&key);
            }
        }
        Some(entry)
    }

    fn unlease_counts(&mut self, entry: &QueueEntry) {
        self.leased.remove(&entry.execution);
        if let Some(n) = self.leased_by_tenant.get_mut(&entry.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.leased_by_tenant.remove(&entry.tenant);
            }
        }
        if let Some(group) = self.groups.get_mut(&group_key(entry)) {
            group.leased = group.leased.saturating_sub(1);
        }
    }

    /// Drops `id`'s lease, making it wait again.
    fn unlease(&mut self, id: &str) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        if slot.lease.take().is_none() {
            return;
        }
        let entry = slot.entry.clone();
        self.unlease_counts(&entry);
        self.waiting
            .entry(entry.tenant.clone())
            .or_default()
            .insert((entry.lane, entry.execution));
    }

    fn holds(&self, node: &str, id: &str) -> bool {
        self.slots
            .get(id)
            .and_then(|s| s.lease.as_ref())
            .is_some_and(|(holder, _)| holder == node)
    }

    /// Whether `entry` may be claimed now, by its flow's bounds.
    fn flow_allows(&self, entry: &QueueEntry) -> bool {
        let Some(group) = self.groups.get(&group_key(entry)) else {
            return true;
        };
        if entry.fifo {
            return group.leased == 0 && group.all.first() == Some(&entry.execution);
        }
        entry
            .limit
            .is_none_or(|limit| group.leased < limit as usize)
    }

    /// The first claimable entry of `tenant`, if any.
    fn candidate(&self, tenant: &str, node: &str, now: DateTime<Utc>) -> Option<&QueueEntry> {
        self.waiting.get(tenant)?.iter().find_map(|(_, id)| {
            let entry = &self.slots.get(id)?.entry;
            let due = entry.not_before.is_none_or(|t| t <= now);
            let ours = entry
                .home
                .as_ref()
                .is_none_or(|(home, until)| home == node || *until <= now);
            (due && ours && self.flow_allows(entry)).then_some(entry)
        })
    }

    pub(super) fn claim(&mut self, request: &ClaimRequest<'_>) -> Vec<QueueEntry> {
        let expired: Vec<String> = self
            .leased
            .iter()
            .filter(|id| {
                self.slots
                    .get(*id)
                    .and_then(|s| s.lease.as_ref())
                    .is_some_and(|(_, until)| *until <= request.now)
            })
            .cloned()
            .collect();
        for id in expired {
            self.unlease(&id);
        }
        let per_tenant = request.per_tenant.max(1);
        let mut claimed = Vec::new();
        while claimed.len() < request.max {
            let best = self
                .waiting
                .keys()
                .filter_map(|tenant| {
                    let running = self.leased_by_tenant.get(tenant).copied().unwrap_or(0);
                    if running >= per_tenant {
                        return None;
                    }
                    let entry = self.candidate(tenant, request.node, request.now)?;
                    Some((entry.lane, running, entry.execution.clone()))
                })
                .min();
            let Some((lane, _, id)) = best else {
                break;
            };
            let Some(slot) = self.slots.get_mut(&id) else {
                break;
            };
            slot.lease = Some((request.node.to_owned(), request.lease_until));
            let entry = slot.entry.clone();
            if let Some(waiting) = self.waiting.get_mut(&entry.tenant) {
                waiting.remove(&(lane, id.clone()));
                if waiting.is_empty() {
                    self.waiting.remove(&entry.tenant);
                }
            }
            *self
                .leased_by_tenant
                .entry(entry.tenant.clone())
                .or_default() += 1;
            if let Some(group) = self.groups.get_mut(&group_key(&entry)) {
                group.leased += 1;
            }
            self.leased.insert(id);
            claimed.push(entry);
        }
        claimed
    }
}

impl SledStore {
    /// Opens the `queue` tree and reads it into a fresh index (no leases);
    /// when the tree is new, fills it first from the unfinished executions.
    pub(super) fn open_queue(db: &sled::Db, executions: &Tree) -> Result<(Tree, QueueIndex)> {
        let created = !db
            .tree_names()
            .iter()
            .any(|name| name.as_ref() == QUEUE_TREE.as_bytes());
        let queue = db.open_tree(QUEUE_TREE).map_err(backend)?;
        if created {
            for item in executions.iter() {
                let (key, value) = item.map_err(backend)?;
                let record: ExecutionRecord = decode("execution", &key, &value)?;
                if !record.status.is_finished() {
                    let entry =
                        QueueEntry::new(&record.id, &record.tenant, &record.instance, &record.flow);
                    queue.insert(key, encode(&entry)?).map_err(backend)?;
                }
            }
            queue.flush().map_err(backend)?;
        }
        let mut index = QueueIndex::default();
        for item in queue.iter() {
            let (key, value) = item.map_err(backend)?;
            index.insert(decode("queue entry", &key, &value)?);
        }
        Ok((queue, index))
    }

    fn queue_index(&self) -> std::sync::MutexGuard<'_, QueueIndex> {
        self.queue_index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a stored entry to the index (after its write committed).
    pub(super) fn index_entry(&self, entry: QueueEntry) {
        self.queue_index().insert(entry);
    }
}

impl Queue for SledStore {
    fn enqueue(&self, entry: &QueueEntry) -> Result<()> {
        self.queue
            .insert(entry.execution.as_bytes(), encode(entry)?)
            .map_err(backend)?;
        self.index_entry(entry.clone());
        Ok(())
    }

    fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<QueueEntry>> {
        Ok(self.queue_index().claim(request))
    }

    fn renew(
        &self,
        node: &str,
        executions: &[String],
        until: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let mut index = self.queue_index();
        let mut lost = Vec::new();
        for id in executions {
            match index.slots.get_mut(id).and_then(|s| s.lease.as_mut()) {
                Some((holder, expiry)) if holder == node => *expiry = until,
                _ => lost.push(id.clone()),
            }
        }
        Ok(lost)
    }

    fn ack(&self, node: &str, execution: &str) -> Result<bool> {
        let mut index = self.queue_index();
        if !index.holds(node, execution) {
            return Ok(false);
        }
        self.queue.remove(execution.as_bytes()).map_err(backend)?;
        index.remove(execution);
        Ok(true)
    }

    fn release(
        &self,
        node: &str,
        execution: &str,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let mut index = self.queue_index();
        if !index.holds(node, execution) {
            return Ok(false);
        }
        let Some(slot) = index.slots.get_mut(execution) else {
            return Ok(false);
        };
        if slot.entry.not_before != not_before {
            slot.entry.not_before = not_before;
            self.queue
                .insert(execution.as_bytes(), encode(&slot.entry)?)
                .map_err(backend)?;
        }
        index.unlease(execution);
        Ok(true)
    }

    fn queued(&self, tenant: &str) -> Result<usize> {
        Ok(self
            .queue_index()
            .waiting
            .get(tenant)
            .map_or(0, BTreeSet::len))
    }

    fn queued_in(&self, tenant: &str, lane: Lane) -> Result<usize> {
        let index = self.queue_index();
        let Some(waiting) = index.waiting.get(tenant) else {
            return Ok(0);
        };
        // Sync sorts first: count the (few) sync entries, not the backlog.
        let sync = waiting.range(..(Lane::Async, String::new())).count();
        Ok(match lane {
            Lane::Sync => sync,
            Lane::Async => waiting.len() - sync,
        })
    }

    fn depth(&self) -> Result<usize> {
        Ok(self.queue_index().waiting.values().map(BTreeSet::len).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::super::queue::contract;
    use super::*;

    fn with_store(case: fn(&dyn Queue)) {
        let dir = std::env::temp_dir().join(format!("weft-queue-{}", uuid::Uuid::now_v7()));
        let store = SledStore::open(&dir).unwrap();
        case(&store);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn claim_ack_release() {
        with_store(contract::claim_ack_release);
    }

    #[test]
    fn expired_leases_are_reclaimed() {
        with_store(contract::expired_leases_are_reclaimed);
    }

    #[test]
    fn release_waits_for_not_before() {
        with_store(contract::release_waits_for_not_before);
    }

    #[test]
    fn home_node_claims_first() {
        with_store(contract::home_node_claims_first);
    }

    #[test]
    fn tenants_share_and_sync_goes_first() {
        with_store(contract::tenants_share_and_sync_goes_first);
    }

    #[test]
    fn flow_limits_and_fifo() {
        with_store(contract::flow_limits_and_fifo);
    }

    #[test]
    fn claims_hold_caps_under_contention() {
        with_store(contract::claims_hold_caps_under_contention);
    }

    #[test]
    fn lanes_are_counted_apart() {
        with_store(contract::lanes_are_counted_apart);
    }

    #[test]
    fn a_data_dir_from_before_the_queue_gets_its_unfinished_executions_queued() {
        use crate::storage::ExecutionStore as _;
        let dir = std::env::temp_dir().join(format!("weft-queue-{}", uuid::Uuid::now_v7()));
        let store = SledStore::open(&dir).unwrap();
        let record = ExecutionRecord::queued("t", "i", "x@1", "f", serde_json::Value::Null);
        let entry = QueueEntry::new(&record.id, "t", "i", "f");
        store.create_execution(&record, &entry).unwrap();
        assert_eq!(store.depth().unwrap(), 1);
        store.db().drop_tree(QUEUE_TREE).unwrap();
        crate::storage::Storage::flush(&store).unwrap();
        drop(store);
        let store = SledStore::open(&dir).unwrap();
        assert_eq!(store.queued("t").unwrap(), 1, "rebuilt from the executions");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn entries_survive_a_reopen_without_their_leases() {
        let dir = std::env::temp_dir().join(format!("weft-queue-{}", uuid::Uuid::now_v7()));
        let store = SledStore::open(&dir).unwrap();
        let node = "n1";
        let now = Utc::now();
        let request = ClaimRequest {
            node,
            now,
            lease_until: now + chrono::Duration::seconds(30),
            per_tenant: 4,
            max: 4,
        };
        store
            .enqueue(&QueueEntry::new("r1", "t", "i", "f"))
            .unwrap();
        store
            .enqueue(&QueueEntry::new("r2", "t", "i", "f"))
            .unwrap();
        assert_eq!(store.claim(&request).unwrap().len(), 2);
        assert!(store.ack(node, "r1").unwrap());
        crate::storage::Storage::flush(&store).unwrap();
        drop(store);
        let store = SledStore::open(&dir).unwrap();
        assert_eq!(
            store.depth().unwrap(),
            1,
            "r2's lease died with the process"
        );
        let claimed = store
            .claim(&ClaimRequest {
                node: "n2",
                ..request
            })
            .unwrap();
        assert_eq!(claimed[0].execution, "r2");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
