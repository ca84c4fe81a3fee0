//! Executions, their step records, idempotency keys, result tokens and
//! schedule due times in PostgreSQL.
//!
//! An idempotency key is claimed with `INSERT … ON CONFLICT DO NOTHING` in
//! the transaction that stores the execution: of two nodes submitting the
//! same key at once, the second waits for the first to commit and then
//! returns its execution. Updates compare a revision number and retry.

use chrono::{DateTime, Utc};

use crate::model::{ExecutionRecord, StepRecord, StepStatus};
use crate::storage::records::encode;
use crate::storage::{
    ExecutionFilter, ExecutionStore, Inserted, QueueEntry, Result, ScheduleEntry, ScheduleStore,
    StorageError,
};

use super::listen::CHANNEL;
use super::pool::Failure;
use super::{PostgresStore, decode_row};

fn decode_execution(row: &postgres::Row) -> Result<ExecutionRecord, Failure> {
    decode_row("execution", row.get(0), row.get(1))
}

/// The columns of `record` besides its id and envelope.
struct Columns {
    status: String,
    finished: bool,
    finished_at: Option<DateTime<Utc>>,
}

fn columns(record: &ExecutionRecord) -> Columns {
    Columns {
        status: record.status.as_str().to_owned(),
        finished: record.status.is_finished(),
        finished_at: record.finished_at,
    }
}

/// Whether `record` has a stored response and whether it ended: what a
/// node waiting for it on another node is told of.
fn news(record: &ExecutionRecord) -> (bool, bool) {
    (record.response.is_some(), record.status.is_finished())
}

/// The compare-and-swap of [`ExecutionStore::update_execution`].
const UPDATE: &str = "UPDATE executions SET record = $2, status = $3, finished = $4,
       finished_at = $5, rev = rev + 1
     WHERE id = $1 AND rev = $6";

/// [`UPDATE`], announcing the execution on channel `$7` ([`CHANNEL`]) when it
/// swapped (one row per swapped record).
const UPDATE_AND_ANNOUNCE: &str = "WITH swapped AS (
       UPDATE executions SET record = $2, status = $3, finished = $4,
         finished_at = $5, rev = rev + 1
       WHERE id = $1 AND rev = $6 RETURNING id
     )
     SELECT pg_notify($7, id) FROM swapped";

impl PostgresStore {
    /// An execution's record (without steps) and its revision, which an
    /// update compares.
    fn revision(&self, id: &str) -> Result<Option<(i64, ExecutionRecord)>> {
        let key = id.to_owned();
        self.pool.try_run(move |client| {
            client
                .query_opt(
                    "SELECT id, record, rev FROM executions WHERE id = $1",
                    &[&key],
                )?
                .map(|row| Ok((row.get::<_, i64>(2), decode_execution(&row)?)))
                .transpose()
        })
    }
}

