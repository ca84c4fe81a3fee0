//! Tenants and API tokens in PostgreSQL (tokens keyed by their SHA-256;
//! deleting a tenant removes its tokens in the same transaction).

use crate::storage::records::encode;
use crate::storage::{AccessStore, Inserted, Result, StorageError, TenantRecord, TokenRecord};

use super::pool::Failure;
use super::{PostgresStore, decode_row};

fn token_hash(record: &TokenRecord) -> Result<Vec<u8>> {
    hex::decode(&record.sha256)
        .map_err(|e| StorageError::Backend(format!("token {} has a bad sha256: {e}", record.id)))
}

impl AccessStore for PostgresStore {
    fn list_tenants(&self) -> Result<Vec<TenantRecord>> {
        self.pool.try_run(|client| {
            client
                .query("SELECT name, record FROM tenants ORDER BY name", &[])?
                .iter()
                .map(|row| decode_row("tenant", row.get(0), row.get(1)))
                .collect()
        })
    }

    fn get_tenant(&self, name: &str) -> Result<Option<TenantRecord>> {
        let name = name.to_owned();
        self.pool.try_run(move |client| {
            client
                .query_opt("SELECT record FROM tenants WHERE name = $1", &[&name])?
                .map(|row| decode_row("tenant", &name, row.get(0)))
                .transpose()
        })
    }

    fn insert_tenant(&self, record: &TenantRecord) -> Result<Inserted<TenantRecord>> {
        let value = encode(record)?;
        let name = record.name.clone();
        self.pool.try_run(move |client| {
            let created = client.execute(
                "INSERT INTO tenants (name, record) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&name, &value],
            )?;
            if created == 1 {
                return Ok(Inserted::Created);
            }
            let row = client.query_one("SELECT record FROM tenants WHERE name = $1", &[&name])?;
            Ok(Inserted::Exists(decode_row("tenant", &name, row.get(0))?))
        })
    }

    fn delete_tenant(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.pool.run(move |client| {
            let mut tx = client.transaction()?;
            let existed = tx.execute("DELETE FROM tenants WHERE name = $1", &[&name])? > 0;
            tx.execute("DELETE FROM tokens WHERE tenant = $1", &[&name])?;
            tx.commit()?;
            Ok(existed)
        })
    }

    fn put_token(&self, record: &TokenRecord) -> Result<()> {
        let hash = token_hash(record)?;
        let value = encode(record)?;
        let (id, tenant) = (record.id.clone(), record.tenant.clone());
        self.pool.run(move |client| {
            client.execute(
                "INSERT INTO tokens (hash, id, tenant, record) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (hash) DO UPDATE SET id = $2, tenant = $3, record = $4",
                &[&hash, &id, &tenant, &value],
            )?;
            Ok(())
        })
    }

    fn find_token(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>> {
        let hash = hash.to_vec();
        self.pool.try_run(move |client| {
            client
                .query_opt("SELECT record FROM tokens WHERE hash = $1", &[&hash])?
                .map(|row| decode_row("token", &hex::encode(&hash), row.get(0)))
                .transpose()
        })
    }

    fn has_operator_token(&self) -> Result<bool> {
        self.pool.run(|client| {
            Ok(client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM tokens WHERE tenant IS NULL)",
                    &[],
                )?
                .get(0))
        })
    }

    fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        let mut tokens: Vec<TokenRecord> = self.pool.try_run(|client| {
            client
                .query("SELECT id, record FROM tokens", &[])?
                .iter()
                .map(|row| decode_row("token", row.get(0), row.get(1)))
                .collect::<Result<_, Failure>>()
        })?;
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tokens)
    }

    fn delete_token(&self, id: &str) -> Result<Option<TokenRecord>> {
        let id = id.to_owned();
        self.pool.try_run(move |client| {
            client
                .query_opt("DELETE FROM tokens WHERE id = $1 RETURNING record", &[&id])?
                .map(|row| decode_row("token", &id, row.get(0)))
                .transpose()
        })
    }
}
