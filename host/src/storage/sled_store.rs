//! The embedded sled implementation of [`Storage`], one tree per record
//! kind (layout in the [module docs](super)). Mutations flush before they
//! return, so a record the API acknowledged survives `kill -9`. The data dir
//! is created with mode 0700.

use std::path::{Path, PathBuf};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Db, Transactional as _, Tree};

use super::records::{decode, encode};
use super::{
    AccessStore, ComponentRecord, ComponentStore, Inserted, IntegrationRecord, IntegrationStore,
    Result, SCHEMA_VERSION, Storage, StorageError, TenantRecord, TokenRecord,
};

/// Name of the sled directory inside the data dir.
pub const DB_DIR: &str = "db";

const SCHEMA_KEY: &[u8] = b"schema_version";

/// Writes that need not be on disk before the call returns (step records,
/// execution status changes) reach it within this many milliseconds, in
/// one batch with everything else written meanwhile (group commit).
pub const GROUP_COMMIT_MS: u64 = 10;

/// The default of `[storage] cache_capacity`: sled's page cache bound in
/// bytes (sled's own default is 1 GiB). See `config::StorageConfig`.
pub const DEFAULT_CACHE_CAPACITY: u64 = 4 * 1024 * 1024;

/// Decoded integration versions by name and version number.
type IntegrationCache = std::collections::HashMap<(String, u32), std::sync::Arc<IntegrationRecord>>;

/// sled-backed storage under a data dir.
#[derive(Debug, Clone)]
pub struct SledStore {
    path: PathBuf,
    db: Db,
    commit: std::sync::Arc<super::group_commit::GroupCommit>,
    /// Decoded integration versions (immutable once stored).
    integration_cache: std::sync::Arc<std::sync::RwLock<IntegrationCache>>,
    /// Decoded instance records (see `instance_cache.rs`).
    pub(super) instance_cache: std::sync::Arc<super::instance_cache::InstanceCache>,
    meta: Tree,
    components: Tree,
    component_bytes: Tree,
    integrations: Tree,
    tenants: Tree,
    tokens: Tree,
    pub(super) instances: Tree,
    pub(super) instances_by_tenant: Tree,
    pub(super) state: Tree,
    pub(super) executions: Tree,
    pub(super) execution_steps: Tree,
    pub(super) execution_keys: Tree,
    pub(super) queue: Tree,
    /// What queue claims are answered from (see `sled_queue.rs`).
    pub(super) queue_index: std::sync::Arc<std::sync::Mutex<super::sled_queue::QueueIndex>>,
    /// Named leases, in memory (see `leases.rs`).
    pub(super) leases: std::sync::Arc<super::leases::MemoryLeases>,
}

/// Creates the data dir (and missing parents) with mode 0700: it holds the
/// master key, sealed secrets and every execution record, so no other
/// local user should list or read it. An existing dir is left as it is,
/// with a warning when others can enter it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        if let Ok(meta) = std::fs::metadata(dir) {
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() && mode & 0o077 != 0 {
                tracing::warn!(
                    data_dir = %dir.display(),
                    mode = format!("{mode:o}"),
                    "the data dir is accessible to other users; chmod 700 it"
                );
            }
            return if meta.is_dir() {
                Ok(())
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not a directory",
                ))
            };
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

pub(super) fn backend<E: std::fmt::Display>(e: E) -> StorageError {
    StorageError::Backend(e.to_string().to_lowercase())
}

impl SledStore {
    /// Opens (creating if needed) the store in `data_dir/db`, checking the
    /// schema version: a fresh store gets [`SCHEMA_VERSION`], a store from a
    /// newer schema is refused.
    pub fn open(data_dir: &Path) -> Result<Self> {
        Self::open_with(data_dir, DEFAULT_CACHE_CAPACITY)
    }

