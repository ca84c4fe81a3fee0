//! Due times of schedule triggers, in sled, so the scheduler can sleep
//! until the earliest one and a restart knows what was already fired.
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `schedules` | big-endian due time (ms since the epoch) `instance \0 flow` | [`ScheduleEntry`] |
//! | `schedules_by_flow` | `instance \0 flow` | its key in `schedules` |
//!
//! Both trees change together in one transaction, and every write flushes
//! before returning.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::Transactional as _;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::records::{decode, encode};
use super::sled_store::backend;
use super::{Result, SledStore, StorageError};

/// The next due time of one schedule flow of one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleEntry {
    /// Instance id.
    pub instance: String,
    /// Flow name.
    pub flow: String,
    /// When it fires next.
    pub due: DateTime<Utc>,
}

/// Persisted schedule due times.
pub trait ScheduleStore: Send + Sync {
    /// Sets the due time of `entry`'s instance and flow, replacing the
    /// previous one in the same transaction.
    fn set_schedule(&self, entry: &ScheduleEntry) -> Result<()>;
    /// The due time of one instance's flow.
    fn get_schedule(&self, instance: &str, flow: &str) -> Result<Option<ScheduleEntry>>;
    /// Removes one schedule; `false` if there was none.
    fn remove_schedule(&self, instance: &str, flow: &str) -> Result<bool>;
    /// The schedule due first.
    fn first_schedule(&self) -> Result<Option<ScheduleEntry>>;
    /// Every schedule, earliest first.
    fn list_schedules(&self) -> Result<Vec<ScheduleEntry>>;
}

fn flow_key(instance: &str, flow: &str) -> Vec<u8> {
    format!("{instance}\0{flow}").into_bytes()
}

fn due_key(entry: &ScheduleEntry) -> Vec<u8> {
    let millis = u64::try_from(entry.due.timestamp_millis()).unwrap_or(0);
    let mut key = millis.to_be_bytes().to_vec();
    key.extend_from_slice(&flow_key(&entry.instance, &entry.flow));
    key
}

fn abort(e: TransactionError<StorageError>) -> StorageError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => backend(e),
    }
}

impl SledStore {
    fn schedule_trees(&self) -> Result<(sled::Tree, sled::Tree)> {
        Ok((
            self.db().open_tree("schedules").map_err(backend)?,
            self.db().open_tree("schedules_by_flow").map_err(backend)?,
        ))
    }
}

impl ScheduleStore for SledStore {
    fn set_schedule(&self, entry: &ScheduleEntry) -> Result<()> {
        let (due, by_flow) = self.schedule_trees()?;
        let value = encode(entry)?;
        let key = due_key(entry);
        let index = flow_key(&entry.instance, &entry.flow);
        (&due, &by_flow)
            .transaction(|(due, by_flow)| {
                if let Some(old) = by_flow.get(&index)? {
                    due.remove(old)?;
                }
                due.insert(key.as_slice(), value.as_slice())?;
                by_flow.insert(index.as_slice(), key.as_slice())?;
                Ok::<_, ConflictableTransactionError<StorageError>>(())
            })
            .map_err(abort)?;
        self.db().flush().map_err(backend)?;
        Ok(())
    }

    fn get_schedule(&self, instance: &str, flow: &str) -> Result<Option<ScheduleEntry>> {
        let (due, by_flow) = self.schedule_trees()?;
        let Some(key) = by_flow.get(flow_key(instance, flow)).map_err(backend)? else {
            return Ok(None);
        };
        due.get(&key)
            .map_err(backend)?
            .map(|v| decode("schedule", &key, &v))
            .transpose()
    }

    fn remove_schedule(&self, instance: &str, flow: &str) -> Result<bool> {
        let (due, by_flow) = self.schedule_trees()?;
        let index = flow_key(instance, flow);
        let removed = (&due, &by_flow)
            .transaction(|(due, by_flow)| {
                let Some(old) = by_flow.remove(index.as_slice())? else {
                    return Ok(false);
                };
                due.remove(old)?;
                Ok::<_, ConflictableTransactionError<StorageError>>(true)
            })
            .map_err(abort)?;
        if removed {
            self.db().flush().map_err(backend)?;
        }
        Ok(removed)
    }

    fn first_schedule(&self) -> Result<Option<ScheduleEntry>> {
        let (due, _) = self.schedule_trees()?;
        due.first()
            .map_err(backend)?
            .map(|(k, v)| decode("schedule", &k, &v))
            .transpose()
    }

    fn list_schedules(&self) -> Result<Vec<ScheduleEntry>> {
        let (due, _) = self.schedule_trees()?;
        due.iter()
            .map(|entry| {
                let (k, v) = entry.map_err(backend)?;
                decode("schedule", &k, &v)
            })
            .collect()
    }
}
