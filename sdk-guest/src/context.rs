//! Where a step runs: the `step-context` the host hands to every call.

/// Identifies the step being run. `Context::default()` gives an empty one for
/// unit tests of action functions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context {
    /// The execution (one run of one flow of one instance), a UUIDv7.
    pub execution_id: String,
    /// The tenant that owns the instance.
    pub tenant: String,
    /// The instance (an integration deployed for one tenant).
    pub instance: String,
    /// The flow being run.
    pub flow: String,
    /// The step id within the flow.
    pub step: String,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u32,
    /// Stable across retries of this step of this execution: send it upstream
    /// (e.g. as an `Idempotency-Key` header) to make the step effectively-once.
    pub idempotency_key: String,
}

impl From<crate::wit::StepContext> for Context {
    fn from(ctx: crate::wit::StepContext) -> Self {
        Self {
            execution_id: ctx.execution_id,
            tenant: ctx.tenant,
            instance: ctx.instance,
            flow: ctx.flow,
            step: ctx.step,
            attempt: ctx.attempt,
            idempotency_key: ctx.idempotency_key,
        }
    }
}
