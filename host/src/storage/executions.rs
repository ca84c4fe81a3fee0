//! Executions: records, their step records and idempotency keys, in sled.
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `executions` | UUIDv7 id (time-ordered) | [`ExecutionRecord`] without steps |
//! | `execution_steps` | `id \0 path` | [`StepRecord`] |
//! | `execution_keys` | `instance \0 flow \0 idempotency key` | execution id |
//! | `result_tokens` | SHA-256 of a result token | expiry (ms since the epoch, big-endian u64) then the execution id |
//! | `queue` | execution id | [`QueueEntry`] (written with the execution, removed when it ends; see `sled_queue.rs`) |
//!
//! A new execution is durable once [`Storage::durable`] returns (the
//! engine awaits it before anyone is told of the execution, and after each
//! step record, before the next step starts), so neither an acknowledged
//! execution nor a finished step is lost to `kill -9`. Other status changes
//! reach the disk within [`GROUP_COMMIT_MS`]; pruning flushes.
//!
//! [`GROUP_COMMIT_MS`]: super::sled_store::GROUP_COMMIT_MS

use chrono::{DateTime, Utc};
use sled::Transactional as _;
use sled::transaction::ConflictableTransactionError;

#[cfg(doc)]
use super::Storage;
use super::queue::QueueEntry;
use super::records::{decode, encode};
use super::sled_store::backend;
use super::{Inserted, Result, SledStore, StorageError};
use crate::model::{ExecutionId, ExecutionRecord, ExecutionStatus, StepRecord, StepStatus};
use crate::sandbox::{StateScope, StateStore};

/// Which executions to list.
#[derive(Clone, Debug, Default)]
pub struct ExecutionFilter {
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// Only this instance's.
    pub instance: Option<String>,
    /// Only this flow's.
    pub flow: Option<String>,
    /// Only with this status.
    pub status: Option<ExecutionStatus>,
    /// Only older than this execution id (the cursor of the previous page).
    pub before: Option<String>,
    /// At most this many (newest first).
    pub limit: usize,
}

impl ExecutionFilter {
    /// Whether `record` passes the tenant, instance, flow and status
    /// filters (`before` and `limit` are the listing's).
    pub fn matches(&self, record: &ExecutionRecord) -> bool {
        self.tenant.as_ref().is_none_or(|t| *t == record.tenant)
            && self.instance.as_ref().is_none_or(|i| *i == record.instance)
            && self.flow.as_ref().is_none_or(|f| *f == record.flow)
            && self.status.is_none_or(|s| s == record.status)
    }
}