    /// [`SledStore::open`] with sled's page cache bounded to
    /// `cache_capacity` bytes (`[storage] cache_capacity`).
    pub fn open_with(data_dir: &Path, cache_capacity: u64) -> Result<Self> {
        let open_error = |message: String| StorageError::Open {
            path: data_dir.display().to_string(),
            message,
        };
        create_private_dir(data_dir).map_err(|e| open_error(e.to_string().to_lowercase()))?;
        let db = sled::Config::new()
            .path(data_dir.join(DB_DIR))
            .flush_every_ms(Some(GROUP_COMMIT_MS))
            .cache_capacity(cache_capacity)
            .open()
            .map_err(|e| open_error(e.to_string().to_lowercase()))?;
        let tree = |name: &str| db.open_tree(name).map_err(backend);
        let executions = tree("executions")?;
        let (queue, queue_index) = Self::open_queue(&db, &executions)?;
        let store = Self {
            path: data_dir.to_owned(),
            meta: tree("meta")?,
            components: tree("components")?,
            component_bytes: tree("component_bytes")?,
            integrations: tree("integrations")?,
            tenants: tree("tenants")?,
            tokens: tree("tokens")?,
            instances: tree("instances")?,
            instances_by_tenant: tree("instances_by_tenant")?,
            state: tree("state")?,
            executions,
            execution_steps: tree("execution_steps")?,
            execution_keys: tree("execution_keys")?,
            queue,
            queue_index: std::sync::Arc::new(queue_index.into()),
            leases: Default::default(),
            commit: Default::default(),
            integration_cache: Default::default(),
            instance_cache: Default::default(),
            db,
        };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<()> {
        match self.meta.get(SCHEMA_KEY).map_err(backend)? {
            None => {
                self.meta
                    .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(backend)?;
                self.sync()
            }
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StorageError::Corrupt {
                        kind: "meta",
                        key: "schema_version".into(),
                        message: format!("expected 4 bytes, found {}", bytes.len()),
                    })?;
                if found > SCHEMA_VERSION {
                    return Err(StorageError::FutureSchema {
                        path: self.path.display().to_string(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                // Migrations from older schemas go here.
                Ok(())
            }
        }
    }

    /// The data dir.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sled database, for the parts of this store that open their own
    /// trees (result tokens).
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub(super) fn sync(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(backend)
    }

    pub(super) fn list<T: serde::de::DeserializeOwned>(
        kind: &'static str,
        iter: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    ) -> Result<Vec<T>> {
        iter.map(|entry| {
            let (key, value) = entry.map_err(backend)?;
            decode(kind, &key, &value)
        })
        .collect()
    }

    pub(super) fn get<T: serde::de::DeserializeOwned>(
        tree: &Tree,
        kind: &'static str,
        key: &[u8],
    ) -> Result<Option<T>> {
        tree.get(key)
            .map_err(backend)?
            .map(|v| decode(kind, key, &v))
            .transpose()
    }

    /// Inserts `value` under `key` unless present; returns the existing
    /// value otherwise.
    fn insert_new<T: serde::de::DeserializeOwned>(
        &self,
        tree: &Tree,
        kind: &'static str,
        key: &[u8],
        value: Vec<u8>,
    ) -> Result<Inserted<T>> {
        match tree
            .compare_and_swap(key, None as Option<&[u8]>, Some(value))
            .map_err(backend)?
        {
            Ok(()) => {
                self.sync()?;
                Ok(Inserted::Created)
            }
            Err(current) => {
                let existing = current.current.ok_or_else(|| backend("vanished record"))?;
                Ok(Inserted::Exists(decode(kind, key, &existing)?))
            }
        }
    }
}

/// `name \0 version`: NUL sorts before every name character, so all
/// versions of `echo` come before `echo-http`.
fn component_key(name: &str, version: &str) -> Vec<u8> {
    format!("{name}\0{version}").into_bytes()
}

fn integration_key(name: &str, version: u32) -> Vec<u8> {
    format!("{name}\0{version:010}").into_bytes()
}

pub(super) fn tx_error(e: TransactionError<StorageError>) -> StorageError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => backend(e),
    }
}

impl ComponentStore for SledStore {
    fn list_components(&self) -> Result<Vec<ComponentRecord>> {
        Self::list("component", self.components.iter())
    }

    fn get_component(&self, name: &str, version: &str) -> Result<Option<ComponentRecord>> {
        Self::get(&self.components, "component", &component_key(name, version))
    }

    fn component_bytes(&self, name: &str, version: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .component_bytes
            .get(component_key(name, version))
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn insert_component(
        &self,
        record: &ComponentRecord,
        bytes: &[u8],
    ) -> Result<Inserted<ComponentRecord>> {
        let key = component_key(&record.name, &record.version);
        let value = encode(record)?;
        let outcome = (&self.components, &self.component_bytes)
            .transaction(|(meta, code)| {
                if let Some(existing) = meta.get(&key)? {
                    let existing = decode("component", &key, &existing)
                        .map_err(ConflictableTransactionError::Abort)?;
                    return Ok(Inserted::Exists(existing));
                }
                meta.insert(key.as_slice(), value.as_slice())?;
                code.insert(key.as_slice(), bytes)?;
                Ok(Inserted::Created)
            })
            .map_err(tx_error)?;
        if outcome == Inserted::Created {
            self.sync()?;
        }
        Ok(outcome)
    }

    fn delete_component(&self, name: &str, version: &str) -> Result<bool> {
        let key = component_key(name, version);
        let existed = (&self.components, &self.component_bytes)
            .transaction(|(meta, code)| {
                let existed = meta.remove(key.as_slice())?.is_some();
                code.remove(key.as_slice())?;
                Ok(existed)
            })
            .map_err(tx_error)?;
        self.sync()?;
        Ok(existed)
    }
}

impl IntegrationStore for SledStore {
    fn list_integrations(&self) -> Result<Vec<IntegrationRecord>> {
        Self::list("integration", self.integrations.iter())
    }

