//! The durable queue of executions waiting for a worker, as a storage
//! trait ([`Queue`]): every new execution is stored together with its
//! [`QueueEntry`] (see [`ExecutionStore::create_execution`]), workers
//! [`claim`](Queue::claim) entries under a lease, [`renew`](Queue::renew)
//! it while they run, and [`ack`](Queue::ack) (the execution ended) or
//! [`release`](Queue::release) (run it again, not before a time) it.
//!
//! The caps are applied by the store at claim time, from what it knows is
//! running (live leases), so that several nodes claiming from one store
//! keep them together: at most [`ClaimRequest::per_tenant`] live leases per
//! tenant, at most [`QueueEntry::limit`] per instance and flow, and for a
//! [`QueueEntry::fifo`] flow strictly one at a time in arrival order.
//! Among the claimable entries, sync executions (someone waits for the
//! answer) come first, then the tenant with the fewest live leases, then
//! the oldest entry, so tenants share the workers fairly.
//!
//! A lease whose expiry has passed is stale: its entry is claimable again
//! (the node holding it died or stopped renewing). The sled implementation
//! keeps leases in memory only: one process opens a sled store, so every
//! lease found at open belonged to a dead process.
//!
//! [`ExecutionStore::create_execution`]: super::ExecutionStore::create_execution

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Result;

/// Which executions are claimed first.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// A caller waits for the answer (sync webhooks, preprocess flows):
    /// claimed before the async ones, within the same caps.
    Sync,
    /// Nobody waits (the default).
    #[default]
    Async,
}

/// One execution waiting for (or held by) a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// The execution id (UUIDv7: entries sort in arrival order by it).
    pub execution: String,
    /// Owning tenant (for the per-tenant cap and fairness).
    pub tenant: String,
    /// Instance id.
    pub instance: String,
    /// Flow name.
    pub flow: String,
    /// Sync executions are claimed first.
    #[serde(default)]
    pub lane: Lane,
    /// At most this many executions of the same instance and flow hold a
    /// lease at once (`None`: no bound; a flow's `concurrency` limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Claimed strictly in arrival order within its instance and flow: only
    /// the oldest entry of the pair is claimable, and only while none of
    /// the pair holds a lease (a `sequential` flow; an older entry waiting
    /// for its `not_before` holds the younger ones back).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fifo: bool,
    /// Not claimable before this time (a flow-level retry's delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// Only this node may claim the entry until the time given: a sync
    /// execution runs on the node whose caller waits for its answer (the
    /// answer lives in that node's memory), and another node takes it only
    /// once the receiving node had time to and did not (it died).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<(String, DateTime<Utc>)>,
}

impl QueueEntry {
    /// An entry for `execution`, async, without bounds or delay.
    pub fn new(execution: &str, tenant: &str, instance: &str, flow: &str) -> Self {
        Self {
            execution: execution.to_owned(),
            tenant: tenant.to_owned(),
            instance: instance.to_owned(),
            flow: flow.to_owned(),
            lane: Lane::Async,
            limit: None,
            fifo: false,
            not_before: None,
            home: None,
        }
    }
}

/// What a node asks for when it claims.
#[derive(Clone, Debug)]
pub struct ClaimRequest<'a> {
    /// The claiming node (its leases are renewed, acked and released
    /// under this id).
    pub node: &'a str,
    /// The current time: leases that expired by then are stale, entries
    /// whose `not_before` is later are not claimable.
    pub now: DateTime<Utc>,
    /// Expiry of the leases taken.
    pub lease_until: DateTime<Utc>,
    /// Most live leases one tenant may hold across all nodes (at least 1).
    pub per_tenant: usize,
    /// Most entries to claim.
    pub max: usize,
}

