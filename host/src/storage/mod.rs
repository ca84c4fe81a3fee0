//! Durable storage of the control plane, in our own words.
//!
//! Callers see a handful of traits, one per kind of record
//! ([`ComponentStore`], [`IntegrationStore`], [`AccessStore`],
//! [`InstanceStore`], [`ExecutionStore`], [`ScheduleStore`], the
//! execution [`Queue`], named [`Leases`] and the sandbox's
//! [`StateStore`]), gathered in
//! [`Storage`] and shared as `Arc<dyn Storage>`. Two implementations:
//! [`SledStore`] (embedded sled under `--data-dir`, the default) and
//! [`PostgresStore`] (one PostgreSQL database shared by several nodes,
//! `--store postgres://…`); callers never name either (`node.rs` picks).
//!
//! Records ([`records`]) are serde structs stored inside a versioned
//! envelope (`{"v": 1, "data": {…}}`), so a record kind can evolve and an
//! old binary can refuse what it does not understand. The store as a whole
//! carries a schema version ([`SCHEMA_VERSION`]) checked at open: a data dir
//! written by a newer schema is refused, never misread.
//!
//! Secrets never reach storage in clear: callers seal them with
//! [`SecretBox`] (XChaCha20-Poly1305 under the operator's master key) and
//! the store keeps the sealed bytes.
//!
//! Layout of the sled implementation (one tree per record kind, keys that
//! sort the way callers list them):
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `meta` | `schema_version` | u32, big-endian |
//! | `components` | `name \0 version` | [`ComponentRecord`] |
//! | `component_bytes` | `name \0 version` | the `.wasm` bytes |
//! | `integrations` | `name \0 0000000003` (version zero-padded) | [`IntegrationRecord`] |
//! | `tenants` | name | [`TenantRecord`] |
//! | `tokens` | SHA-256 of the token | [`TokenRecord`] |
//! | `instances` | UUIDv7 id (sorts by creation time) | [`InstanceRecord`] |
//! | `instances_by_tenant` | `tenant \0 id` | empty (index) |
//! | `state` | `scope-tag \0 scope ids \0 key` | JSON text |
//! | `state_usage` | `scope-tag \0 scope ids \0` | the scope's bytes and keys (two u64, big-endian) |
//!
//! Compiled artifacts are not stored here: they depend on this node's
//! engine, so they live in a node-local cache of files
//! (`<data-dir>/artifacts/`, see `registry::ArtifactCache`) that a node
//! refills from the stored bytes when it is missing or stale.
//!
//! Executions, their steps and idempotency keys (`executions`,
//! `execution_steps`, `execution_keys`) are laid out in `executions.rs`;
//! schedule due times (`schedules`, `schedules_by_flow`) in `schedules.rs`;
//! the queue of executions waiting for a worker (`queue`: execution id →
//! [`QueueEntry`], written in the same transaction as the new execution's
//! record) in `sled_queue.rs`, with the trait and its claim rules in
//! `queue.rs`. Queue leases are kept in memory by the sled implementation
//! (one process opens a store, so at open every entry is waiting).

mod crypto;
mod executions;
mod group_commit;
mod instance_cache;
mod leases;
mod postgres;
mod queue;
pub mod records;
mod schedules;
mod sled_instances;
mod sled_queue;
mod sled_store;
mod state;

pub use self::postgres::{PG_SCHEMA_VERSION, PostgresStore, is_postgres_url};
pub use crypto::{CryptoError, MASTER_KEY_ENV, MASTER_KEY_FILE, SecretBox};
pub use executions::{ExecutionFilter, ExecutionStore};
pub use leases::{Leases, contract as leases_contract};
pub use queue::{ClaimRequest, Lane, Queue, QueueEntry, contract as queue_contract};
pub use records::{
    ComponentRecord, InstanceRecord, InstanceStatus, IntegrationRecord, TenantRecord, TokenRecord,
};
pub use schedules::{ScheduleEntry, ScheduleStore};
pub use sled_store::{DEFAULT_CACHE_CAPACITY, SledStore};

