//! Typed failures of the sandbox.
//!
//! The WIT boundary has two levels and this module keeps them apart:
//! a *guest error* is a `step-error` the component returned on purpose
//! (`invalid-input`, `upstream`, `fatal`); every other [`StepError`] is the
//! host stopping the guest (a trap, an exhausted limit) or the host itself
//! failing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::units::{ByteSize, format_duration};

/// The category of a guest-reported error, as in the WIT `step-error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuestErrorKind {
    /// The input does not fit the action.
    InvalidInput,
    /// A third party failed; retryable.
    Upstream,
    /// Anything else that retrying will not fix.
    Fatal,
}

impl GuestErrorKind {
    /// The WIT name: `invalid-input`, `upstream` or `fatal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid-input",
            Self::Upstream => "upstream",
            Self::Fatal => "fatal",
        }
    }
}

/// Why a step attempt failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepError {
    /// The component returned a `step-error`.
    #[error("{} error: {message}", kind.as_str())]
    Guest {
        /// Which `step-error` case.
        #[serde(rename = "guest_kind")]
        kind: GuestErrorKind,
        /// The component's message.
        message: String,
    },
    /// The fuel budget ran out.
    #[error("out of fuel after {budget} units")]
    OutOfFuel {
        /// The budget that was exhausted.
        budget: u64,
    },
    /// The wall-clock deadline passed (in guest code or a host call).
    #[error("deadline {} exceeded", format_duration(*limit))]
    Deadline {
        /// The deadline.
        #[serde(with = "crate::units::duration_serde")]
        limit: Duration,
    },
    /// A linear memory tried to grow past the cap.
    #[error("memory limit {limit} exceeded")]
    MemoryLimit {
        /// The cap.
        limit: ByteSize,
    },
    /// A table tried to grow past the cap.
    #[error("table limit {limit} elements exceeded")]
    TableLimit {
        /// The cap.
        limit: u32,
    },
    /// The guest held too many resource handles.
    #[error("resource limit {limit} handles exceeded")]
    ResourceLimit {
        /// The cap.
        limit: u32,
    },
    /// The guest logged more than allowed.
    #[error("log limit {limit} exceeded")]
    LogLimit {
        /// The cap.
        limit: ByteSize,
    },
    /// The wasm stack overflowed (usually unbounded recursion).
    #[error("stack overflow (wasm stack limit {limit})")]
    StackOverflow {
        /// The stack size.
        limit: ByteSize,
    },
    /// More data than allowed crossed the boundary in one call.
    #[error("more than {limit} copied between guest and host in one call")]
    HostcallLimit {
        /// The cap.
        limit: ByteSize,
    },
    /// The output exceeded the output cap.
    #[error("output of {size} exceeds the {limit} limit")]
    OutputTooLarge {
        /// The output's size.
        size: ByteSize,
        /// The cap.
        limit: ByteSize,
    },
    /// The output was not JSON.
    #[error("component returned invalid json: {0}")]
    InvalidOutput(String),
    /// The guest trapped (a panic, `unreachable`, a bad memory access).
    #[error("guest trapped: {message}")]
    Trap {
        /// What trapped, with the guest's panic message when it printed one.
        message: String,
        /// The wasm backtrace, innermost frame first.
        backtrace: Option<String>,
    },
    /// The host failed (storage, a bug); not the guest's fault.
    #[error("host error: {0}")]
    Host(String),
}

impl StepError {
    /// Whether retrying the step may succeed: guest `upstream` errors and
    /// deadlines; never bad input, fatal errors or exhausted CPU/memory.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Guest {
                kind: GuestErrorKind::Upstream,
                ..
            } | Self::Deadline { .. }
        )
    }

    /// A short stable code for metrics and JSON (`out_of_fuel`, `guest`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Guest { .. } => "guest",
            Self::OutOfFuel { .. } => "out_of_fuel",
            Self::Deadline { .. } => "deadline",
            Self::MemoryLimit { .. } => "memory_limit",
            Self::TableLimit { .. } => "table_limit",
            Self::ResourceLimit { .. } => "resource_limit",
            Self::LogLimit { .. } => "log_limit",
            Self::StackOverflow { .. } => "stack_overflow",
            Self::HostcallLimit { .. } => "hostcall_limit",
            Self::OutputTooLarge { .. } => "output_too_large",
            Self::InvalidOutput(_) => "invalid_output",
            Self::Trap { .. } => "trap",
            Self::Host(_) => "host",
        }
    }
}

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not WebAssembly at all.
    #[error("not a WebAssembly file (it does not start with the \\0asm magic bytes)")]
    NotWasm,
    /// A core module instead of a component.
    #[error("is a core WebAssembly module, not a component; build it for the wasm32-wasip2 target")]
    CoreModule,
    /// Malformed or failed to compile.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// Imports something Weft does not provide.
    #[error(
        "imports {0}, which weft does not provide (components may import weft:connector/log, weft:connector/state, wasi:http and wasi:cli/clocks/random/io)"
    )]
    UnsatisfiedImport(String),
    /// Does not export `describe` and `run` of the `weft:connector` world.
    #[error("is not a component of world weft:connector@0.1.0: {0}")]
    WrongWorld(String),
    /// `describe()` failed or reported nonsense.
    #[error("describe() failed: {0}")]
    Describe(String),
    /// A precompiled artifact does not fit this engine.
    #[error("precompiled artifact is incompatible with this engine: {0}")]
    Incompatible(String),
}