/// The durable queue (see the [module docs](self)).
pub trait Queue: Send + Sync {
    /// Adds `entry` (or replaces the one for the same execution, dropping
    /// its lease). New executions are queued with
    /// [`ExecutionStore::create_execution`](super::ExecutionStore::create_execution)
    /// instead, in one write with their record; this is for an execution
    /// that goes back to the queue (an operator's retry). Durable after
    /// [`Storage::durable`](super::Storage::durable).
    fn enqueue(&self, entry: &QueueEntry) -> Result<()>;

    /// Leases up to `request.max` claimable entries to `request.node` until
    /// `request.lease_until`, under the caps (see the [module docs](self));
    /// returns them in the order they were chosen.
    fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<QueueEntry>>;

    /// Extends `node`'s leases of `executions` to `until`; returns the
    /// executions whose lease `node` no longer holds (gone, or claimed by
    /// another node after it expired).
    fn renew(&self, node: &str, executions: &[String], until: DateTime<Utc>)
    -> Result<Vec<String>>;

    /// Removes the entry of an execution that ended, if `node` holds its
    /// lease; `false` (and nothing changes) otherwise.
    fn ack(&self, node: &str, execution: &str) -> Result<bool>;

    /// Gives `node`'s lease of `execution` back so the entry can be claimed
    /// again, not before `not_before` (which is durable, unlike leases);
    /// `false` (and nothing changes) if `node` does not hold it.
    fn release(
        &self,
        node: &str,
        execution: &str,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<bool>;

    /// Entries of `tenant` that hold no live lease (waiting, also for a
    /// `not_before`).
    fn queued(&self, tenant: &str) -> Result<usize>;

    /// [`Queue::queued`] for one lane: the sync lane has a bound of its
    /// own, so an async backlog never refuses a caller who waits.
    fn queued_in(&self, tenant: &str, lane: Lane) -> Result<usize>;

    /// Entries of every tenant that hold no live lease.
    fn depth(&self) -> Result<usize>;
}

/// The behaviour every [`Queue`] implementation must have, as functions
/// over the trait so that each backend's tests run the same cases.
#[doc(hidden)]
pub mod contract {
    use chrono::{Duration, Utc};

    use super::{ClaimRequest, Lane, Queue, QueueEntry};

    fn entry(id: &str, tenant: &str) -> QueueEntry {
        QueueEntry::new(id, tenant, &format!("{tenant}-i"), "f")
    }

    fn request(node: &str, per_tenant: usize, max: usize) -> ClaimRequest<'_> {
        let now = Utc::now();
        ClaimRequest {
            node,
            now,
            lease_until: now + Duration::days(1),
            per_tenant,
            max,
        }
    }

    fn ids(entries: &[QueueEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.execution.as_str()).collect()
    }

    /// Claims lease entries once; ack removes them, release returns them.
    pub fn claim_ack_release(queue: &dyn Queue) {
        for id in ["q1-a", "q1-b", "q1-c"] {
            queue.enqueue(&entry(id, "t1")).unwrap();
        }
        assert_eq!(queue.queued("t1").unwrap(), 3);
        let first = queue.claim(&request("n1", 10, 2)).unwrap();
        assert_eq!(ids(&first), ["q1-a", "q1-b"], "oldest first");
        assert_eq!(queue.queued("t1").unwrap(), 1);
        let second = queue.claim(&request("n2", 10, 10)).unwrap();
        assert_eq!(
            ids(&second),
            ["q1-c"],
            "a leased entry is not claimed twice"
        );
        assert!(queue.claim(&request("n2", 10, 10)).unwrap().is_empty());
        assert!(!queue.ack("n2", "q1-a").unwrap(), "n2 does not hold q1-a");
        assert!(queue.ack("n1", "q1-a").unwrap());
        assert!(!queue.ack("n1", "q1-a").unwrap(), "already gone");
        assert!(queue.release("n1", "q1-b", None).unwrap());
        assert_eq!(queue.queued("t1").unwrap(), 1);
        let again = queue.claim(&request("n2", 10, 10)).unwrap();
        assert_eq!(ids(&again), ["q1-b"]);
        assert!(queue.ack("n2", "q1-b").unwrap());
        assert!(queue.ack("n2", "q1-c").unwrap());
        assert_eq!(queue.depth().unwrap(), 0);
    }

