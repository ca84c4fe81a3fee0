//! The `state` import's storage ([`StateStore`]) on sled: one tree, keys
//! `scope-tag \0 ids… \0 key`, so every scope is one contiguous prefix
//! (`keys` is a prefix scan, and dropping an execution's state later is a
//! range delete).

use crate::sandbox::{StateError, StateScope, StateStore};

use super::sled_store::SledStore;

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

impl StateStore for SledStore {
    fn get(&self, scope: &StateScope, key: &str) -> Result<Option<String>, StateError> {
        self.state
            .get(state_key(scope, key))
            .map_err(fail)?
            .map(|v| String::from_utf8(v.to_vec()).map_err(fail))
            .transpose()
    }

    fn set(&self, scope: &StateScope, key: &str, value: &str) -> Result<(), StateError> {
        self.state
            .insert(state_key(scope, key), value.as_bytes())
            .map_err(fail)?;
        self.db().flush().map_err(fail)?;
        Ok(())
    }

    fn delete(&self, scope: &StateScope, key: &str) -> Result<(), StateError> {
        self.state.remove(state_key(scope, key)).map_err(fail)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_separate_and_keys_are_prefix_scans() {
        let dir = std::env::temp_dir().join(format!("weft-state-{}", uuid::Uuid::now_v7()));
        let store = SledStore::open(&dir).unwrap();
        let inst = StateScope::Instance {
            instance: "i1".into(),
        };
        let flow = StateScope::Flow {
            instance: "i1".into(),
            flow: "sync".into(),
        };
        store.set(&inst, "cursor", "1").unwrap();
        store.set(&inst, "cursor2", "2").unwrap();
        store.set(&flow, "cursor", "3").unwrap();
        assert_eq!(store.get(&inst, "cursor").unwrap().as_deref(), Some("1"));
        assert_eq!(store.get(&flow, "cursor").unwrap().as_deref(), Some("3"));
        assert_eq!(store.keys(&inst, "cur").unwrap(), ["cursor", "cursor2"]);
        store.delete(&inst, "cursor").unwrap();
        assert_eq!(store.get(&inst, "cursor").unwrap(), None);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
