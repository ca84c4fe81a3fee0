//! Instance slots: how many steps may hold a component instance at once,
//! in all (the pool's size) and per tenant (its share), so that one
//! tenant's flood waits for its own share instead of taking the whole pool
//! and failing everyone else's steps. A step waits for its slots within
//! its own deadline; tokio's semaphores serve waiters in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Idle tenant entries kept before they are dropped from the map.
const IDLE_TENANTS_KEPT: usize = 1024;

/// The pool's slots, in all and per tenant.
#[derive(Debug)]
pub struct InstanceSlots {
    total: Arc<Semaphore>,
    per_tenant: usize,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Held while a step's instance lives; frees its slots when dropped.
#[derive(Debug)]
pub struct SlotPermit {
    _tenant: Option<OwnedSemaphorePermit>,
    _total: OwnedSemaphorePermit,
}

impl InstanceSlots {
    /// `total` slots, of which one tenant may hold `per_tenant` (both at
    /// least 1; the share at most the total).
    pub fn new(total: u32, per_tenant: u32) -> Self {
        let total = total.max(1) as usize;
        Self {
            total: Arc::new(Semaphore::new(total)),
            per_tenant: (per_tenant as usize).clamp(1, total),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// A tenant's share of the slots.
    pub fn per_tenant(&self) -> usize {
        self.per_tenant
    }

    fn tenant(&self, tenant: &str) -> Arc<Semaphore> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(semaphore) = tenants.get(tenant) {
            return semaphore.clone();
        }
        if tenants.len() >= IDLE_TENANTS_KEPT {
            // Drop tenants nobody holds or waits for.
            let share = self.per_tenant;
            tenants.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < share);
        }
        let semaphore = Arc::new(Semaphore::new(self.per_tenant));
        tenants.insert(tenant.to_owned(), semaphore.clone());
        semaphore
    }

    /// Waits until `tenant` (if any) has a slot of its share free and the
    /// pool has one, taking both; `None` if `deadline` passes first.
    pub async fn acquire(&self, tenant: Option<&str>, deadline: Instant) -> Option<SlotPermit> {
        // The tenant's own slot first, so a tenant over its share holds
        // none of the pool while it waits.
        let own = match tenant {
            Some(tenant) => {
                let semaphore = self.tenant(tenant);
                Some(
                    tokio::time::timeout_at(deadline, semaphore.acquire_owned())
                        .await
                        .ok()?
                        .ok()?,
                )
            }
            None => None,
        };
        let total = tokio::time::timeout_at(deadline, self.total.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        Some(SlotPermit {
            _tenant: own,
            _total: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_tenant_past_its_share_waits_while_others_run() {
        let slots = InstanceSlots::new(3, 2);
        let soon = || Instant::now() + Duration::from_millis(50);
        let a1 = slots.acquire(Some("a"), soon()).await.unwrap();
        let _a2 = slots.acquire(Some("a"), soon()).await.unwrap();
        assert!(
            slots.acquire(Some("a"), soon()).await.is_none(),
            "a's share is 2"
        );
        let b1 = slots.acquire(Some("b"), soon()).await.unwrap();
        assert!(
            slots.acquire(Some("b"), soon()).await.is_none(),
            "the pool of 3 is full"
        );
        drop(a1);
        assert!(slots.acquire(Some("b"), soon()).await.is_some());
        drop(b1);
    }

    #[tokio::test]
    async fn a_waiter_gets_the_slot_freed_within_its_deadline() {
        let slots = Arc::new(InstanceSlots::new(1, 1));
        let held = slots.acquire(Some("a"), Instant::now()).await.unwrap();
        let waiter = tokio::spawn({
            let slots = slots.clone();
            async move {
                slots
                    .acquire(Some("a"), Instant::now() + Duration::from_secs(10))
                    .await
                    .is_some()
            }
        });
        tokio::task::yield_now().await;
        drop(held);
        assert!(waiter.await.unwrap());
    }
}
