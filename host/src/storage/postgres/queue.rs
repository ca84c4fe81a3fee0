//! The execution [`Queue`] in PostgreSQL, shared by every node: one row
//! per waiting or running execution in `queue`, written in the
//! transaction that stores the execution, with the lease (`lease_node`,
//! `lease_until`) in the row, so a node that dies (`kill -9`) leaves
//! leases that expire and another node claims those executions again.
//!
//! A claim is one transaction under an advisory lock: it reads the queue,
//! chooses with the same rules as sled's (the caps — per tenant, per flow
//! limit, fifo — need every live lease in view, which row locks with
//! `SKIP LOCKED` would hide), and writes the leases it took. Claims from
//! several nodes therefore take turns; renew, ack and release are single
//! statements conditioned on the lease holder.

use chrono::{DateTime, Utc};

use crate::storage::Result;
use crate::storage::queue::{ClaimRequest, Queue, QueueEntry};
use crate::storage::records::encode;
use crate::storage::sled_queue::QueueIndex;

use super::pool::Failure;
use super::{PostgresStore, decode_row};

/// The advisory lock key claims hold (`weftq` in ASCII).
const CLAIM_LOCK: i64 = 0x77_6566_7471;

/// Writes (or replaces, without lease) `entry` in `tx`.
pub(super) fn put_entry(
    tx: &mut postgres::Transaction<'_>,
    entry: &QueueEntry,
    value: &[u8],
) -> Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO queue (execution, tenant, record) VALUES ($1, $2, $3)
         ON CONFLICT (execution) DO UPDATE
           SET tenant = $2, record = $3, lease_node = NULL, lease_until = NULL",
        &[&entry.execution, &entry.tenant, &value],
    )?;
    Ok(())
}

fn count(rows: &[postgres::Row]) -> usize {
    rows.first()
        .map(|r| usize::try_from(r.get::<_, i64>(0)).unwrap_or(0))
        .unwrap_or(0)
}

impl Queue for PostgresStore {
    fn enqueue(&self, entry: &QueueEntry) -> Result<()> {
        let value = encode(entry)?;
        let entry = entry.clone();
        self.pool.run(move |client| {
            let mut tx = client.transaction()?;
            put_entry(&mut tx, &entry, &value)?;
            tx.commit()
        })
    }

    fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<QueueEntry>> {
        let node = request.node.to_owned();
        let (now, until) = (request.now, request.lease_until);
        let (per_tenant, max) = (request.per_tenant, request.max);
        self.pool.try_run(move |client| {
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLAIM_LOCK])?;
            let rows = tx.query(
                "SELECT execution, record, lease_node, lease_until FROM queue ORDER BY execution",
                &[],
            )?;
            let mut index = QueueIndex::default();
            for row in &rows {
                let entry: QueueEntry = decode_row("queue entry", row.get(0), row.get(1))?;
                let lease = match (row.get::<_, Option<String>>(2), row.get(3)) {
                    (Some(holder), Some(expiry)) => Some((holder, expiry)),
                    _ => None,
                };
                index.insert_leased(entry, lease);
            }
            let claimed = index.claim(&ClaimRequest {
                node: &node,
                now,
                lease_until: until,
                per_tenant,
                max,
            });
            for entry in &claimed {
                tx.execute(
                    "UPDATE queue SET lease_node = $2, lease_until = $3 WHERE execution = $1",
                    &[&entry.execution, &node, &until],
                )?;
            }
            tx.commit()?;
            Ok::<_, Failure>(claimed)
        })
    }

    fn renew(
        &self,
        node: &str,
        executions: &[String],
        until: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        if executions.is_empty() {
            return Ok(Vec::new());
        }
        let (node, ids) = (node.to_owned(), executions.to_vec());
        let kept: Vec<String> = self.pool.run(move |client| {
            Ok(client
                .query(
                    "UPDATE queue SET lease_until = $3
                     WHERE execution = ANY($1) AND lease_node = $2 RETURNING execution",
                    &[&ids, &node, &until],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })?;
        Ok(executions
            .iter()
            .filter(|id| !kept.contains(id))
            .cloned()
            .collect())
    }

    fn ack(&self, node: &str, execution: &str) -> Result<bool> {
        let (node, id) = (node.to_owned(), execution.to_owned());
        self.pool.run(move |client| {
            Ok(client.execute(
                "DELETE FROM queue WHERE execution = $1 AND lease_node = $2",
                &[&id, &node],
            )? == 1)
        })
    }

    fn release(
        &self,
        node: &str,
        execution: &str,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let (node, id) = (node.to_owned(), execution.to_owned());
        self.pool.try_run(move |client| {
            let mut tx = client.transaction()?;
            let Some(row) = tx.query_opt(
                "SELECT record FROM queue WHERE execution = $1 AND lease_node = $2 FOR UPDATE",
                &[&id, &node],
            )?
            else {
                return Ok(false);
            };
            let mut entry: QueueEntry = decode_row("queue entry", &id, row.get(0))?;
            entry.not_before = not_before;
            let value = encode(&entry).map_err(Failure::Storage)?;
            tx.execute(
                "UPDATE queue SET record = $2, lease_node = NULL, lease_until = NULL
                 WHERE execution = $1",
                &[&id, &value],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn queued(&self, tenant: &str) -> Result<usize> {
        let (tenant, now) = (tenant.to_owned(), Utc::now());
        self.pool.run(move |client| {
            Ok(count(&client.query(
                "SELECT count(*) FROM queue
                 WHERE tenant = $1 AND (lease_until IS NULL OR lease_until <= $2)",
                &[&tenant, &now],
            )?))
        })
    }

    fn depth(&self) -> Result<usize> {
        let now = Utc::now();
        self.pool.run(move |client| {
            Ok(count(&client.query(
                "SELECT count(*) FROM queue WHERE lease_until IS NULL OR lease_until <= $1",
                &[&now],
            )?))
        })
    }
}
