//! One queue claim in PostgreSQL, as one transaction (see the
//! [queue docs](super::queue) for why it holds the caps across nodes):
//!
//! 1. lock the tenants that have a claimable waiting entry and room under
//!    the per-tenant cap, `FOR UPDATE SKIP LOCKED` on their `queue_tenants`
//!    row (a tenant another claim holds is skipped, not waited for),
//!    ordered as sled orders (a claimable sync entry first, then the
//!    fewest live leases, then the oldest entry), at most `max` of them;
//! 2. for each, count its live leases (a new statement: it sees every claim
//!    that committed before the lock was granted) and read the heads of
//!    its groups of entries (same instance, flow and bounds) from the
//!    `queue_by_group` index: at most the room left under the per-tenant
//!    cap and the flow's `limit` per group, nothing of a group at its limit
//!    or of a `fifo` pair holding a lease, and only the oldest entry of a
//!    `fifo` pair; then take them in `(lane, execution)` order, counting
//!    the limits over the live leases plus what this claim took;
//! 3. share `max` among the locked tenants by sled's rule and write the
//!    leases.
//!
//! When nothing was claimable among the tenants it could lock but a
//! tenant with claimable work was skipped (another node's claim held it),
//! the claim waits for that one tenant with a plain `FOR UPDATE` in a
//! fresh transaction (holding no other lock, so two claims never wait on
//! each other) rather than come back empty and let its node sleep a poll
//! interval.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use postgres::Transaction;
use postgres::error::SqlState;

use crate::storage::queue::{ClaimRequest, QueueEntry};

use super::decode_row;
use super::pool::Failure;

/// How long a claim waits for a tenant another claim holds before it
/// gives up (and comes back empty).
const LOCK_WAIT: &str = "2s";

/// What a claim needs from its request, owned (it runs on a connection
/// thread).
#[derive(Clone, Debug)]
pub(super) struct Claim {
    pub node: String,
    pub now: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub per_tenant: i64,
    pub max: usize,
}

impl Claim {
    pub(super) fn new(request: &ClaimRequest<'_>) -> Self {
        Self {
            node: request.node.to_owned(),
            now: request.now,
            until: request.lease_until,
            per_tenant: i64::try_from(request.per_tenant.max(1)).unwrap_or(i64::MAX),
            max: request.max,
        }
    }
}

/// The tenants with a claimable waiting entry (due, and this node's or
/// nobody's) and fewer live leases than the cap, in claim order, not in
/// `$3`; `FOR UPDATE … SKIP LOCKED` is appended where the tenants are
/// locked. Only tenants with entries are looked at (found by skipping
/// through the `queue_by_tenant` index, one probe per tenant), however
/// many have a row in `queue_tenants`.
const TENANTS: &str = "
WITH RECURSIVE queued AS (
    (SELECT tenant FROM queue ORDER BY tenant LIMIT 1)
  UNION ALL
    SELECT n.tenant FROM queued
    CROSS JOIN LATERAL (
        SELECT q.tenant FROM queue q WHERE q.tenant > queued.tenant
        ORDER BY q.tenant LIMIT 1) n
)
SELECT t.tenant FROM queued
JOIN queue_tenants t ON t.tenant = queued.tenant
CROSS JOIN LATERAL (
    SELECT q.lane, q.execution FROM queue q
    WHERE q.tenant = t.tenant
      AND (q.lease_until IS NULL OR q.lease_until <= $1)
      AND (q.not_before IS NULL OR q.not_before <= $1)
      AND (q.home_node IS NULL OR q.home_node = $2 OR q.home_until <= $1)
    ORDER BY q.lane, q.execution LIMIT 1) first
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM queue l
    WHERE l.tenant = t.tenant AND l.lease_until > $1) live
WHERE NOT (t.tenant = ANY($3)) AND live.n < $4
ORDER BY first.lane, live.n, first.execution
LIMIT $5";