use crate::sandbox::StateStore;

/// The storage schema this binary writes and understands. Bump it when a
/// layout change needs a migration; data dirs with a higher number are
/// refused at open.
pub const SCHEMA_VERSION: u32 = 1;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The data dir was written by a newer weft.
    #[error(
        "data dir {path} has storage schema version {found}, but this weft only understands schema version {supported}; upgrade weft or use another --data-dir"
    )]
    FutureSchema {
        /// The data dir.
        path: String,
        /// The version found on disk.
        found: u32,
        /// [`SCHEMA_VERSION`].
        supported: u32,
    },
    /// The PostgreSQL database was migrated by a newer weft.
    #[error(
        "postgresql database {database} has storage schema version {found}, but this weft only understands schema version {supported}; upgrade weft or use another database"
    )]
    FutureDatabaseSchema {
        /// `user@host:port/db`.
        database: String,
        /// The highest version in its `weft_schema` table.
        found: u32,
        /// [`PG_SCHEMA_VERSION`].
        supported: u32,
    },
    /// The data dir could not be opened.
    #[error("failed to open data dir {path}: {message}")]
    Open {
        /// The data dir.
        path: String,
        /// Why.
        message: String,
    },
    /// A record could not be decoded (or was written by a newer binary).
    #[error("corrupt {kind} record {key:?}: {message}")]
    Corrupt {
        /// Record kind (`component`, `instance`, …).
        kind: &'static str,
        /// Its key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The backend failed (I/O, …).
    #[error("storage failed: {0}")]
    Backend(String),
}

/// Result of storage calls.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Outcome of an insert-if-absent: records keyed by an immutable name are
/// never overwritten.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted<T> {
    /// The record was stored.
    Created,
    /// A record with the same key already exists (returned as stored).
    Exists(T),
}

/// Components: metadata and original bytes.
pub trait ComponentStore: Send + Sync {
    /// Every component, sorted by name then version text.
    fn list_components(&self) -> Result<Vec<ComponentRecord>>;
    /// One component's metadata.
    fn get_component(&self, name: &str, version: &str) -> Result<Option<ComponentRecord>>;
    /// The original `.wasm` bytes.
    fn component_bytes(&self, name: &str, version: &str) -> Result<Option<Vec<u8>>>;
    /// Stores metadata and bytes together unless `name@version` exists.
    fn insert_component(
        &self,
        record: &ComponentRecord,
        bytes: &[u8],
    ) -> Result<Inserted<ComponentRecord>>;
    /// Removes a component; `false` if it did not exist.
    fn delete_component(&self, name: &str, version: &str) -> Result<bool>;
}

/// Integration versions (immutable once stored).
pub trait IntegrationStore: Send + Sync {
    /// Every version, sorted by name then version number.
    fn list_integrations(&self) -> Result<Vec<IntegrationRecord>>;
    /// One version.
    fn get_integration(&self, name: &str, version: u32) -> Result<Option<IntegrationRecord>>;
    /// One version, shared: a store that keeps decoded versions (they are
    /// immutable) hands out the one it keeps instead of a copy, for the
    /// webhook and execution paths that read one per request.
    fn shared_integration(
        &self,
        name: &str,
        version: u32,
    ) -> Result<Option<std::sync::Arc<IntegrationRecord>>> {
        Ok(self
            .get_integration(name, version)?
            .map(std::sync::Arc::new))
    }
    /// The highest version of `name`.
    fn latest_integration(&self, name: &str) -> Result<Option<IntegrationRecord>>;
    /// Stores a version unless `name@version` exists.
    fn insert_integration(&self, record: &IntegrationRecord)
    -> Result<Inserted<IntegrationRecord>>;
    /// Removes a version; `false` if it did not exist. Callers check first
    /// that no instance uses it.
    fn delete_integration(&self, name: &str, version: u32) -> Result<bool>;
}