    fn get_integration(&self, name: &str, version: u32) -> Result<Option<IntegrationRecord>> {
        Ok(self
            .shared_integration(name, version)?
            .map(|shared| IntegrationRecord::clone(&shared)))
    }

    fn shared_integration(
        &self,
        name: &str,
        version: u32,
    ) -> Result<Option<std::sync::Arc<IntegrationRecord>>> {
        // Versions are immutable, so a decoded one stays valid; every webhook
        // and execution reads one, and decoding (then cloning) it dominated.
        let key = (name.to_owned(), version);
        if let Some(found) = self
            .integration_cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(Some(found.clone()));
        }
        let found: Option<IntegrationRecord> = Self::get(
            &self.integrations,
            "integration",
            &integration_key(name, version),
        )?;
        let Some(record) = found else {
            return Ok(None);
        };
        let shared = std::sync::Arc::new(record);
        self.integration_cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, shared.clone());
        Ok(Some(shared))
    }

    fn latest_integration(&self, name: &str) -> Result<Option<IntegrationRecord>> {
        let prefix = format!("{name}\0");
        match self.integrations.scan_prefix(prefix).next_back() {
            Some(entry) => {
                let (key, value) = entry.map_err(backend)?;
                decode("integration", &key, &value).map(Some)
            }
            None => Ok(None),
        }
    }

    fn insert_integration(
        &self,
        record: &IntegrationRecord,
    ) -> Result<Inserted<IntegrationRecord>> {
        let key = integration_key(&record.name, record.version);
        self.insert_new(&self.integrations, "integration", &key, encode(record)?)
    }

    fn delete_integration(&self, name: &str, version: u32) -> Result<bool> {
        let existed = self
            .integrations
            .remove(integration_key(name, version))
            .map_err(backend)?
            .is_some();
        self.integration_cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(name.to_owned(), version));
        self.sync()?;
        Ok(existed)
    }
}

impl AccessStore for SledStore {
    fn list_tenants(&self) -> Result<Vec<TenantRecord>> {
        Self::list("tenant", self.tenants.iter())
    }

    fn get_tenant(&self, name: &str) -> Result<Option<TenantRecord>> {
        Self::get(&self.tenants, "tenant", name.as_bytes())
    }

    fn insert_tenant(&self, record: &TenantRecord) -> Result<Inserted<TenantRecord>> {
        self.insert_new(
            &self.tenants,
            "tenant",
            record.name.as_bytes(),
            encode(record)?,
        )
    }

    fn delete_tenant(&self, name: &str) -> Result<bool> {
        let existed = self.tenants.remove(name).map_err(backend)?.is_some();
        for token in self.list_tokens()? {
            if token.tenant.as_deref() == Some(name) {
                let hash = hex::decode(&token.sha256).map_err(backend)?;
                self.tokens.remove(hash).map_err(backend)?;
            }
        }
        self.sync()?;
        Ok(existed)
    }

    fn put_token(&self, record: &TokenRecord) -> Result<()> {
        let hash = hex::decode(&record.sha256).map_err(backend)?;
        self.tokens.insert(hash, encode(record)?).map_err(backend)?;
        self.sync()
    }

    fn find_token(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>> {
        Self::get(&self.tokens, "token", hash)
    }

    fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        let mut tokens: Vec<TokenRecord> = Self::list("token", self.tokens.iter())?;
        // Keyed by hash: order by creation (ids are UUIDv7) for people.
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tokens)
    }

    fn delete_token(&self, id: &str) -> Result<Option<TokenRecord>> {
        // Tokens are few (one per integration partner, not per request): a
        // scan is simpler than a second index to keep in step.
        let Some(record) = self.list_tokens()?.into_iter().find(|t| t.id == id) else {
            return Ok(None);
        };
        let hash = hex::decode(&record.sha256).map_err(backend)?;
        self.tokens.remove(hash).map_err(backend)?;
        self.sync()?;
        Ok(Some(record))
    }
}

impl Storage for SledStore {
    fn flush(&self) -> Result<()> {
        self.sync()
    }

    fn durable(&self) -> futures::future::BoxFuture<'_, Result<()>> {
        Box::pin(self.commit.durable(&self.db))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> PathBuf {
        std::env::temp_dir().join(format!("weft-store-{}", uuid::Uuid::now_v7()))
    }

    #[test]
    fn future_schema_is_refused_naming_both_versions() {
        let dir = temp();
        drop(SledStore::open(&dir).unwrap());
        {
            let db = sled::open(dir.join(DB_DIR)).unwrap();
            let meta = db.open_tree("meta").unwrap();
            meta.insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let err = SledStore::open(&dir).unwrap_err().to_string();
        assert!(
            err.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
            "{err}"
        );
        assert!(
            err.contains(&format!("schema version {SCHEMA_VERSION}")),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
