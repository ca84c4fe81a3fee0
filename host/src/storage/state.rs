//! The `state` import's storage ([`StateStore`]) on sled: one tree, keys
//! `scope-tag \0 ids… \0 key`, so every scope is one contiguous prefix
//! (`keys` is a prefix scan, and dropping an execution's state is a range
//! delete). A second tree, `state_usage`, keeps each scope's totals (bytes
//! of keys plus values, number of keys) under the scope prefix, changed in
//! the same transaction as the value so a quota holds under concurrency.
//!
//! Writes flush before they return, like the other control-plane writes;
//! the sandbox calls them on a blocking thread, never on an async worker.

use sled::Transactional as _;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::sandbox::{ScopeQuota, ScopeUsage, SetError, StateError, StateScope, StateStore};

use super::sled_store::SledStore;

/// The tree of per-scope totals.
const USAGE_TREE: &str = "state_usage";

/// The key prefix of `scope`, ending with the separator.
fn scope_prefix(scope: &StateScope) -> Vec<u8> {
    let parts: Vec<&str> = match scope {
        StateScope::Execution { execution } => vec!["e", execution],
        StateScope::Flow { instance, flow } => vec!["f", instance, flow],
        StateScope::Instance { instance } => vec!["i", instance],
    };
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(part.as_bytes());
        out.push(0);
    }
    out
}

fn state_key(scope: &StateScope, key: &str) -> Vec<u8> {
    let mut out = scope_prefix(scope);
    out.extend_from_slice(key.as_bytes());
    out
}

fn fail<E: std::fmt::Display>(e: E) -> StateError {
    StateError(e.to_string().to_lowercase())
}

fn encode_usage(usage: ScopeUsage) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&usage.bytes.to_be_bytes());
    out[8..].copy_from_slice(&usage.keys.to_be_bytes());
    out
}

fn decode_usage(bytes: &[u8]) -> ScopeUsage {
    let word = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_be_bytes)
    };
    ScopeUsage {
        bytes: word(0..8),
        keys: word(8..16),
    }
}

/// Why a state transaction stopped.
enum Abort {
    Quota(String),
}

impl SledStore {
    fn usage_tree(&self) -> Result<sled::Tree, StateError> {
        self.db().open_tree(USAGE_TREE).map_err(fail)
    }

    /// The totals of `scope` by scanning it (for scopes written before
    /// totals were kept).
    fn scan_usage(&self, scope: &StateScope) -> Result<ScopeUsage, StateError> {
        let prefix_len = scope_prefix(scope).len();
        let mut usage = ScopeUsage::default();
        for entry in self.state.scan_prefix(scope_prefix(scope)) {
            let (key, value) = entry.map_err(fail)?;
            usage.bytes += (key.len() - prefix_len + value.len()) as u64;
            usage.keys += 1;
        }
        Ok(usage)
    }

    fn stored_usage(&self, scope: &StateScope) -> Result<ScopeUsage, StateError> {
        match self.usage_tree()?.get(scope_prefix(scope)).map_err(fail)? {
            Some(bytes) => Ok(decode_usage(&bytes)),
            None => self.scan_usage(scope),
        }
    }
}

impl StateStore for SledStore {
    fn get(&self, scope: &StateScope, key: &str) -> Result<Option<String>, StateError> {
        self.state
            .get(state_key(scope, key))
            .map_err(fail)?
            .map(|v| String::from_utf8(v.to_vec()).map_err(fail))
            .transpose()
    }