/// Up to `$4` claimable entries of each group of tenant `$1`'s entries
/// that share instance, flow, `fifo` and `flow_limit` (found by skipping
/// through the `queue_by_group` index, one probe per group), with the live
/// leases of their instance and flow. A group at its limit, or a fifo
/// group with a live lease, is not read at all; a fifo group offers only
/// the oldest entry of its instance and flow.
const CANDIDATES: &str = "
WITH RECURSIVE grp AS (
    (SELECT instance, flow, fifo, flow_limit FROM queue
     WHERE tenant = $1 ORDER BY instance, flow, fifo, flow_limit LIMIT 1)
  UNION ALL
    SELECT n.instance, n.flow, n.fifo, n.flow_limit FROM grp
    CROSS JOIN LATERAL (
        SELECT q.instance, q.flow, q.fifo, q.flow_limit FROM queue q
        WHERE q.tenant = $1
          AND (q.instance, q.flow, q.fifo, q.flow_limit)
            > (grp.instance, grp.flow, grp.fifo, grp.flow_limit)
        ORDER BY q.instance, q.flow, q.fifo, q.flow_limit LIMIT 1) n
)
SELECT c.execution, c.lane, grp.instance, grp.flow, grp.flow_limit, grp.fifo, live.n
FROM grp
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM queue l
    WHERE l.instance = grp.instance AND l.flow = grp.flow AND l.lease_until > $2) live
CROSS JOIN LATERAL (
    (SELECT q.execution, q.lane FROM queue q
     WHERE NOT grp.fifo
       AND q.tenant = $1 AND q.instance = grp.instance AND q.flow = grp.flow
       AND q.fifo = grp.fifo AND q.flow_limit = grp.flow_limit
       AND (q.lease_until IS NULL OR q.lease_until <= $2)
       AND (q.not_before IS NULL OR q.not_before <= $2)
       AND (q.home_node IS NULL OR q.home_node = $3 OR q.home_until <= $2)
     ORDER BY q.lane, q.execution
     LIMIT greatest(0, least($4, grp.flow_limit - live.n)))
  UNION ALL
    SELECT q.execution, q.lane FROM queue q
    WHERE grp.fifo AND live.n = 0
      AND q.execution = (
        SELECT min(o.execution) FROM queue o
        WHERE o.instance = grp.instance AND o.flow = grp.flow)
      AND q.fifo
      AND (q.lease_until IS NULL OR q.lease_until <= $2)
      AND (q.not_before IS NULL OR q.not_before <= $2)
      AND (q.home_node IS NULL OR q.home_node = $3 OR q.home_until <= $2)) c";

/// A claimable entry a tenant's group offers.
struct Offer {
    execution: String,
    lane: i16,
    /// Instance and flow.
    pair: (String, String),
    /// The flow's limit (`i64::MAX`: none).
    limit: i64,
    fifo: bool,
    /// Live leases of the instance and flow.
    live: i64,
}

/// A waiting entry chosen for a tenant.
struct Pick {
    lane: i16,
    execution: String,
}

/// Runs `claim` on `client`: the entries leased, in the order chosen.
pub(super) fn run(
    client: &mut postgres::Client,
    claim: &Claim,
) -> Result<Vec<QueueEntry>, Failure> {
    if claim.max == 0 {
        return Ok(Vec::new());
    }
    let mut tx = client.transaction()?;
    let mut tried: Vec<String> = Vec::new();
    let mut claimed = Vec::new();
    while claimed.len() < claim.max {
        let want = claim.max - claimed.len();
        let locked = tenants(&mut tx, claim, &tried, want, " FOR UPDATE OF t SKIP LOCKED")?;
        if locked.is_empty() {
            break;
        }
        tried.extend(locked.iter().cloned());
        claimed.extend(claim_from(&mut tx, claim, &locked, want)?);
    }
    if !claimed.is_empty() {
        tx.commit()?;
        return Ok(claimed);
    }
    // Another claim holds the tenant(s) with work: wait for one.
    let Some(busy) = tenants(&mut tx, claim, &tried, 1, "")?.pop() else {
        tx.commit()?;
        return Ok(claimed);
    };
    tx.rollback()?;
    let mut tx = client.transaction()?;
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'"))?;
    let locked = tx.query_opt(
        "SELECT tenant FROM queue_tenants WHERE tenant = $1 FOR UPDATE",
        &[&busy],
    );
    match locked {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(Vec::new()),
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    }
    let claimed = claim_from(&mut tx, claim, &[busy], claim.max)?;
    tx.commit()?;
    Ok(claimed)
}