impl ExecutionStore for PostgresStore {
    fn create_execution(
        &self,
        record: &ExecutionRecord,
        entry: &QueueEntry,
    ) -> Result<Inserted<ExecutionRecord>> {
        let mut stored = record.clone();
        stored.steps.clear();
        let value = encode(&stored)?;
        let record = stored;
        let queued = encode(entry)?;
        let entry = entry.clone();
        let existing = self.pool.run(move |client| {
            let mut tx = client.transaction()?;
            if let Some(key) = &record.idempotency_key {
                let claimed = tx.execute(
                    "INSERT INTO execution_keys (instance, flow, key, execution)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&record.instance, &record.flow, key, &record.id],
                )?;
                if claimed == 0 {
                    let row = tx.query_one(
                        "SELECT execution FROM execution_keys
                         WHERE instance = $1 AND flow = $2 AND key = $3",
                        &[&record.instance, &record.flow, key],
                    )?;
                    return Ok(Some(row.get::<_, String>(0)));
                }
            }
            let c = columns(&record);
            tx.execute(
                "INSERT INTO executions
                   (id, tenant, instance, flow, status, finished, finished_at, record)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &record.id,
                    &record.tenant,
                    &record.instance,
                    &record.flow,
                    &c.status,
                    &c.finished,
                    &c.finished_at,
                    &value,
                ],
            )?;
            super::queue::put_entry(&mut tx, &entry, &queued)?;
            tx.commit()?;
            Ok(None)
        })?;
        match existing {
            None => Ok(Inserted::Created),
            Some(id) => {
                let found = self
                    .get_execution(&id)?
                    .ok_or_else(|| StorageError::Corrupt {
                        kind: "idempotency key",
                        key: id.clone(),
                        message: "points to a missing execution".into(),
                    })?;
                Ok(Inserted::Exists(found))
            }
        }
    }

    fn get_execution(&self, id: &str) -> Result<Option<ExecutionRecord>> {
        let id = id.to_owned();
        self.pool.try_run(move |client| {
            let Some(row) =
                client.query_opt("SELECT id, record FROM executions WHERE id = $1", &[&id])?
            else {
                return Ok(None);
            };
            let mut record = decode_execution(&row)?;
            record.steps = client
                .query(
                    "SELECT path, record FROM execution_steps WHERE execution = $1
                     ORDER BY started_at, path",
                    &[&id],
                )?
                .iter()
                .map(|row| decode_row("step", row.get(0), row.get(1)))
                .collect::<Result<_, Failure>>()?;
            Ok(Some(record))
        })
    }

    fn find_keyed(&self, instance: &str, flow: &str, key: &str) -> Result<Option<ExecutionRecord>> {
        let (instance, flow, key) = (instance.to_owned(), flow.to_owned(), key.to_owned());
        let found: Option<String> = self.pool.run(move |client| {
            Ok(client
                .query_opt(
                    "SELECT execution FROM execution_keys
                     WHERE instance = $1 AND flow = $2 AND key = $3",
                    &[&instance, &flow, &key],
                )?
                .map(|row| row.get(0)))
        })?;
        match found {
            Some(id) => self.get_execution(&id),
            None => Ok(None),
        }
    }

    fn update_execution(
        &self,
        id: &str,
        change: &mut dyn FnMut(&mut ExecutionRecord),
    ) -> Result<Option<ExecutionRecord>> {
        loop {
            let Some((rev, mut record)) = self.revision(id)? else {
                return Ok(None);
            };
            let before = news(&record);
            change(&mut record);
            record.steps.clear();
            let value = encode(&record)?;
            let c = columns(&record);
            let key = id.to_owned();
            // The response or the end, stored now: announced to the other
            // nodes by the same statement (delivered once it commits).
            let after = news(&record);
            let announce = (after.0 && !before.0) || (after.1 && !before.1);
            let swapped = self.pool.run(move |client| {
                let params: [&(dyn postgres::types::ToSql + Sync); 6] =
                    [&key, &value, &c.status, &c.finished, &c.finished_at, &rev];
                if announce {
                    let mut announcing = params.to_vec();
                    announcing.push(&CHANNEL);
                    return Ok(client.query(UPDATE_AND_ANNOUNCE, &announcing)?.len() as u64);
                }
                client.execute(UPDATE, &params)
            })?;
            if swapped == 1 {
                return Ok(Some(record));
            }
        }
    }

    fn put_step(&self, id: &str, step: &StepRecord) -> Result<()> {
        let value = encode(step)?;
        let (id, path, started) = (id.to_owned(), step.path.clone(), step.started_at);
        self.pool.run(move |client| {
            client.execute(
                "INSERT INTO execution_steps (execution, path, started_at, record)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (execution, path) DO UPDATE SET started_at = $3, record = $4",
                &[&id, &path, &started, &value],
            )?;
            Ok(())
        })
    }

    fn requeue(
        &self,
        id: &str,
        change: &mut dyn FnMut(&mut ExecutionRecord) -> bool,
        entry: Option<&QueueEntry>,
    ) -> Result<Option<ExecutionRecord>> {
        let queued = match entry {
            Some(entry) => Some((entry.clone(), encode(entry)?)),
            None => None,
        };
        loop {
            let Some((rev, mut record)) = self.revision(id)? else {
                return Ok(None);
            };
            if !change(&mut record) {
                return Ok(None);
            }
            record.steps.clear();
            let value = encode(&record)?;
            let c = columns(&record);
            let (key, queued) = (id.to_owned(), queued.clone());
            // One transaction, from the revision the change saw: of two
            // concurrent retries one requeues, the other sees the change.
            let swapped = self.pool.try_run(move |client| {
                let mut tx = client.transaction()?;
                let params: [&(dyn postgres::types::ToSql + Sync); 6] =
                    [&key, &value, &c.status, &c.finished, &c.finished_at, &rev];
                if tx.execute(UPDATE, &params)? == 0 {
                    return Ok(false);
                }
                let failed: Vec<String> = tx
                    .query(
                        "SELECT path, record FROM execution_steps WHERE execution = $1",
                        &[&key],
                    )?
                    .iter()
                    .map(|row| decode_row::<StepRecord>("step", row.get(0), row.get(1)))
                    .collect::<Result<Vec<_>, Failure>>()?
                    .into_iter()
                    .filter(|s| s.status == StepStatus::Failed)
                    .map(|s| s.path)
                    .collect();
                tx.execute(
                    "DELETE FROM execution_steps WHERE execution = $1 AND path = ANY($2)",
                    &[&key, &failed],
                )?;
                if let Some((entry, queued)) = &queued {
                    super::queue::put_entry(&mut tx, entry, queued)?;
                }
                tx.commit()?;
                Ok(true)
            })?;
            if swapped {
                return Ok(Some(record));
            }
        }
    }

    fn list_executions(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>> {
        let filter = filter.clone();
        self.pool.try_run(move |client| {
            let status = filter.status.map(|s| s.as_str().to_owned());
            let limit = i64::try_from(filter.limit.max(1)).unwrap_or(i64::MAX);
            client
                .query(
                    "SELECT id, record FROM executions
                     WHERE ($1::text IS NULL OR tenant = $1)
                       AND ($2::text IS NULL OR instance = $2)
                       AND ($3::text IS NULL OR flow = $3)
                       AND ($4::text IS NULL OR status = $4)
                       AND ($5::text IS NULL OR id < $5)
                     ORDER BY id DESC LIMIT $6",
                    &[
                        &filter.tenant,
                        &filter.instance,
                        &filter.flow,
                        &status,
                        &filter.before,
                        &limit,
                    ],
                )?
                .iter()
                .map(decode_execution)
                .collect()
        })
    }

    fn prune_executions(&self, before: DateTime<Utc>) -> Result<usize> {
        self.pool.run(move |client| {
            let mut tx = client.transaction()?;
            let row = tx.query_one(
                "WITH gone AS (
                   DELETE FROM executions WHERE finished AND finished_at < $1 RETURNING id
                 ), steps AS (
                   DELETE FROM execution_steps WHERE execution IN (SELECT id FROM gone)
                 ), keys AS (
                   DELETE FROM execution_keys WHERE execution IN (SELECT id FROM gone)
                 ), state AS (
                   DELETE FROM state WHERE tag = 'e' AND owner IN (SELECT id FROM gone)
                 ), usage AS (
                   DELETE FROM state_usage WHERE tag = 'e' AND owner IN (SELECT id FROM gone)
                 )
                 SELECT count(*) FROM gone",
                &[&before],
            )?;
            tx.execute("DELETE FROM result_tokens WHERE expires <= now()", &[])?;
            tx.commit()?;
            Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
    }

    fn answered(&self, ids: &[String]) -> Result<Vec<String>> {
        let ids = ids.to_vec();
        self.pool.try_run(move |client| {
            let mut answered = Vec::new();
            for row in client.query(
                "SELECT id, record FROM executions WHERE id = ANY($1)",
                &[&ids],
            )? {
                let record = decode_execution(&row)?;
                if news(&record) != (false, false) {
                    answered.push(record.id);
                }
            }
            Ok(answered)
        })
    }

    fn put_result_token(
        &self,
        hash: &[u8; 32],
        execution: &str,
        expires: DateTime<Utc>,
    ) -> Result<()> {
        let (hash, execution) = (hash.to_vec(), execution.to_owned());
        self.pool.run(move |client| {
            client.execute(
                "INSERT INTO result_tokens (hash, execution, expires) VALUES ($1, $2, $3)
                 ON CONFLICT (hash) DO UPDATE SET execution = $2, expires = $3",
                &[&hash, &execution, &expires],
            )?;
            Ok(())
        })
    }

    fn find_result_token(&self, hash: &[u8; 32], now: DateTime<Utc>) -> Result<Option<String>> {
        let hash = hash.to_vec();
        self.pool.run(move |client| {
            let Some(row) = client.query_opt(
                "SELECT execution, expires FROM result_tokens WHERE hash = $1",
                &[&hash],
            )?
            else {
                return Ok(None);
            };
            if row.get::<_, DateTime<Utc>>(1) <= now {
                client.execute("DELETE FROM result_tokens WHERE hash = $1", &[&hash])?;
                return Ok(None);
            }
            Ok(Some(row.get(0)))
        })
    }
}

fn decode_schedules(rows: &[postgres::Row]) -> Result<Vec<ScheduleEntry>, Failure> {
    rows.iter()
        .map(|row| decode_row("schedule", row.get(0), row.get(1)))
        .collect()
}

impl ScheduleStore for PostgresStore {
    fn set_schedule(&self, entry: &ScheduleEntry) -> Result<()> {
        let value = encode(entry)?;
        let entry = entry.clone();
        self.pool.run(move |client| {
            client.execute(
                "INSERT INTO schedules (instance, flow, due, record) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (instance, flow) DO UPDATE SET due = $3, record = $4",
                &[&entry.instance, &entry.flow, &entry.due, &value],
            )?;
            Ok(())
        })
    }

    fn get_schedule(&self, instance: &str, flow: &str) -> Result<Option<ScheduleEntry>> {
        let (instance, flow) = (instance.to_owned(), flow.to_owned());
        self.pool.try_run(move |client| {
            Ok(decode_schedules(&client.query(
                "SELECT instance, record FROM schedules WHERE instance = $1 AND flow = $2",
                &[&instance, &flow],
            )?)?
            .pop())
        })
    }

    fn remove_schedule(&self, instance: &str, flow: &str) -> Result<bool> {
        let (instance, flow) = (instance.to_owned(), flow.to_owned());
        self.pool.run(move |client| {
            Ok(client.execute(
                "DELETE FROM schedules WHERE instance = $1 AND flow = $2",
                &[&instance, &flow],
            )? > 0)
        })
    }

    fn first_schedule(&self) -> Result<Option<ScheduleEntry>> {
        self.pool.try_run(|client| {
            Ok(decode_schedules(&client.query(
                "SELECT instance, record FROM schedules ORDER BY due, instance, flow LIMIT 1",
                &[],
            )?)?
            .pop())
        })
    }

    fn list_schedules(&self) -> Result<Vec<ScheduleEntry>> {
        self.pool.try_run(|client| {
            decode_schedules(&client.query(
                "SELECT instance, record FROM schedules ORDER BY due, instance, flow",
                &[],
            )?)
        })
    }
}
