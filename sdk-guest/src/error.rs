//! The error an action returns, mirroring the world's `step-error` variant.

use std::fmt;

/// Why an action failed. The variant tells the host whether retrying can help.
///
/// A panic, a trap or an exhausted limit is not an `Error`: the host records
/// those itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input does not fit the action; retrying will not help.
    InvalidInput(String),
    /// A third party failed (timeout, 5xx, rate limit); the host may retry.
    Upstream(String),
    /// Anything else that retrying will not fix.
    Fatal(String),
}

impl Error {
    /// The input does not fit the action, e.g. `"qty must be positive"`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// A third party failed; the host may retry the step.
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::Upstream(message.into())
    }

    /// A failure that retrying will not fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::Fatal(message.into())
    }

    /// The message without the kind.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidInput(m) | Self::Upstream(m) | Self::Fatal(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::InvalidInput(_) => "invalid input",
            Self::Upstream(_) => "upstream",
            Self::Fatal(_) => "fatal",
        };
        write!(f, "{kind}: {}", self.message())
    }
}

impl std::error::Error for Error {}

/// Malformed or mistyped JSON is invalid input; an I/O failure while
/// (de)serialising is fatal.
impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        if error.is_io() {
            Self::fatal(error.to_string())
        } else {
            Self::invalid_input(error.to_string())
        }
    }
}

impl From<Error> for crate::wit::StepError {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidInput(m) => Self::InvalidInput(m),
            Error::Upstream(m) => Self::Upstream(m),
            Error::Fatal(m) => Self::Fatal(m),
        }
    }
}