    /// An expired lease makes its entry claimable by another node; the old
    /// holder can no longer renew, ack or release it.
    pub fn expired_leases_are_reclaimed(queue: &dyn Queue) {
        queue.enqueue(&entry("q2-a", "t2")).unwrap();
        let now = Utc::now();
        let short = ClaimRequest {
            lease_until: now + Duration::milliseconds(50),
            ..request("n1", 10, 10)
        };
        assert_eq!(ids(&queue.claim(&short).unwrap()), ["q2-a"]);
        let before_expiry = ClaimRequest {
            now: now + Duration::milliseconds(10),
            ..request("n2", 10, 10)
        };
        assert!(queue.claim(&before_expiry).unwrap().is_empty());
        let lost = queue
            .renew("n1", &["q2-a".to_owned()], now + Duration::seconds(1))
            .unwrap();
        assert!(lost.is_empty(), "n1 still holds it: {lost:?}");
        let after_expiry = ClaimRequest {
            now: now + Duration::seconds(2),
            lease_until: now + Duration::seconds(60),
            ..request("n2", 10, 10)
        };
        assert_eq!(ids(&queue.claim(&after_expiry).unwrap()), ["q2-a"]);
        let lost = queue
            .renew("n1", &["q2-a".to_owned()], now + Duration::seconds(90))
            .unwrap();
        assert_eq!(lost, ["q2-a"]);
        assert!(!queue.ack("n1", "q2-a").unwrap());
        assert!(!queue.release("n1", "q2-a", None).unwrap());
        assert!(queue.ack("n2", "q2-a").unwrap());
    }

    /// An entry with a home node is claimed only by that node until its
    /// time is up, then by any node.
    pub fn home_node_claims_first(queue: &dyn Queue) {
        let until = Utc::now() + Duration::seconds(60);
        queue
            .enqueue(&QueueEntry {
                home: Some(("n1".to_owned(), until)),
                ..entry("q6-a", "t6")
            })
            .unwrap();
        assert!(
            queue.claim(&request("n2", 10, 10)).unwrap().is_empty(),
            "another node waits while the home node may still claim it"
        );
        assert_eq!(ids(&queue.claim(&request("n1", 10, 10)).unwrap()), ["q6-a"]);
        assert!(queue.release("n1", "q6-a", None).unwrap());
        let later = ClaimRequest {
            now: until + Duration::seconds(1),
            lease_until: until + Duration::seconds(31),
            ..request("n2", 10, 10)
        };
        assert_eq!(
            ids(&queue.claim(&later).unwrap()),
            ["q6-a"],
            "the home node's time is up"
        );
        assert!(queue.ack("n2", "q6-a").unwrap());
    }

    /// A released entry waits for its `not_before`.
    pub fn release_waits_for_not_before(queue: &dyn Queue) {
        queue.enqueue(&entry("q3-a", "t3")).unwrap();
        assert_eq!(queue.claim(&request("n1", 10, 10)).unwrap().len(), 1);
        let later = Utc::now() + Duration::seconds(60);
        assert!(queue.release("n1", "q3-a", Some(later)).unwrap());
        assert!(queue.claim(&request("n1", 10, 10)).unwrap().is_empty());
        assert_eq!(queue.queued("t3").unwrap(), 1, "it is still queued");
        let due = ClaimRequest {
            now: later + Duration::seconds(1),
            lease_until: later + Duration::seconds(31),
            ..request("n1", 10, 10)
        };
        let claimed = queue.claim(&due).unwrap();
        assert_eq!(ids(&claimed), ["q3-a"]);
        assert_eq!(claimed[0].not_before, Some(later));
        assert!(queue.ack("n1", "q3-a").unwrap());
    }