/// Durable executions.
pub trait ExecutionStore: Send + Sync {
    /// Stores a new execution and its queue `entry` in one atomic write
    /// (durable after [`Storage::durable`]), so an execution on disk is
    /// always in the queue. With an idempotency key, an execution already
    /// stored for the same instance, flow and key is returned instead (and
    /// nothing is stored).
    fn create_execution(
        &self,
        record: &ExecutionRecord,
        entry: &QueueEntry,
    ) -> Result<Inserted<ExecutionRecord>>;
    /// One execution with its step records.
    fn get_execution(&self, id: &str) -> Result<Option<ExecutionRecord>>;
    /// The execution stored for `instance`, `flow` and idempotency `key`,
    /// if any (what [`Self::create_execution`] would return instead of
    /// storing a new one).
    fn find_keyed(&self, instance: &str, flow: &str, key: &str) -> Result<Option<ExecutionRecord>>;
    /// Applies `change` (not to steps) atomically; `None` if missing.
    /// Durable within the group-commit window, not on return.
    fn update_execution(
        &self,
        id: &str,
        change: &mut dyn FnMut(&mut ExecutionRecord),
    ) -> Result<Option<ExecutionRecord>>;
    /// Stores (or replaces) a step record of an execution; durable after
    /// [`Storage::durable`].
    fn put_step(&self, id: &str, step: &StepRecord) -> Result<()>;
    /// Puts an execution back in line for a retry, in one atomic write:
    /// applies `change` to the record (nothing is written when it returns
    /// `false`), removes the execution's failed step records (the retry
    /// runs those steps again; the ones that succeeded stay and are not
    /// run again) and, with `entry`, queues it. A crash keeps all of it or
    /// none, so a retried execution is never left `queued` outside the
    /// queue, nor queued with the failed step that ends it at once.
    /// Returns the changed record (without steps); `None` if the execution
    /// is missing or `change` declined. Durable after [`Storage::durable`].
    fn requeue(
        &self,
        id: &str,
        change: &mut dyn FnMut(&mut ExecutionRecord) -> bool,
        entry: Option<&QueueEntry>,
    ) -> Result<Option<ExecutionRecord>>;
    /// Executions matching `filter`, newest first, without steps.
    fn list_executions(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>>;
    /// Deletes finished executions that ended before `before`; returns how
    /// many. An execution ends after it was created, so a backend may look
    /// only at executions created before `before` (ids are time-ordered).
    fn prune_executions(&self, before: DateTime<Utc>) -> Result<usize>;
    /// Stores a result token (by its SHA-256) for `execution`, valid until
    /// `expires`.
    fn put_result_token(
        &self,
        hash: &[u8; 32],
        execution: &str,
        expires: DateTime<Utc>,
    ) -> Result<()>;
    /// The execution a result token (by its SHA-256) reads, if the token
    /// is known and not expired at `now` (an expired one is removed).
    fn find_result_token(&self, hash: &[u8; 32], now: DateTime<Utc>) -> Result<Option<String>>;
    /// Of the executions `ids`, those whose response or end is stored: a
    /// node waiting for executions other nodes run reads them all at once.
    /// Reads each record unless the store has a cheaper way.
    fn answered(&self, ids: &[String]) -> Result<Vec<String>> {
        let mut answered = Vec::new();
        for id in ids {
            if self
                .get_execution(id)?
                .is_some_and(|r| r.status.is_finished() || r.response.is_some())
            {
                answered.push(id.clone());
            }
        }
        Ok(answered)
    }
}

/// Tree of result tokens.
const RESULT_TOKENS: &str = "result_tokens";

fn step_prefix(id: &str) -> Vec<u8> {
    let mut key = id.as_bytes().to_vec();
    key.push(0);
    key
}

fn idempotency_key(instance: &str, flow: &str, key: &str) -> Vec<u8> {
    format!("{instance}\0{flow}\0{key}").into_bytes()
}

impl SledStore {
    fn steps_of(&self, id: &str) -> Result<Vec<StepRecord>> {
        let mut steps: Vec<StepRecord> = self
            .execution_steps
            .scan_prefix(step_prefix(id))
            .map(|entry| {
                let (key, value) = entry.map_err(backend)?;
                decode("step", &key, &value)
            })
            .collect::<Result<_>>()?;
        steps.sort_by_key(|s| s.started_at);
        Ok(steps)
    }

    fn decode_execution(key: &[u8], value: &[u8]) -> Result<ExecutionRecord> {
        decode("execution", key, value)
    }
}

impl ExecutionStore for SledStore {
    fn create_execution(
        &self,
        record: &ExecutionRecord,
        entry: &QueueEntry,
    ) -> Result<Inserted<ExecutionRecord>> {
        let value = encode(record)?;
        let queued = encode(entry)?;
        let Some(key) = record
            .idempotency_key
            .as_deref()
            .map(|k| idempotency_key(&record.instance, &record.flow, k))
        else {
            // Without a key nothing can conflict, and a sled transaction
            // seals the log buffer twice (two more disk writes per
            // execution), so two plain writes in an order that every crash
            // leaves sound: sled recovers a prefix of its log, and a queue
            // entry whose execution is missing is dropped by the worker that
            // claims it (no execution to run); workers claim from the index,
            // which learns of the entry only after both writes.
            self.queue
                .insert(entry.execution.as_bytes(), queued.as_slice())
                .map_err(backend)?;
            self.executions
                .insert(record.id.as_bytes(), value.as_slice())
                .map_err(backend)?;
            self.index_entry(entry.clone());
            return Ok(Inserted::Created);
        };
        let existing = (&self.executions, &self.execution_keys, &self.queue)
            .transaction(|(executions, keys, queue)| {
                if let Some(id) = keys.get(key.as_slice())? {
                    return Ok(Some(id));
                }
                keys.insert(key.as_slice(), record.id.as_bytes())?;
                executions.insert(record.id.as_bytes(), value.as_slice())?;
                queue.insert(entry.execution.as_bytes(), queued.as_slice())?;
                Ok::<_, ConflictableTransactionError<StorageError>>(None)
            })
            .map_err(transaction_failed)?;
        match existing {
            Some(id) => {
                let id = String::from_utf8_lossy(&id).into_owned();
                let found = self
                    .get_execution(&id)?
                    .ok_or_else(|| StorageError::Corrupt {
                        kind: "idempotency key",
                        key: id.clone(),
                        message: "points to a missing execution".into(),
                    })?;
                Ok(Inserted::Exists(found))
            }
            None => {
                self.index_entry(entry.clone());
                Ok(Inserted::Created)
            }
        }
    }

