//! Named leases ([`Leases`]): a job that must run on one node at a time
//! (the scheduler) holds the lease of its name while it works, renews it
//! well before it expires, and another node takes it over once it has
//! expired (its holder died or lost the store).
//!
//! Expiry compares the callers' clocks: nodes sharing a store need clocks
//! that agree to well within a lease (NTP). The sled implementation keeps
//! leases in memory: one process opens a sled store, so there is nobody to
//! share them with across restarts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Result, SledStore};

/// Named leases (see the [module docs](self)).
pub trait Leases: Send + Sync {
    /// Takes the lease `name` for `holder` until `until` when it is free or
    /// expired at `now`, or extends it when `holder` holds it; `false`
    /// (and nothing changes) while another holder's lease is live.
    fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// The leases of a sled store, in memory.
#[derive(Debug, Default)]
pub(super) struct MemoryLeases(std::sync::Mutex<HashMap<String, (String, DateTime<Utc>)>>);

impl Leases for SledStore {
    fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut leases = self.leases.0.lock().unwrap_or_else(|e| e.into_inner());
        let free = leases
            .get(name)
            .is_none_or(|(current, expiry)| current == holder || *expiry <= now);
        if free {
            leases.insert(name.to_owned(), (holder.to_owned(), until));
        }
        Ok(free)
    }
}

/// The behaviour every [`Leases`] implementation must have (run against
/// each backend by the storage contract tests).
#[doc(hidden)]
pub mod contract {
    use chrono::{Duration, Utc};

    use super::Leases;

    /// One holder at a time; the holder renews; another takes over once
    /// the lease expired, and the old holder is refused from then on.
    pub fn one_holder_renewal_and_takeover(leases: &dyn Leases) {
        let now = Utc::now();
        let s = Duration::seconds;
        assert!(leases.try_acquire("job", "n1", now + s(5), now).unwrap());
        assert!(
            !leases
                .try_acquire("job", "n2", now + s(6), now + s(1))
                .unwrap(),
            "n1 holds it"
        );
        assert!(
            leases.try_acquire("other", "n2", now + s(5), now).unwrap(),
            "another name is another lease"
        );
        assert!(
            leases
                .try_acquire("job", "n1", now + s(9), now + s(4))
                .unwrap(),
            "the holder renews"
        );
        assert!(
            !leases
                .try_acquire("job", "n2", now + s(12), now + s(7))
                .unwrap(),
            "renewed: still n1's"
        );
        assert!(
            leases
                .try_acquire("job", "n2", now + s(15), now + s(10))
                .unwrap(),
            "expired: n2 takes over"
        );
        assert!(
            !leases
                .try_acquire("job", "n1", now + s(16), now + s(11))
                .unwrap(),
            "the old holder is refused"
        );
        assert!(
            leases
                .try_acquire("job", "n2", now + s(20), now + s(12))
                .unwrap()
        );
    }

    /// Of several nodes trying at once, exactly one gets a free lease.
    pub fn one_of_many_acquires(leases: &dyn Leases) {
        let now = Utc::now();
        let until = now + Duration::seconds(5);
        let granted: usize = std::thread::scope(|s| {
            let tries: Vec<_> = (0..6)
                .map(|n| {
                    s.spawn(move || {
                        leases
                            .try_acquire("race", &format!("n{n}"), until, now)
                            .unwrap()
                    })
                })
                .collect();
            tries
                .into_iter()
                .map(|t| usize::from(t.join().unwrap()))
                .sum()
        });
        assert_eq!(granted, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_store(case: fn(&dyn Leases)) {
        let dir = std::env::temp_dir().join(format!("weft-leases-{}", uuid::Uuid::now_v7()));
        let store = SledStore::open(&dir).unwrap();
        case(&store);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn one_holder_renewal_and_takeover() {
        with_store(contract::one_holder_renewal_and_takeover);
    }

    #[test]
    fn one_of_many_acquires() {
        with_store(contract::one_of_many_acquires);
    }
}
