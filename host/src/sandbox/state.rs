//! The key-value state components reach through the `state` import, as a
//! trait so the sandbox does not depend on where state lives (sled in the
//! server, memory in `weft component call` and `weft run`).
//!
//! Every backend enforces the same per-scope totals ([`ScopeQuota`]: bytes
//! of keys plus values, and number of keys) atomically with the write, so
//! concurrent steps cannot overfill a scope between a check and a write.

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

impl StateScope {
    /// The WIT name of the scope: `execution`, `flow` or `instance`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Execution { .. } => "execution",
            Self::Flow { .. } => "flow",
            Self::Instance { .. } => "instance",
        }
    }
}

/// A failure of the state backend (not the guest's fault).
#[derive(Debug, thiserror::Error)]
#[error("state storage failed: {0}")]
pub struct StateError(pub String);

/// The most one scope may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeQuota {
    /// Bytes of keys plus values.
    pub bytes: u64,
    /// Number of keys.
    pub keys: u64,
}

impl ScopeQuota {
    /// No limit (for tests and tools).
    pub const UNLIMITED: Self = Self {
        bytes: u64::MAX,
        keys: u64::MAX,
    };
}

/// What one scope holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScopeUsage {
    /// Bytes of keys plus values.
    pub bytes: u64,
    /// Number of keys.
    pub keys: u64,
}

impl ScopeUsage {
    /// The usage after replacing `old` (the value's length, if present)
    /// with `new` under a key of `key_len` bytes, or why the quota refuses.
    pub fn after_set(
        self,
        scope: &StateScope,
        key_len: usize,
        old: Option<usize>,
        new: usize,
        quota: ScopeQuota,
    ) -> Result<Self, String> {
        let (key_len, new) = (key_len as u64, new as u64);
        let (bytes, keys) = match old {
            Some(old) => (
                self.bytes.saturating_sub(old as u64).saturating_add(new),
                self.keys,
            ),
            None => (
                self.bytes.saturating_add(key_len + new),
                self.keys.saturating_add(1),
            ),
        };
        if keys > quota.keys {
            return Err(format!(
                "state scope {} is full: it already holds {} keys, the limit",
                scope.kind(),
                self.keys
            ));
        }
        if bytes > quota.bytes && bytes > self.bytes {
            return Err(format!(
                "state scope {} is full: storing this value would make it {bytes} bytes; the limit is {}",
                scope.kind(),
                quota.bytes
            ));
        }
        Ok(Self { bytes, keys })
    }

    /// The usage after removing a key of `key_len` bytes whose value had
    /// `old` bytes.
    pub fn after_delete(self, key_len: usize, old: usize) -> Self {
        Self {
            bytes: self.bytes.saturating_sub((key_len + old) as u64),
            keys: self.keys.saturating_sub(1),
        }
    }
}

/// Why a `set` stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// The scope's quota refuses it (the guest sees the message).
    #[error("{0}")]
    Quota(String),
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] StateError),
}

/// Storage behind the `state` import. Values are JSON text, already
/// validated and size-checked by the sandbox.
pub trait StateStore: Send + Sync {
    /// The value under `key`.
    fn get(&self, scope: &StateScope, key: &str) -> Result<Option<String>, StateError>;
    /// Stores `value` under `key` unless the scope would then exceed
    /// `quota`.
    fn set(
        &self,
        scope: &StateScope,
        key: &str,
        value: &str,
        quota: ScopeQuota,
    ) -> Result<(), SetError>;
    /// Removes `key`.
    fn delete(&self, scope: &StateScope, key: &str) -> Result<(), StateError>;
    /// Keys starting with `prefix`, sorted.
    fn keys(&self, scope: &StateScope, prefix: &str) -> Result<Vec<String>, StateError>;
    /// Removes every key of `scope` (an execution's state when it ends).
    fn clear(&self, scope: &StateScope) -> Result<(), StateError>;
    /// What `scope` holds.
    fn usage(&self, scope: &StateScope) -> Result<ScopeUsage, StateError>;
}

#[derive(Debug, Default)]
struct Entries {
    values: BTreeMap<(StateScope, String), String>,
    usage: BTreeMap<StateScope, ScopeUsage>,
}

/// State kept in memory, for local runs; bounded by the same quotas as
/// the server's.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    entries: Mutex<Entries>,
}

impl MemoryStateStore {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave the map half-written.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl StateStore for MemoryStateStore {
    fn get(&self, scope: &StateScope, key: &str) -> Result<Option<String>, StateError> {
        Ok(self
            .entries()
            .values
            .get(&(scope.clone(), key.to_owned()))
            .cloned())
    }

    fn set(
        &self,
        scope: &StateScope,
        key: &str,
        value: &str,
        quota: ScopeQuota,
    ) -> Result<(), SetError> {
        let mut entries = self.entries();
        let entry = (scope.clone(), key.to_owned());
        let old = entries.values.get(&entry).map(String::len);
        let usage = entries.usage.get(scope).copied().unwrap_or_default();
        let usage = usage
            .after_set(scope, key.len(), old, value.len(), quota)
            .map_err(SetError::Quota)?;
        entries.usage.insert(scope.clone(), usage);
        entries.values.insert(entry, value.to_owned());
        Ok(())
    }

    fn delete(&self, scope: &StateScope, key: &str) -> Result<(), StateError> {
        let mut entries = self.entries();
        if let Some(old) = entries.values.remove(&(scope.clone(), key.to_owned())) {
            let usage = entries.usage.get(scope).copied().unwrap_or_default();
            entries
                .usage
                .insert(scope.clone(), usage.after_delete(key.len(), old.len()));
        }
        Ok(())
    }

    fn keys(&self, scope: &StateScope, prefix: &str) -> Result<Vec<String>, StateError> {
        Ok(self
            .entries()
            .values
            .keys()
            .filter(|(s, k)| s == scope && k.starts_with(prefix))
            .map(|(_, k)| k.clone())
            .collect())
    }

    fn clear(&self, scope: &StateScope) -> Result<(), StateError> {
        let mut entries = self.entries();
        entries.values.retain(|(s, _), _| s != scope);
        entries.usage.remove(scope);
        Ok(())
    }

    fn usage(&self, scope: &StateScope) -> Result<ScopeUsage, StateError> {
        Ok(self.entries().usage.get(scope).copied().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_scopes_are_bounded_by_bytes_and_keys() {
        let store = MemoryStateStore::default();
        let scope = StateScope::Instance {
            instance: "i".into(),
        };
        let quota = ScopeQuota { bytes: 20, keys: 2 };
        store.set(&scope, "a", "12345", quota).unwrap();
        // Overwriting only counts the difference.
        store.set(&scope, "a", "1234567890", quota).unwrap();
        assert_eq!(
            store.usage(&scope).unwrap(),
            ScopeUsage { bytes: 11, keys: 1 }
        );
        let full = store.set(&scope, "b", "1234567890", quota).unwrap_err();
        assert!(
            full.to_string().contains("state scope instance is full"),
            "{full}"
        );
        store.set(&scope, "b", "1", quota).unwrap();
        let keys = store.set(&scope, "c", "1", quota).unwrap_err();
        assert!(keys.to_string().contains("2 keys"), "{keys}");
        store.delete(&scope, "a").unwrap();
        store.set(&scope, "c", "1", quota).unwrap();
        store.clear(&scope).unwrap();
        assert_eq!(store.usage(&scope).unwrap(), ScopeUsage::default());
        assert!(store.keys(&scope, "").unwrap().is_empty());
    }
}