    fn get_execution(&self, id: &str) -> Result<Option<ExecutionRecord>> {
        let Some(value) = self.executions.get(id.as_bytes()).map_err(backend)? else {
            return Ok(None);
        };
        let mut record = Self::decode_execution(id.as_bytes(), &value)?;
        record.steps = self.steps_of(id)?;
        Ok(Some(record))
    }

    fn find_keyed(&self, instance: &str, flow: &str, key: &str) -> Result<Option<ExecutionRecord>> {
        match self
            .execution_keys
            .get(idempotency_key(instance, flow, key))
            .map_err(backend)?
        {
            Some(id) => self.get_execution(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    fn update_execution(
        &self,
        id: &str,
        change: &mut dyn FnMut(&mut ExecutionRecord),
    ) -> Result<Option<ExecutionRecord>> {
        // sled may run the closure again when another writer raced it;
        // the record of its last run is what was stored, so the result is
        // that record, not the stored bytes decoded once more.
        let mut error = None;
        let mut changed = None;
        let updated = self
            .executions
            .update_and_fetch(id.as_bytes(), |current| {
                let current = current?;
                error = None;
                match Self::decode_execution(id.as_bytes(), current) {
                    Ok(mut record) => {
                        change(&mut record);
                        record.steps.clear();
                        match encode(&record) {
                            Ok(bytes) => {
                                changed = Some(record);
                                Some(bytes)
                            }
                            Err(e) => {
                                error = Some(e);
                                Some(current.to_vec())
                            }
                        }
                    }
                    Err(e) => {
                        error = Some(e);
                        Some(current.to_vec())
                    }
                }
            })
            .map_err(backend)?;
        if let Some(e) = error {
            return Err(e);
        }
        Ok(updated.and(changed))
    }

    fn put_step(&self, id: &str, step: &StepRecord) -> Result<()> {
        let mut key = step_prefix(id);
        key.extend_from_slice(step.path.as_bytes());
        self.execution_steps
            .insert(key, encode(step)?)
            .map_err(backend)?;
        Ok(())
    }

    fn requeue(
        &self,
        id: &str,
        change: &mut dyn FnMut(&mut ExecutionRecord) -> bool,
        entry: Option<&QueueEntry>,
    ) -> Result<Option<ExecutionRecord>> {
        // Nobody else writes this execution's steps now (an API retry
        // starts from an ended execution, a flow retry from its worker once
        // the run returned), so they are read before the transaction,
        // which cannot scan.
        let failed: Vec<Vec<u8>> = self
            .steps_of(id)?
            .iter()
            .filter(|s| s.status == StepStatus::Failed)
            .map(|s| [step_prefix(id), s.path.as_bytes().to_vec()].concat())
            .collect();
        let queued = entry.map(encode).transpose()?;
        // sled may run the transaction again after a conflict; it takes a
        // closure it can call more than once, through a shared borrow.
        let change = std::cell::RefCell::new(change);
        let changed = (&self.executions, &self.execution_steps, &self.queue)
            .transaction(|(executions, steps, queue)| {
                let Some(current) = executions.get(id.as_bytes())? else {
                    return Ok(None);
                };
                let mut record = Self::decode_execution(id.as_bytes(), &current)
                    .map_err(ConflictableTransactionError::Abort)?;
                if !(change.borrow_mut())(&mut record) {
                    return Ok(None);
                }
                record.steps.clear();
                let value = encode(&record).map_err(ConflictableTransactionError::Abort)?;
                executions.insert(id.as_bytes(), value)?;
                for key in &failed {
                    steps.remove(key.as_slice())?;
                }
                if let Some(queued) = &queued {
                    queue.insert(id.as_bytes(), queued.as_slice())?;
                }
                Ok(Some(record))
            })
            .map_err(transaction_failed)?;
        if changed.is_some()
            && let Some(entry) = entry
        {
            self.index_entry(entry.clone());
        }
        Ok(changed)
    }

    fn list_executions(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>> {
        let iter = match &filter.before {
            Some(before) => self.executions.range(..before.as_bytes().to_vec()),
            None => self.executions.iter(),
        };
        let mut out = Vec::new();
        for entry in iter.rev() {
            let (key, value) = entry.map_err(backend)?;
            let record = Self::decode_execution(&key, &value)?;
            if filter.matches(&record) {
                out.push(record);
                if out.len() >= filter.limit.max(1) {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn prune_executions(&self, before: DateTime<Utc>) -> Result<usize> {
        let mut pruned = 0;
        // Ids are in creation order and an execution ends after it was
        // created, so the scan stops at the first one created after
        // `before`: it reads the old executions, never all of them (a scan
        // of every record at each start pulled the whole tree through
        // sled's cache, ~100 MiB after a benchmark's 250,000 executions).
        let bound = ExecutionId::first_at(before + chrono::Duration::milliseconds(1));
        for entry in self.executions.range(..bound.as_str().as_bytes()) {
            let (key, value) = entry.map_err(backend)?;
            let record = Self::decode_execution(&key, &value)?;
            if record.status.is_finished() && record.finished_at.is_some_and(|t| t < before) {
                for step in self
                    .execution_steps
                    .scan_prefix(step_prefix(&record.id))
                    .keys()
                {
                    self.execution_steps
                        .remove(step.map_err(backend)?)
                        .map_err(backend)?;
                }
                if let Some(k) = &record.idempotency_key {
                    self.execution_keys
                        .remove(idempotency_key(&record.instance, &record.flow, k))
                        .map_err(backend)?;
                }
                // Normally gone when the execution ended; this catches
                // executions that ended before the host removed it.
                let scope = StateScope::Execution {
                    execution: record.id.clone(),
                };
                StateStore::clear(self, &scope).map_err(|e| StorageError::Backend(e.0))?;
                self.executions.remove(&key).map_err(backend)?;
                pruned += 1;
            }
        }
        // Expired result tokens go with the pruning.
        let tokens = self.db().open_tree(RESULT_TOKENS).map_err(backend)?;
        let now = Utc::now().timestamp_millis();
        for entry in tokens.iter() {
            let (key, value) = entry.map_err(backend)?;
            if token_expiry(&value) <= now {
                tokens.remove(key).map_err(backend)?;
            }
        }
        if pruned > 0 {
            self.db().flush().map_err(backend)?;
        }
        Ok(pruned)
    }

    fn put_result_token(
        &self,
        hash: &[u8; 32],
        execution: &str,
        expires: DateTime<Utc>,
    ) -> Result<()> {
        let millis = u64::try_from(expires.timestamp_millis()).unwrap_or(0);
        let mut value = millis.to_be_bytes().to_vec();
        value.extend_from_slice(execution.as_bytes());
        let tokens = self.db().open_tree(RESULT_TOKENS).map_err(backend)?;
        tokens.insert(hash, value).map_err(backend)?;
        Ok(())
    }

    fn find_result_token(&self, hash: &[u8; 32], now: DateTime<Utc>) -> Result<Option<String>> {
        let tokens = self.db().open_tree(RESULT_TOKENS).map_err(backend)?;
        let Some(value) = tokens.get(hash).map_err(backend)? else {
            return Ok(None);
        };
        if value.len() < 8 || token_expiry(&value) <= now.timestamp_millis() {
            tokens.remove(hash).map_err(backend)?;
            return Ok(None);
        }
        Ok(Some(String::from_utf8_lossy(&value[8..]).into_owned()))
    }
}

/// The error of a failed sled transaction.
fn transaction_failed(e: sled::transaction::TransactionError<StorageError>) -> StorageError {
    match e {
        sled::transaction::TransactionError::Abort(e) => e,
        sled::transaction::TransactionError::Storage(e) => backend(e),
    }
}

/// The expiry (ms since the epoch) at the head of a result token's value.
fn token_expiry(value: &[u8]) -> i64 {
    let mut head = [0u8; 8];
    if let Some(bytes) = value.get(..8) {
        head.copy_from_slice(bytes);
    }
    i64::try_from(u64::from_be_bytes(head)).unwrap_or(i64::MAX)
}
