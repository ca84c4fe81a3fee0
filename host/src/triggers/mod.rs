//! Triggers: what starts executions besides the API. They start them
//! through the submit port ([`crate::submit::Submit`]), never through the
//! engine or the server; `node.rs` hands them the engine as that port.
//!
//! - [`hooks`]: the public webhook endpoints `/hooks/{instance}/{flow}` and
//!   `/hooks/{instance}` (preprocess), sync and async, with HMAC
//!   signatures, idempotency keys and callbacks ([`callback`]); the
//!   trigger owns its router and state ([`HookState`]), its error type
//!   ([`HookError`], which also maps the submit port's errors to HTTP for
//!   the API) and its OpenAPI part ([`HookApi`]); the server merges them;
//! - [`lifecycle`]: deploy and teardown flows, submitted for the instances
//!   (their `Lifecycle` port) and their ends passed back;
//! - [`start`]: what a caller starting an execution over HTTP sends and
//!   gets back (`Idempotency-Key`, `X-Weft-Callback`, the 202), shared with
//!   the API's run, replay, enable and disable routes;
//! - [`results`]: result URLs (`/hooks/results/{token}`) for sync webhook
//!   callers whose flow outlived its timeout;
//! - [`scheduler`]: cron schedules of active instances, one task sleeping
//!   until the earliest due time.

pub mod callback;
pub mod error;
pub mod lifecycle;
pub(crate) mod preprocess;
pub mod request;
pub mod respond;
pub mod results;
pub mod scheduler;
pub mod signature;
pub mod start;
pub mod webhooks;

pub use callback::{Callbacks, loggable_url};
pub use error::{ErrorReport, HookError};
pub use lifecycle::{FlowLifecycle, LifecycleEnds, LifecycleFinishes, lifecycle_finishes};
pub use scheduler::Scheduler;
pub use webhooks::{HookApi, HookState};