/// Tenants and API tokens.
pub trait AccessStore: Send + Sync {
    /// Every tenant, sorted by name.
    fn list_tenants(&self) -> Result<Vec<TenantRecord>>;
    /// One tenant.
    fn get_tenant(&self, name: &str) -> Result<Option<TenantRecord>>;
    /// Stores a tenant unless one with the name exists.
    fn insert_tenant(&self, record: &TenantRecord) -> Result<Inserted<TenantRecord>>;
    /// Removes a tenant and every token of it (they stop authenticating at
    /// once); `false` if there was no such tenant. Callers check first that
    /// it has no instances.
    fn delete_tenant(&self, name: &str) -> Result<bool>;
    /// Stores a token record under its hash (replacing one with the same
    /// hash).
    fn put_token(&self, record: &TokenRecord) -> Result<()>;
    /// The token whose SHA-256 is `hash`.
    fn find_token(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>>;
    /// Whether any operator token exists.
    fn has_operator_token(&self) -> Result<bool> {
        Ok(self.list_tokens()?.iter().any(|t| t.tenant.is_none()))
    }
    /// Every token record, oldest first.
    fn list_tokens(&self) -> Result<Vec<TokenRecord>>;
    /// Removes the token with public id `id`; returns it, or `None` if
    /// there is none. It stops authenticating at once.
    fn delete_token(&self, id: &str) -> Result<Option<TokenRecord>>;
}

/// Instances of integrations.
pub trait InstanceStore: Send + Sync {
    /// Instances, oldest first, optionally only those of `tenant`.
    fn list_instances(&self, tenant: Option<&str>) -> Result<Vec<InstanceRecord>>;
    /// One instance.
    fn get_instance(&self, id: &str) -> Result<Option<InstanceRecord>>;
    /// Stores a new instance (and its tenant index entry).
    fn create_instance(&self, record: &InstanceRecord) -> Result<()>;
    /// Applies `change` to the stored instance atomically (re-reading and
    /// retrying on a concurrent write) and returns the result; `None` if
    /// there is no such instance. `change` may run more than once.
    fn update_instance(
        &self,
        id: &str,
        change: &mut dyn FnMut(&mut InstanceRecord),
    ) -> Result<Option<InstanceRecord>>;
    /// Removes an instance with its tenant index entry, its schedule due
    /// times, its flow and instance state scopes and its idempotency keys;
    /// `false` if there was none. Its executions stay until retention
    /// prunes them.
    fn delete_instance(&self, id: &str) -> Result<bool>;
    /// Instances of any version of the integration `name` (for deletes and
    /// upgrades).
    fn instances_of_integration(&self, name: &str) -> Result<Vec<InstanceRecord>> {
        Ok(self
            .list_instances(None)?
            .into_iter()
            .filter(|i| i.integration == name)
            .collect())
    }
}

/// Everything the server stores, as one object.
pub trait Storage:
    ComponentStore
    + IntegrationStore
    + AccessStore
    + InstanceStore
    + ExecutionStore
    + ScheduleStore
    + Queue
    + Leases
    + StateStore
    + std::fmt::Debug
{
    /// Writes everything buffered to disk (called at shutdown; the
    /// mutating calls above already flush before they return, except
    /// executions, see [`Storage::durable`]).
    fn flush(&self) -> Result<()>;

    /// Returns once every write made before the call is on disk, sharing
    /// one fsync with concurrent callers (group commit).
    fn durable(&self) -> futures::future::BoxFuture<'_, Result<()>>;

    /// Whether the store answers now (`/readyz`): an embedded store
    /// always does; a database may be unreachable.
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Whether other nodes write to the same store (then a node looks
    /// there for what it has not loaded itself, such as components).
    fn shared(&self) -> bool {
        false
    }

    /// Announcements by the nodes of a shared store: the id of each
    /// execution whose response or end was just stored, by whichever node
    /// ran it. Best effort: an announcement may be missed (the store was
    /// reconnecting, the receiver lagged; then the receiver says so), so a
    /// node waiting for an execution it does not run also reads the store
    /// now and then ([`ExecutionStore::answered`]). `None` for a store of
    /// one node (it runs everything it waits for itself).
    fn progress_events(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }
}
