//! The `state` import's storage ([`StateStore`]) in PostgreSQL: a scope is
//! the columns `(tag, owner, flow)` (`e`/execution, `f`/instance+flow,
//! `i`/instance), keys and values are bytes. Each scope's totals live in
//! `state_usage`, locked (`FOR UPDATE`) and changed in the transaction
//! that changes the value, so a quota holds across nodes writing at once.

use crate::sandbox::{ScopeQuota, ScopeUsage, SetError, StateError, StateScope, StateStore};
use crate::storage::StorageError;

use super::PostgresStore;
use super::pool::Failure;

/// `(tag, owner, flow)` of a scope.
fn columns(scope: &StateScope) -> (&'static str, String, String) {
    match scope {
        StateScope::Execution { execution } => ("e", execution.clone(), String::new()),
        StateScope::Flow { instance, flow } => ("f", instance.clone(), flow.clone()),
        StateScope::Instance { instance } => ("i", instance.clone(), String::new()),
    }
}

fn fail(e: StorageError) -> StateError {
    StateError(e.to_string())
}

fn as_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Locks the totals row of a scope (creating it at zero) and returns it.
fn lock_usage(
    tx: &mut postgres::Transaction<'_>,
    (tag, owner, flow): (&str, &str, &str),
) -> Result<ScopeUsage, postgres::Error> {
    tx.execute(
        "INSERT INTO state_usage (tag, owner, flow, bytes, keys) VALUES ($1, $2, $3, 0, 0)
         ON CONFLICT DO NOTHING",
        &[&tag, &owner, &flow],
    )?;
    let row = tx.query_one(
        "SELECT bytes, keys FROM state_usage WHERE tag = $1 AND owner = $2 AND flow = $3
         FOR UPDATE",
        &[&tag, &owner, &flow],
    )?;
    Ok(ScopeUsage {
        bytes: as_u64(row.get(0)),
        keys: as_u64(row.get(1)),
    })
}

fn store_usage(
    tx: &mut postgres::Transaction<'_>,
    (tag, owner, flow): (&str, &str, &str),
    usage: ScopeUsage,
) -> Result<(), postgres::Error> {
    tx.execute(
        "UPDATE state_usage SET bytes = $4, keys = $5
         WHERE tag = $1 AND owner = $2 AND flow = $3",
        &[
            &tag,
            &owner,
            &flow,
            &as_i64(usage.bytes),
            &as_i64(usage.keys),
        ],
    )?;
    Ok(())
}

impl StateStore for PostgresStore {
    fn get(&self, scope: &StateScope, key: &str) -> Result<Option<String>, StateError> {
        let (tag, owner, flow) = columns(scope);
        let key = key.as_bytes().to_vec();
        let value = self
            .pool
            .run(move |client| {
                Ok(client
                    .query_opt(
                        "SELECT value FROM state
                         WHERE tag = $1 AND owner = $2 AND flow = $3 AND key = $4",
                        &[&tag, &owner, &flow, &key],
                    )?
                    .map(|row| row.get::<_, Vec<u8>>(0)))
            })
            .map_err(fail)?;
        value
            .map(|v| String::from_utf8(v).map_err(|e| StateError(e.to_string())))
            .transpose()
    }

    fn set(
        &self,
        scope: &StateScope,
        key: &str,
        value: &str,
        quota: ScopeQuota,
    ) -> Result<(), SetError> {
        let (tag, owner, flow) = columns(scope);
        let scope = scope.clone();
        let (key, value) = (key.as_bytes().to_vec(), value.as_bytes().to_vec());
        let outcome = self.pool.try_run(move |client| {
            let mut tx = client.transaction()?;
            let cols = (tag, owner.as_str(), flow.as_str());
            let usage = lock_usage(&mut tx, cols)?;
            let old = tx
                .query_opt(
                    "SELECT length(value) FROM state
                     WHERE tag = $1 AND owner = $2 AND flow = $3 AND key = $4",
                    &[&tag, &owner, &flow, &key],
                )?
                .map(|row| usize::try_from(row.get::<_, i32>(0)).unwrap_or(0));
            let usage = match usage.after_set(&scope, key.len(), old, value.len(), quota) {
                Ok(usage) => usage,
                // Dropping the transaction rolls it back.
                Err(message) => return Ok(Err(message)),
            };
            tx.execute(
                "INSERT INTO state (tag, owner, flow, key, value) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tag, owner, flow, key) DO UPDATE SET value = $5",
                &[&tag, &owner, &flow, &key, &value],
            )?;
            store_usage(&mut tx, cols, usage)?;
            tx.commit()?;
            Ok::<_, Failure>(Ok(()))
        });
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(SetError::Quota(message)),
            Err(e) => Err(SetError::Backend(fail(e))),
        }
    }

    fn delete(&self, scope: &StateScope, key: &str) -> Result<(), StateError> {
        let (tag, owner, flow) = columns(scope);
        let key = key.as_bytes().to_vec();
        self.pool
            .run(move |client| {
                let mut tx = client.transaction()?;
                let cols = (tag, owner.as_str(), flow.as_str());
                let usage = lock_usage(&mut tx, cols)?;
                let removed = tx.query_opt(
                    "DELETE FROM state WHERE tag = $1 AND owner = $2 AND flow = $3 AND key = $4
                     RETURNING length(value)",
                    &[&tag, &owner, &flow, &key],
                )?;
                if let Some(row) = removed {
                    let old = usize::try_from(row.get::<_, i32>(0)).unwrap_or(0);
                    store_usage(&mut tx, cols, usage.after_delete(key.len(), old))?;
                }
                tx.commit()
            })
            .map_err(fail)
    }

    fn keys(&self, scope: &StateScope, prefix: &str) -> Result<Vec<String>, StateError> {
        let (tag, owner, flow) = columns(scope);
        let prefix = prefix.as_bytes().to_vec();
        let keys = self
            .pool
            .run(move |client| {
                let len = i32::try_from(prefix.len()).unwrap_or(i32::MAX);
                Ok(client
                    .query(
                        "SELECT key FROM state
                         WHERE tag = $1 AND owner = $2 AND flow = $3
                           AND substring(key FROM 1 FOR $5) = $4
                         ORDER BY key",
                        &[&tag, &owner, &flow, &prefix, &len],
                    )?
                    .iter()
                    .map(|row| row.get::<_, Vec<u8>>(0))
                    .collect::<Vec<_>>())
            })
            .map_err(fail)?;
        keys.into_iter()
            .map(|k| String::from_utf8(k).map_err(|e| StateError(e.to_string())))
            .collect()
    }

    fn clear(&self, scope: &StateScope) -> Result<(), StateError> {
        let (tag, owner, flow) = columns(scope);
        self.pool
            .run(move |client| {
                let mut tx = client.transaction()?;
                for table in ["state", "state_usage"] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE tag = $1 AND owner = $2 AND flow = $3"),
                        &[&tag, &owner, &flow],
                    )?;
                }
                tx.commit()
            })
            .map_err(fail)
    }

    fn usage(&self, scope: &StateScope) -> Result<ScopeUsage, StateError> {
        let (tag, owner, flow) = columns(scope);
        self.pool
            .run(move |client| {
                Ok(client
                    .query_opt(
                        "SELECT bytes, keys FROM state_usage
                         WHERE tag = $1 AND owner = $2 AND flow = $3",
                        &[&tag, &owner, &flow],
                    )?
                    .map(|row| ScopeUsage {
                        bytes: as_u64(row.get(0)),
                        keys: as_u64(row.get(1)),
                    })
                    .unwrap_or_default())
            })
            .map_err(fail)
    }
}