/// Up to `limit` tenants with claimable work, not in `tried`, in claim
/// order (`lock`: the locking clause, or none to only look).
fn tenants(
    tx: &mut Transaction<'_>,
    claim: &Claim,
    tried: &[String],
    limit: usize,
    lock: &str,
) -> Result<Vec<String>, postgres::Error> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(tx
        .query(
            &format!("{TENANTS}{lock}"),
            &[&claim.now, &claim.node, &tried, &claim.per_tenant, &limit],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// Chooses up to `want` entries among the `locked` tenants and leases
/// them.
fn claim_from(
    tx: &mut Transaction<'_>,
    claim: &Claim,
    locked: &[String],
    want: usize,
) -> Result<Vec<QueueEntry>, Failure> {
    // Per tenant: its live leases and its candidates, in order.
    let mut lists = Vec::new();
    for tenant in locked {
        let live: i64 = tx
            .query_one(
                "SELECT count(*) FROM queue WHERE tenant = $1 AND lease_until > $2",
                &[tenant, &claim.now],
            )?
            .get(0);
        let room = usize::try_from(claim.per_tenant - live)
            .unwrap_or(0)
            .min(want);
        if room > 0 {
            let picks = candidates(tx, claim, tenant, room)?;
            lists.push((live, picks.into_iter().peekable()));
        }
    }
    // Sled's rule: the next entry is the head with the smallest (lane,
    // live leases of its tenant, execution).
    let mut order = Vec::new();
    while order.len() < want {
        let best = lists
            .iter_mut()
            .enumerate()
            .filter_map(|(n, (live, picks))| {
                picks
                    .peek()
                    .map(|p| ((p.lane, *live, p.execution.clone()), n))
            })
            .min();
        let Some((_, n)) = best else { break };
        let (live, picks) = &mut lists[n];
        if let Some(pick) = picks.next() {
            *live += 1;
            order.push(pick.execution);
        }
    }
    if order.is_empty() {
        return Ok(Vec::new());
    }
    let rows = tx.query(
        "UPDATE queue SET lease_node = $2, lease_until = $3
         WHERE execution = ANY($1) AND (lease_until IS NULL OR lease_until <= $4)
         RETURNING execution, record",
        &[&order, &claim.node, &claim.until, &claim.now],
    )?;
    let mut leased = Vec::with_capacity(rows.len());
    for row in &rows {
        let entry: QueueEntry = decode_row("queue entry", row.get(0), row.get(1))?;
        leased.push(entry);
    }
    leased.sort_by_key(|e| order.iter().position(|id| *id == e.execution));
    Ok(leased)
}

/// Up to `want` claimable entries of `tenant`, in the order sled would
/// take them, keeping the flows' limits (counted over the live leases and
/// the entries taken before in this claim).
fn candidates(
    tx: &mut Transaction<'_>,
    claim: &Claim,
    tenant: &str,
    want: usize,
) -> Result<Vec<Pick>, postgres::Error> {
    let k = i64::try_from(want).unwrap_or(i64::MAX);
    let rows = tx.query(CANDIDATES, &[&tenant, &claim.now, &claim.node, &k])?;
    let mut offered: Vec<Offer> = rows
        .iter()
        .map(|row| Offer {
            execution: row.get(0),
            lane: row.get(1),
            pair: (row.get(2), row.get(3)),
            limit: row.get(4),
            fifo: row.get(5),
            live: row.get(6),
        })
        .collect();
    offered.sort_by(|a, b| (a.lane, &a.execution).cmp(&(b.lane, &b.execution)));
    let mut taken: HashMap<(String, String), i64> = HashMap::new();
    let mut picks = Vec::new();
    for offer in offered {
        let count = taken.entry(offer.pair).or_default();
        let room = if offer.fifo {
            *count == 0
        } else {
            offer.live + *count < offer.limit
        };
        if room {
            *count += 1;
            picks.push(Pick {
                lane: offer.lane,
                execution: offer.execution,
            });
            if picks.len() == want {
                break;
            }
        }
    }
    Ok(picks)
}