    /// Tenants take turns under their cap; sync entries go first.
    pub fn tenants_share_and_sync_goes_first(queue: &dyn Queue) {
        for i in 0..3 {
            queue.enqueue(&entry(&format!("q4-a{i}"), "t4a")).unwrap();
        }
        queue.enqueue(&entry("q4-b0", "t4b")).unwrap();
        let claimed = queue.claim(&request("n1", 1, 10)).unwrap();
        assert_eq!(ids(&claimed), ["q4-a0", "q4-b0"], "one each under cap 1");
        assert!(queue.ack("n1", "q4-a0").unwrap());
        let mut sync = entry("q4-a3", "t4a");
        sync.lane = Lane::Sync;
        queue.enqueue(&sync).unwrap();
        let claimed = queue.claim(&request("n1", 1, 10)).unwrap();
        assert_eq!(ids(&claimed), ["q4-a3"], "the sync entry overtakes a1, a2");
        for id in ["q4-a3", "q4-b0"] {
            assert!(queue.ack("n1", id).unwrap());
        }
        let claimed = queue.claim(&request("n1", 4, 10)).unwrap();
        assert_eq!(ids(&claimed), ["q4-a1", "q4-a2"]);
        for id in ["q4-a1", "q4-a2"] {
            assert!(queue.ack("n1", id).unwrap());
        }
    }

    /// A flow's limit caps its instance's leases; a fifo flow runs one at
    /// a time in arrival order, even across a delayed retry, without
    /// holding back other instances.
    pub fn flow_limits_and_fifo(queue: &dyn Queue) {
        let in_flow = |id: &str, instance: &str, limit: u32, fifo: bool| QueueEntry {
            limit: Some(limit),
            fifo,
            ..QueueEntry::new(id, "t5", instance, "sync-orders")
        };
        for id in ["q5-t0", "q5-t1", "q5-t2"] {
            queue
                .enqueue(&in_flow(id, "i-throttled", 2, false))
                .unwrap();
        }
        for id in ["q5-s0", "q5-s1"] {
            queue.enqueue(&in_flow(id, "i-seq", 1, true)).unwrap();
        }
        queue
            .enqueue(&in_flow("q5-o0", "i-other", 1, true))
            .unwrap();
        let claimed = queue.claim(&request("n1", 100, 100)).unwrap();
        assert_eq!(ids(&claimed), ["q5-o0", "q5-s0", "q5-t0", "q5-t1"]);
        assert!(queue.ack("n1", "q5-t0").unwrap());
        let later = Utc::now() + Duration::seconds(60);
        assert!(queue.release("n1", "q5-s0", Some(later)).unwrap());
        let claimed = queue.claim(&request("n1", 100, 100)).unwrap();
        assert_eq!(ids(&claimed), ["q5-t2"], "s1 waits behind s0's retry");
        // The leases taken above last a day: still live then.
        let due = ClaimRequest {
            now: later + Duration::seconds(1),
            lease_until: later + Duration::days(1),
            ..request("n1", 100, 100)
        };
        assert_eq!(ids(&queue.claim(&due).unwrap()), ["q5-s0"]);
        assert!(queue.ack("n1", "q5-s0").unwrap());
        assert_eq!(ids(&queue.claim(&due).unwrap()), ["q5-s1"]);
        for id in ["q5-t1", "q5-t2", "q5-s1", "q5-o0"] {
            assert!(queue.ack("n1", id).unwrap());
        }
    }

