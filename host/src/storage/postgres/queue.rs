//! The execution [`Queue`] in PostgreSQL, shared by every node: one row
//! per waiting or running execution in `queue`, written in the
//! transaction that stores the execution, with the lease (`lease_node`,
//! `lease_until`) in the row, so a node that dies (`kill -9`) leaves
//! leases that expire and another node claims those executions again.
//! Besides the entry's record, the row holds what a claim chooses by
//! (instance, flow, lane, flow limit, fifo, `not_before`, home node and
//! until when), and every tenant that ever queued has a row in
//! `queue_tenants`.
//!
//! A claim ([`claim`](super::claim)) locks tenant rows with `FOR UPDATE
//! SKIP LOCKED` and decides each locked tenant's share while holding its
//! row: since only claims add leases, and claims of one tenant take turns
//! on its row, the per-tenant cap, the flows' `limit` and `fifo` (an
//! instance belongs to one tenant) hold exactly across nodes, while claims
//! for different tenants run side by side. A claim reads, per tenant it
//! locks, its live leases and its claimable entries in order from the
//! `(tenant, lane, execution)` index, never the whole queue. Renew, ack
//! and release are single statements (or one short transaction)
//! conditioned on the lease holder.

use chrono::{DateTime, Utc};

use crate::storage::Result;
use crate::storage::queue::Lane;
use crate::storage::queue::{ClaimRequest, Queue, QueueEntry};
use crate::storage::records::encode;

use super::claim::{self, Claim};
use super::pool::Failure;
use super::{PostgresStore, decode_row};

/// The `lane` column's value: sync entries sort first.
fn lane_column(lane: Lane) -> i16 {
    match lane {
        Lane::Sync => 0,
        Lane::Async => 1,
    }
}

/// Writes (or replaces, without lease) `entry` in `tx`, with its tenant's
/// row in `queue_tenants`.
pub(super) fn put_entry(
    tx: &mut postgres::Transaction<'_>,
    entry: &QueueEntry,
    value: &[u8],
) -> Result<(), postgres::Error> {
    let lane = lane_column(entry.lane);
    let limit = entry.limit.map_or(i64::MAX, i64::from);
    let (home_node, home_until) = match &entry.home {
        Some((node, until)) => (Some(node.as_str()), Some(*until)),
        None => (None, None),
    };
    tx.execute(
        "WITH tenant AS (
           INSERT INTO queue_tenants (tenant) VALUES ($2) ON CONFLICT DO NOTHING)
         INSERT INTO queue (execution, tenant, record, instance, flow, lane, flow_limit,
                            fifo, not_before, home_node, home_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (execution) DO UPDATE
           SET tenant = $2, record = $3, instance = $4, flow = $5, lane = $6,
               flow_limit = $7, fifo = $8, not_before = $9, home_node = $10,
               home_until = $11, lease_node = NULL, lease_until = NULL",
        &[
            &entry.execution,
            &entry.tenant,
            &value,
            &entry.instance,
            &entry.flow,
            &lane,
            &limit,
            &entry.fifo,
            &entry.not_before,
            &home_node,
            &home_until,
        ],
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
        let request = Claim::new(request);
        self.pool
            .try_run(move |client| claim::run(client, &request))
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
                "UPDATE queue SET record = $2, not_before = $3, lease_node = NULL,
                   lease_until = NULL
                 WHERE execution = $1",
                &[&id, &value, &not_before],
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

    fn queued_in(&self, tenant: &str, lane: Lane) -> Result<usize> {
        let (tenant, now, lane) = (tenant.to_owned(), Utc::now(), lane_column(lane));
        self.pool.run(move |client| {
            Ok(count(&client.query(
                "SELECT count(*) FROM queue
                 WHERE tenant = $1 AND lane = $2 AND (lease_until IS NULL OR lease_until <= $3)",
                &[&tenant, &lane, &now],
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
