//! Typed key-value state kept by the host between steps and executions (the
//! world's `state` import).
//!
//! Values are stored as JSON, so any `Serialize` goes in and any
//! `Deserialize` comes out:
//!
//! ```no_run
//! use weft_sdk::state::{self, Scope};
//!
//! # fn main() -> Result<(), weft_sdk::Error> {
//! let since: Option<String> = state::get(Scope::Flow, "since")?;
//! state::set(Scope::Flow, "since", "2025-01-01T00:00:00Z")?;
//! state::set(Scope::Instance, "webhook-ids", &vec![17, 42])?;
//! for key in state::keys(Scope::Instance, "webhook-") {
//!     state::delete(Scope::Instance, &key);
//! }
//! # let _ = since;
//! # Ok(())
//! # }
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::wit::weft::connector::state as wit;

/// Who sees a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The steps of one execution.
    Execution,
    /// Every execution of one flow of one instance (e.g. a sync cursor).
    Flow,
    /// Every flow of one instance (e.g. webhook ids a deploy flow registers
    /// and its teardown flow deletes).
    Instance,
}

impl Scope {
    fn wit(self) -> wit::Scope {
        match self {
            Self::Execution => wit::Scope::Execution,
            Self::Flow => wit::Scope::Flow,
            Self::Instance => wit::Scope::Instance,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Execution => "execution",
            Self::Flow => "flow",
            Self::Instance => "instance",
        })
    }
}

/// The value stored under `key`, or `None` if there is none.
///
/// Fails (fatal) if the stored JSON does not deserialise into `T`.
pub fn get<T: DeserializeOwned>(scope: Scope, key: &str) -> Result<Option<T>, Error> {
    let Some(json) = wit::get(scope.wit(), key) else {
        return Ok(None);
    };
    serde_json::from_str(&json).map(Some).map_err(|e| {
        Error::fatal(format!(
            "{scope} state '{key}' does not hold the expected type: {e}"
        ))
    })
}

/// Stores `value` under `key`, replacing any previous value.
///
/// Fails (fatal) if `value` cannot be serialised or the host refuses it, e.g.
/// because it exceeds the host's size limits.
pub fn set<T: Serialize + ?Sized>(scope: Scope, key: &str, value: &T) -> Result<(), Error> {
    let json = serde_json::to_string(value)
        .map_err(|e| Error::fatal(format!("cannot serialise {scope} state '{key}': {e}")))?;
    wit::set(scope.wit(), key, &json)
        .map_err(|e| Error::fatal(format!("cannot store {scope} state '{key}': {e}")))
}

/// Removes `key`; removing a missing key is not an error.
pub fn delete(scope: Scope, key: &str) {
    wit::delete(scope.wit(), key);
}

/// The keys in `scope` that start with `prefix` (`""` for all), sorted.
pub fn keys(scope: Scope, prefix: &str) -> Vec<String> {
    wit::keys(scope.wit(), prefix)
}