    /// Nodes claiming at once (one thread each) never hold more than the
    /// per-tenant cap of one tenant, nor more than a flow's limit, never
    /// lease one entry twice, and between them claim every entry.
    pub fn claims_hold_caps_under_contention(queue: &dyn Queue) {
        use std::collections::{HashMap, HashSet};
        use std::sync::Mutex;
        use std::time::{Duration as Wait, Instant};

        const CAP: usize = 2;
        const LIMITED: usize = 1;
        let tenants = ["c7a", "c7b", "c7c"];
        let mut total = 0;
        for tenant in tenants {
            for n in 0..12 {
                let mut entry = entry(&format!("q7-{tenant}-{n:02}"), tenant);
                if tenant == "c7a" && n % 2 == 0 {
                    entry.instance = "c7a-limited".into();
                    entry.limit = Some(LIMITED as u32);
                }
                queue.enqueue(&entry).unwrap();
                total += 1;
            }
        }
        // What the nodes hold, by what they have been told: counted up
        // after a claim returns and down before the ack, so these never
        // exceed what the store holds.
        #[derive(Default)]
        struct Held {
            ids: HashSet<String>,
            by_tenant: HashMap<String, usize>,
            limited: usize,
            acked: usize,
        }
        let held = Mutex::new(Held::default());
        let deadline = Instant::now() + Wait::from_secs(60);
        std::thread::scope(|s| {
            for n in 0..4 {
                let held = &held;
                s.spawn(move || {
                    let node = format!("c7-n{n}");
                    // A node keeps what it claimed through its next claim,
                    // so claims run while leases are live.
                    let mut holding: Vec<QueueEntry> = Vec::new();
                    loop {
                        if held.lock().unwrap().acked == total {
                            return;
                        }
                        assert!(Instant::now() < deadline, "entries left unclaimed");
                        let claimed = queue.claim(&request(&node, CAP, 3)).unwrap();
                        {
                            let mut h = held.lock().unwrap();
                            for e in &claimed {
                                assert!(h.ids.insert(e.execution.clone()), "{} twice", e.execution);
                                let count = h.by_tenant.entry(e.tenant.clone()).or_default();
                                *count += 1;
                                assert!(*count <= CAP, "{} over its cap", e.tenant);
                                if e.instance == "c7a-limited" {
                                    h.limited += 1;
                                    assert!(h.limited <= LIMITED, "over the flow limit");
                                }
                            }
                        }
                        for e in std::mem::replace(&mut holding, claimed) {
                            {
                                let mut h = held.lock().unwrap();
                                h.ids.remove(&e.execution);
                                *h.by_tenant.entry(e.tenant.clone()).or_default() -= 1;
                                if e.instance == "c7a-limited" {
                                    h.limited -= 1;
                                }
                            }
                            assert!(queue.ack(&node, &e.execution).unwrap(), "{e:?}");
                            held.lock().unwrap().acked += 1;
                        }
                    }
                });
            }
        });
        assert_eq!(held.lock().unwrap().acked, total);
        assert_eq!(queue.depth().unwrap(), 0);
    }

    /// Waiting entries are counted per lane as well as together.
    pub fn lanes_are_counted_apart(queue: &dyn Queue) {
        for id in ["q8-a1", "q8-a2", "q8-a3"] {
            queue.enqueue(&entry(id, "t8")).unwrap();
        }
        let mut sync = entry("q8-s0", "t8");
        sync.lane = Lane::Sync;
        queue.enqueue(&sync).unwrap();
        assert_eq!(queue.queued("t8").unwrap(), 4);
        assert_eq!(queue.queued_in("t8", Lane::Sync).unwrap(), 1);
        assert_eq!(queue.queued_in("t8", Lane::Async).unwrap(), 3);
        assert_eq!(queue.queued_in("t8-other", Lane::Async).unwrap(), 0);
        let claimed = queue.claim(&request("n1", 10, 1)).unwrap();
        assert_eq!(ids(&claimed), ["q8-s0"], "sync first");
        assert_eq!(queue.queued_in("t8", Lane::Sync).unwrap(), 0, "leased");
        let rest = queue.claim(&request("n1", 10, 10)).unwrap();
        assert_eq!(ids(&rest), ["q8-a1", "q8-a2", "q8-a3"]);
        for id in ["q8-s0", "q8-a1", "q8-a2", "q8-a3"] {
            assert!(queue.ack("n1", id).unwrap());
        }
        assert_eq!(queue.queued("t8").unwrap(), 0);
    }
}
