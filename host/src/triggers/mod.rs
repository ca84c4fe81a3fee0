//! Triggers: what starts executions besides the API. They start them
//! through the submit port ([`crate::queue::Submit`]), never through the
//! engine itself; `node.rs` hands them the engine as that port.
//!
//! - [`hooks`]: the public webhook endpoints `/hooks/{instance}/{flow}` and
//!   `/hooks/{instance}` (preprocess), sync and async, with HMAC
//!   signatures, idempotency keys and callbacks ([`callback`]);
//! - [`start`]: what a caller starting an execution over HTTP sends and
//!   gets back (`Idempotency-Key`, `X-Weft-Callback`, the 202), shared with
//!   the API's run, replay, enable and disable routes;
//! - [`results`]: result URLs (`/hooks/results/{token}`) for sync webhook
//!   callers whose flow outlived its timeout;
//! - [`scheduler`]: cron schedules of active instances, one task sleeping
//!   until the earliest due time.

pub mod callback;
pub mod hooks;
pub mod lifecycle;
pub(crate) mod preprocess;
pub mod request;
pub mod respond;
pub mod results;
pub mod scheduler;
pub mod signature;
pub mod start;

pub use callback::{Callbacks, loggable_url};
pub use lifecycle::{FlowLifecycle, LifecycleEnds, LifecycleFinishes, lifecycle_finishes};
pub use scheduler::Scheduler;
