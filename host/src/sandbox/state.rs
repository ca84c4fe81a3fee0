//! The key-value state components reach through the `state` import, as a
//! trait so the sandbox does not depend on where state lives (sled in the
//! server, memory in `weft component call`).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Which state a key lives in, resolved from the step's context.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StateScope {
    /// One execution's state.
    Execution {
        /// The execution id.
        execution: String,
    },
    /// One flow of one instance.
    Flow {
        /// The instance id.
        instance: String,
        /// The flow name.
        flow: String,
    },
    /// One instance (shared by its flows).
    Instance {
        /// The instance id.
        instance: String,
    },
}

/// A failure of the state backend (not the guest's fault).
#[derive(Debug, thiserror::Error)]
#[error("state storage failed: {0}")]
pub struct StateError(pub String);

/// Storage behind the `state` import. Values are JSON text, already
/// validated and size-checked by the sandbox.
pub trait StateStore: Send + Sync {
    /// The value under `key`.
    fn get(&self, scope: &StateScope, key: &str) -> Result<Option<String>, StateError>;
    /// Stores `value` under `key`.
    fn set(&self, scope: &StateScope, key: &str, value: &str) -> Result<(), StateError>;
    /// Removes `key`.
    fn delete(&self, scope: &StateScope, key: &str) -> Result<(), StateError>;
    /// Keys starting with `prefix`, sorted.
    fn keys(&self, scope: &StateScope, prefix: &str) -> Result<Vec<String>, StateError>;
}

/// State kept in memory, for local runs.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    entries: Mutex<BTreeMap<(StateScope, String), String>>,
}

impl MemoryStateStore {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<(StateScope, String), String>> {
        // A panic while holding the lock cannot leave the map half-written.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl StateStore for MemoryStateStore {
    fn get(&self, scope: &StateScope, key: &str) -> Result<Option<String>, StateError> {
        Ok(self
            .entries()
            .get(&(scope.clone(), key.to_owned()))
            .cloned())
    }

    fn set(&self, scope: &StateScope, key: &str, value: &str) -> Result<(), StateError> {
        self.entries()
            .insert((scope.clone(), key.to_owned()), value.to_owned());
        Ok(())
    }

    fn delete(&self, scope: &StateScope, key: &str) -> Result<(), StateError> {
        self.entries().remove(&(scope.clone(), key.to_owned()));
        Ok(())
    }

    fn keys(&self, scope: &StateScope, prefix: &str) -> Result<Vec<String>, StateError> {
        Ok(self
            .entries()
            .keys()
            .filter(|(s, k)| s == scope && k.starts_with(prefix))
            .map(|(_, k)| k.clone())
            .collect())
    }
}
