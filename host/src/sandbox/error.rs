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
    InvalidOutput(#[serde(with = "message_field")] String),
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
    Host(#[serde(with = "message_field")] String),
}

/// Longest message (and wasm backtrace) of a [`StepError`] the host keeps,
/// in bytes; the rest is cut with a `… [N bytes cut]` marker. A guest's
/// error text is recorded on the execution (twice: message and detail) and
/// printed by the CLI, so it must not be as large as the guest likes.
pub const MAX_ERROR_MESSAGE: usize = 16 * 1024;

impl StepError {
    /// The same error with every guest-influenced text cut to
    /// [`MAX_ERROR_MESSAGE`].
    pub fn bounded(self) -> Self {
        let cut = |text: String| super::logbook::cut(text, MAX_ERROR_MESSAGE);
        match self {
            Self::Guest { kind, message } => Self::Guest {
                kind,
                message: cut(message),
            },
            Self::InvalidOutput(message) => Self::InvalidOutput(cut(message)),
            Self::Trap { message, backtrace } => Self::Trap {
                message: cut(message),
                backtrace: backtrace.map(cut),
            },
            Self::Host(message) => Self::Host(cut(message)),
            other => other,
        }
    }

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

    /// What a flow branches on (`steps.<id>.error.kind`): the guest's
    /// `invalid-input`, `upstream` or `fatal`, else the host's reason
    /// (`out-of-fuel`, `deadline`, `memory`, `trap`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Guest { kind, .. } => kind.as_str(),
            Self::OutOfFuel { .. } => "out-of-fuel",
            Self::Deadline { .. } => "deadline",
            Self::MemoryLimit { .. } => "memory",
            Self::TableLimit { .. } => "table-limit",
            Self::ResourceLimit { .. } => "resource-limit",
            Self::LogLimit { .. } => "log-limit",
            Self::StackOverflow { .. } => "stack-overflow",
            Self::HostcallLimit { .. } => "hostcall-limit",
            Self::OutputTooLarge { .. } => "output-too-large",
            Self::InvalidOutput(_) => "invalid-output",
            Self::Trap { .. } => "trap",
            Self::Host(_) => "host",
        }
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

/// Serde adapter for the one-string variants of [`StepError`]: an
/// internally tagged enum cannot hold a bare string (serde refuses with
/// "cannot serialize tagged newtype variant"), so the string is written as
/// `{"kind": "host", "message": "…"}` like the struct variants.
mod message_field {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct Ref<'a> {
        message: &'a str,
    }

    #[derive(Deserialize)]
    struct Owned {
        message: String,
    }

    /// Writes `{"message": text}`.
    pub fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        Ref { message: text }.serialize(s)
    }

    /// Reads `{"message": text}`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Owned::deserialize(d).map(|o| o.message)
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
    /// Too large to compile safely.
    #[error("{what} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// `component` or `function N`.
        what: String,
        /// Its size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// Too many functions to compile safely.
    #[error("component defines more than {limit} functions")]
    TooManyFunctions {
        /// The cap.
        limit: usize,
    },
    /// Compiling took longer than allowed.
    #[error("compiling took longer than {}", format_duration(*limit))]
    CompileTimeout {
        /// The deadline.
        limit: Duration,
    },
    /// A precompiled artifact does not fit this engine.
    #[error("precompiled artifact is incompatible with this engine: {0}")]
    Incompatible(String),
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::model::{StepFailure, StepRecord, StepStatus};
    use crate::storage::records::{decode, encode};

    /// One more than the largest index [`variant_index`] returns.
    const VARIANTS: usize = 13;

    /// A dense index per variant. Exhaustive on purpose: a new variant
    /// does not compile until it is added here and to [`sample`].
    fn variant_index(error: &StepError) -> usize {
        match error {
            StepError::Guest { .. } => 0,
            StepError::OutOfFuel { .. } => 1,
            StepError::Deadline { .. } => 2,
            StepError::MemoryLimit { .. } => 3,
            StepError::TableLimit { .. } => 4,
            StepError::ResourceLimit { .. } => 5,
            StepError::LogLimit { .. } => 6,
            StepError::StackOverflow { .. } => 7,
            StepError::HostcallLimit { .. } => 8,
            StepError::OutputTooLarge { .. } => 9,
            StepError::InvalidOutput(_) => 10,
            StepError::Trap { .. } => 11,
            StepError::Host(_) => 12,
        }
    }

    /// Text a hostile guest might produce: control characters, quotes,
    /// backslashes, NUL, multi-byte and astral characters, or nothing.
    fn text(rng: &mut StdRng) -> String {
        const PIECES: &[&str] = &[
            "",
            "a",
            " ",
            "\"",
            "\\",
            "\0",
            "\n",
            "\r\t",
            "\u{1}",
            "\u{7f}",
            "é",
            "€",
            "𝄞",
            "***",
            "{\"kind\":\"host\"}",
            "message",
            "\u{feff}",
            "\u{fffd}",
        ];
        let len = rng.random_range(0..40);
        (0..len)
            .map(|_| PIECES[rng.random_range(0..PIECES.len())])
            .collect()
    }

    fn size(rng: &mut StdRng) -> ByteSize {
        match rng.random_range(0..4) {
            0 => ByteSize(rng.random_range(0..2048)),
            1 => ByteSize::mib(rng.random_range(0..4096)),
            2 => ByteSize(rng.random()),
            _ => ByteSize(u64::MAX),
        }
    }

    fn sample(rng: &mut StdRng, index: usize) -> StepError {
        let kinds = [
            GuestErrorKind::InvalidInput,
            GuestErrorKind::Upstream,
            GuestErrorKind::Fatal,
        ];
        match index {
            0 => StepError::Guest {
                kind: kinds[rng.random_range(0..3)],
                message: text(rng),
            },
            1 => StepError::OutOfFuel {
                budget: rng.random(),
            },
            2 => StepError::Deadline {
                limit: Duration::new(
                    rng.random_range(0..10 * 366 * 86_400),
                    rng.random_range(0..1_000_000_000),
                ),
            },
            3 => StepError::MemoryLimit { limit: size(rng) },
            4 => StepError::TableLimit {
                limit: rng.random(),
            },
            5 => StepError::ResourceLimit {
                limit: rng.random(),
            },
            6 => StepError::LogLimit { limit: size(rng) },
            7 => StepError::StackOverflow { limit: size(rng) },
            8 => StepError::HostcallLimit { limit: size(rng) },
            9 => StepError::OutputTooLarge {
                size: size(rng),
                limit: size(rng),
            },
            10 => StepError::InvalidOutput(text(rng)),
            11 => StepError::Trap {
                message: text(rng),
                backtrace: rng.random_bool(0.5).then(|| text(rng)),
            },
            12 => StepError::Host(text(rng)),
            other => unreachable!("no variant {other}"),
        }
    }

    fn record(error: StepError) -> StepRecord {
        StepRecord {
            path: "s".into(),
            step: "s".into(),
            kind: "action".into(),
            component: Some("c@1.0.0".into()),
            action: Some("run".into()),
            status: StepStatus::Failed,
            input: None,
            output: None,
            error: Some(StepFailure::from_step_error(error, None)),
            logs: Vec::new(),
            attempts: 1,
            duration: Duration::from_millis(3),
            fuel_used: 7,
            peak_memory: 65536,
            started_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            sealed_output: None,
        }
    }

    /// Every variant, with many random field values, survives the step
    /// record's storage encoding unchanged (a variant that failed to
    /// encode used to lose the failed step's whole record).
    #[test]
    fn every_step_error_round_trips_through_the_record_encoding() {
        let mut seen = [0usize; VARIANTS];
        for seed in 0..300u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            for index in 0..VARIANTS {
                let error = sample(&mut rng, index);
                seen[variant_index(&error)] += 1;
                let step = record(error.clone());
                let bytes = encode(&step).unwrap_or_else(|e| panic!("{error:?}: {e}"));
                let back: StepRecord = decode("step", b"k", &bytes).unwrap_or_else(|e| {
                    panic!("{error:?} from {}: {e}", String::from_utf8_lossy(&bytes))
                });
                assert_eq!(back, step, "{}", String::from_utf8_lossy(&bytes));
                let detail = back.error.and_then(|f| f.detail);
                assert_eq!(detail.as_deref(), Some(&error));
                assert_eq!(detail.map(|d| d.to_string()), Some(error.to_string()));
            }
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    }

    #[test]
    fn guest_texts_are_cut_to_the_cap() {
        let huge = "\u{1}".repeat(MAX_ERROR_MESSAGE * 4);
        let error = StepError::Guest {
            kind: GuestErrorKind::Fatal,
            message: huge.clone(),
        }
        .bounded();
        let text = error.to_string();
        assert!(text.len() < MAX_ERROR_MESSAGE + 64, "{}", text.len());
        assert!(text.ends_with(&format!("[{} bytes cut]", MAX_ERROR_MESSAGE * 3)));
        let trap = StepError::Trap {
            message: huge.clone(),
            backtrace: Some(huge),
        }
        .bounded();
        let StepError::Trap { message, backtrace } = trap else {
            unreachable!()
        };
        assert!(message.len() < MAX_ERROR_MESSAGE + 64);
        assert!(backtrace.unwrap().len() < MAX_ERROR_MESSAGE + 64);
    }

    #[test]
    fn one_string_variants_are_tagged_objects() {
        let json = serde_json::to_value(StepError::Host("disk full".into())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "host", "message": "disk full"})
        );
        let json = serde_json::to_value(StepError::InvalidOutput("eof".into())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "invalid_output", "message": "eof"})
        );
    }
}
