//! Triggers: what starts executions besides the API.
//!
//! - [`hooks`]: the public webhook endpoints `/hooks/{instance}/{flow}` and
//!   `/hooks/{instance}` (preprocess), sync and async, with HMAC
//!   signatures, idempotency keys and callbacks ([`callback`]);
//! - [`start`]: what a caller starting an execution over HTTP sends and
//!   gets back (`Idempotency-Key`, `X-Weft-Callback`, the 202), shared with
//!   the API's run, replay, enable and disable routes;
//! - [`scheduler`]: cron schedules of active instances, one task sleeping
//!   until the earliest due time.

pub mod callback;
pub mod hooks;
pub(crate) mod preprocess;
pub mod request;
pub mod respond;
pub mod scheduler;
pub mod signature;
pub mod start;

pub use callback::{Callbacks, loggable_url};
pub use scheduler::Scheduler;

use std::sync::Arc;

use crate::flow::FlowEngine;
use crate::instances::Instances;
use crate::sandbox::OutboundConfig;
use crate::storage::Storage;

/// Wires the triggers into a server being built: callbacks on `engine`,
/// the scheduler as `instances`' listener. Start the returned scheduler
/// with [`Scheduler::start`] once the engine runs.
pub fn install(
    store: &Arc<dyn Storage>,
    instances: &mut Instances,
    engine: &Arc<FlowEngine>,
    outbound: &OutboundConfig,
) -> Arc<Scheduler> {
    engine.add_finish_listener(Arc::new(Callbacks::new(store.clone(), outbound.clone())));
    let scheduler = Scheduler::new(store.clone(), instances.clone(), engine.clone());
    instances.set_listener(scheduler.clone());
    scheduler
}
