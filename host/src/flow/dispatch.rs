//! Fair dispatch of queued executions to workers: tenants take turns, and
//! no tenant runs more than its cap at once, so one tenant's flood waits in
//! its own queue instead of taking every worker.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

/// An execution handed to a worker; give it back with [`Dispatcher::done`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Owning tenant.
    pub tenant: String,
    /// Execution id.
    pub execution: String,
}

#[derive(Debug, Default)]
struct TenantQueue {
    queued: VecDeque<String>,
    running: usize,
}

#[derive(Debug, Default)]
struct Queues {
    tenants: HashMap<String, TenantQueue>,
    /// Tenants in turn order; a tenant is moved to the back when served.
    turns: VecDeque<String>,
    /// Places held by submits storing their execution
    /// ([`Dispatcher::try_reserve`]), by tenant.
    reserved: HashMap<String, usize>,
}

/// Per-tenant queues served round-robin under a per-tenant cap.
#[derive(Debug)]
pub struct Dispatcher {
    queues: Mutex<Queues>,
    ready: Notify,
    per_tenant: usize,
}

impl Dispatcher {
    /// A dispatcher letting each tenant run at most `per_tenant` executions
    /// at once (at least 1).
    pub fn new(per_tenant: usize) -> Self {
        Self {
            queues: Mutex::new(Queues::default()),
            ready: Notify::new(),
            per_tenant: per_tenant.max(1),
        }
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds a place in `tenant`'s queue unless it already has `limit`
    /// executions queued (or places held); `false` when it is full. Turn
    /// the place into an execution with [`Dispatcher::push_reserved`] or
    /// give it back with [`Dispatcher::release`].
    pub fn try_reserve(&self, tenant: &str, limit: usize) -> bool {
        let mut queues = self.queues();
        let queued = queues.tenants.get(tenant).map_or(0, |q| q.queued.len());
        let reserved = queues.reserved.entry(tenant.to_owned()).or_default();
        if queued + *reserved >= limit {
            if *reserved == 0 {
                queues.reserved.remove(tenant);
            }
            return false;
        }
        *reserved += 1;
        true
    }

    /// Gives back a place held by [`Dispatcher::try_reserve`].
    pub fn release(&self, tenant: &str) {
        let mut queues = self.queues();
        if let Some(reserved) = queues.reserved.get_mut(tenant) {
            *reserved = reserved.saturating_sub(1);
            if *reserved == 0 {
                queues.reserved.remove(tenant);
            }
        }
    }

    /// Queues an execution in a place held by [`Dispatcher::try_reserve`].
    pub fn push_reserved(&self, tenant: &str, execution: &str) {
        self.release(tenant);
        self.push(tenant, execution);
    }

    /// Executions of `tenant` waiting for a worker.
    pub fn queued(&self, tenant: &str) -> usize {
        self.queues()
            .tenants
            .get(tenant)
            .map_or(0, |q| q.queued.len())
    }

    /// Queues an execution of `tenant`.
    pub fn push(&self, tenant: &str, execution: &str) {
        let mut queues = self.queues();
        let Queues { tenants, turns, .. } = &mut *queues;
        let queue = tenants.entry(tenant.to_owned()).or_insert_with(|| {
            turns.push_back(tenant.to_owned());
            TenantQueue::default()
        });
        queue.queued.push_back(execution.to_owned());
        drop(queues);
        self.ready.notify_one();
    }

    /// The next execution any worker may run, waiting until there is one.
    pub async fn next(&self) -> Ticket {
        loop {
            let notified = self.ready.notified();
            if let Some(ticket) = self.try_next() {
                // Another item may be runnable too: pass the wake-up on.
                self.ready.notify_one();
                return ticket;
            }
            notified.await;
        }
    }

    /// The next runnable execution, if any: the first tenant in turn order
    /// with work queued and room under its cap.
    pub fn try_next(&self) -> Option<Ticket> {
        let mut queues = self.queues();
        let Queues { tenants, turns, .. } = &mut *queues;
        let position = turns.iter().position(|tenant| {
            tenants
                .get(tenant)
                .is_some_and(|q| !q.queued.is_empty() && q.running < self.per_tenant)
        })?;
        let tenant = turns.remove(position)?;
        let queue = tenants.get_mut(&tenant)?;
        let execution = queue.queued.pop_front()?;
        queue.running += 1;
        turns.push_back(tenant.clone());
        Some(Ticket { tenant, execution })
    }

    /// A worker finished `ticket`'s execution.
    pub fn done(&self, ticket: &Ticket) {
        let mut queues = self.queues();
        let Queues { tenants, turns, .. } = &mut *queues;
        if let Some(queue) = tenants.get_mut(&ticket.tenant) {
            queue.running = queue.running.saturating_sub(1);
            if queue.running == 0 && queue.queued.is_empty() {
                tenants.remove(&ticket.tenant);
                turns.retain(|t| t != &ticket.tenant);
            }
        }
        drop(queues);
        self.ready.notify_one();
    }

    /// Executions waiting for a worker.
    pub fn depth(&self) -> usize {
        self.queues().tenants.values().map(|q| q.queued.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_take_turns_under_their_cap() {
        let d = Dispatcher::new(1);
        for i in 0..3 {
            d.push("a", &format!("a{i}"));
        }
        d.push("b", "b0");
        let first = d.try_next().unwrap();
        assert_eq!(first.execution, "a0");
        let second = d.try_next().unwrap();
        assert_eq!(second.execution, "b0", "b is not stuck behind a's queue");
        assert!(d.try_next().is_none(), "a is at its cap");
        d.done(&first);
        assert_eq!(d.try_next().unwrap().execution, "a1");
        assert_eq!(d.depth(), 1);
    }

    #[test]
    fn a_full_queue_refuses_places_until_one_leaves() {
        let d = Dispatcher::new(1);
        assert!(d.try_reserve("a", 2));
        d.push_reserved("a", "a0");
        assert!(d.try_reserve("a", 2));
        assert!(!d.try_reserve("a", 2), "one queued and one place held");
        assert!(d.try_reserve("b", 2), "other tenants have their own bound");
        d.release("a");
        assert!(d.try_reserve("a", 2));
        d.push_reserved("a", "a1");
        assert!(!d.try_reserve("a", 2));
        let running = d.try_next().unwrap();
        assert_eq!(d.queued("a"), 1, "a running execution is not queued");
        assert!(d.try_reserve("a", 2));
        d.done(&running);
    }

    #[tokio::test]
    async fn next_waits_for_work() {
        let d = std::sync::Arc::new(Dispatcher::new(2));
        let waiter = tokio::spawn({
            let d = d.clone();
            async move { d.next().await }
        });
        d.push("t", "x");
        assert_eq!(waiter.await.unwrap().execution, "x");
    }
}