    fn set(
        &self,
        scope: &StateScope,
        key: &str,
        value: &str,
        quota: ScopeQuota,
    ) -> Result<(), SetError> {
        let usage_tree = self.usage_tree()?;
        let prefix = scope_prefix(scope);
        let entry = state_key(scope, key);
        // Only used when the scope has no stored totals yet.
        let scanned = match usage_tree.get(&prefix).map_err(fail)? {
            Some(_) => ScopeUsage::default(),
            None => self.scan_usage(scope)?,
        };
        (&self.state, &usage_tree)
            .transaction(|(state, usage_tree)| {
                let old = state.get(&entry)?.map(|v| v.len());
                let usage = usage_tree
                    .get(&prefix)?
                    .map_or(scanned, |b| decode_usage(&b));
                let usage = usage
                    .after_set(scope, key.len(), old, value.len(), quota)
                    .map_err(|m| ConflictableTransactionError::Abort(Abort::Quota(m)))?;
                state.insert(entry.as_slice(), value.as_bytes())?;
                usage_tree.insert(prefix.as_slice(), &encode_usage(usage))?;
                Ok(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(Abort::Quota(message)) => SetError::Quota(message),
                TransactionError::Storage(e) => SetError::Backend(fail(e)),
            })?;
        self.db().flush().map_err(fail)?;
        Ok(())
    }

    fn delete(&self, scope: &StateScope, key: &str) -> Result<(), StateError> {
        let usage_tree = self.usage_tree()?;
        let prefix = scope_prefix(scope);
        let entry = state_key(scope, key);
        let scanned = match usage_tree.get(&prefix).map_err(fail)? {
            Some(_) => ScopeUsage::default(),
            None => self.scan_usage(scope)?,
        };
        (&self.state, &usage_tree)
            .transaction(|(state, usage_tree)| {
                if let Some(old) = state.remove(entry.as_slice())? {
                    let usage = usage_tree
                        .get(&prefix)?
                        .map_or(scanned, |b| decode_usage(&b));
                    let usage = usage.after_delete(key.len(), old.len());
                    usage_tree.insert(prefix.as_slice(), &encode_usage(usage))?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(()) => StateError("aborted".into()),
                TransactionError::Storage(e) => fail(e),
            })?;
        self.db().flush().map_err(fail)?;
        Ok(())
    }

    fn keys(&self, scope: &StateScope, prefix: &str) -> Result<Vec<String>, StateError> {
        let scope_len = scope_prefix(scope).len();
        self.state
            .scan_prefix(state_key(scope, prefix))
            .map(|entry| {
                let (key, _) = entry.map_err(fail)?;
                String::from_utf8(key[scope_len..].to_vec()).map_err(fail)
            })
            .collect()
    }

    fn clear(&self, scope: &StateScope) -> Result<(), StateError> {
        // Not flushed: losing a removal to a crash only leaves state that
        // the next clear (or prune) removes again.
        let prefix = scope_prefix(scope);
        for key in self.state.scan_prefix(&prefix).keys() {
            self.state.remove(key.map_err(fail)?).map_err(fail)?;
        }
        self.usage_tree()?.remove(&prefix).map_err(fail)?;
        Ok(())
    }

    fn usage(&self, scope: &StateScope) -> Result<ScopeUsage, StateError> {
        self.stored_usage(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("weft-state-{}", uuid::Uuid::now_v7()))
    }

    #[test]
    fn scopes_are_separate_and_keys_are_prefix_scans() {
        let dir = temp();
        let store = SledStore::open(&dir).unwrap();
        let inst = StateScope::Instance {
            instance: "i1".into(),
        };
        let flow = StateScope::Flow {
            instance: "i1".into(),
            flow: "sync".into(),
        };
        let any = ScopeQuota::UNLIMITED;
        store.set(&inst, "cursor", "1", any).unwrap();
        store.set(&inst, "cursor2", "2", any).unwrap();
        store.set(&flow, "cursor", "3", any).unwrap();
        assert_eq!(store.get(&inst, "cursor").unwrap().as_deref(), Some("1"));
        assert_eq!(store.get(&flow, "cursor").unwrap().as_deref(), Some("3"));
        assert_eq!(store.keys(&inst, "cur").unwrap(), ["cursor", "cursor2"]);
        store.delete(&inst, "cursor").unwrap();
        assert_eq!(store.get(&inst, "cursor").unwrap(), None);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn scope_totals_are_kept_refused_past_the_quota_and_cleared() {
        let dir = temp();
        let store = SledStore::open(&dir).unwrap();
        let exec = StateScope::Execution {
            execution: "x1".into(),
        };
        let quota = ScopeQuota {
            bytes: 100,
            keys: 3,
        };
        store.set(&exec, "a", &"1".repeat(40), quota).unwrap();
        store.set(&exec, "a", &"1".repeat(50), quota).unwrap();
        assert_eq!(
            store.usage(&exec).unwrap(),
            ScopeUsage { bytes: 51, keys: 1 }
        );
        let full = store.set(&exec, "b", &"1".repeat(50), quota).unwrap_err();
        assert!(matches!(full, SetError::Quota(_)), "{full}");
        assert_eq!(store.get(&exec, "b").unwrap(), None);
        store.set(&exec, "b", "1", quota).unwrap();
        store.set(&exec, "c", "1", quota).unwrap();
        assert!(matches!(
            store.set(&exec, "d", "1", quota),
            Err(SetError::Quota(_))
        ));
        store.delete(&exec, "a").unwrap();
        assert_eq!(
            store.usage(&exec).unwrap(),
            ScopeUsage { bytes: 4, keys: 2 }
        );
        store.clear(&exec).unwrap();
        assert_eq!(store.usage(&exec).unwrap(), ScopeUsage::default());
        assert!(store.keys(&exec, "").unwrap().is_empty());
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
