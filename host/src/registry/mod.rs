//! The component registry: uploaded and built-in components, compiled once
//! and kept loaded (pre-linked) in memory; the flow engine resolves them
//! through the sandbox's [`ComponentSource`] port, which it implements, and
//! integration uploads validate against its [`ComponentRegistry::manifests`].
//!
//! - **Upload**: the bytes are checked (WebAssembly component, world
//!   `weft:connector`, only imports Weft provides, sizes under the
//!   compile caps), compiled, asked to `describe()` themselves, and stored
//!   with the compiled artifact. Compiling runs on a blocking thread, at
//!   most [`COMPILE_SLOTS`] at once and within [`COMPILE_DEADLINE`], and
//!   outside the registry's change lock, so one slow upload never holds
//!   up the others (past the deadline the upload is refused).
//!   `name@version` is immutable: the same bytes again are a no-op, other
//!   bytes under an existing `name@version` a [`RegistryError::Conflict`].
//! - **Start**: every stored component is loaded from its compiled artifact
//!   in the node-local [`ArtifactCache`] (memory-mapped, no compilation),
//!   with the manifest stored at upload as its outbound grant (no second
//!   `describe()`).
//!   A missing artifact, or one made by a different engine configuration
//!   (its fingerprint differs, or wasmtime refuses it), is recompiled from
//!   the stored bytes and replaced, transparently.
//! - **Built-ins**: [`ComponentRegistry::register_dir`] registers the
//!   files of the one directory scan `weft run` uses too
//!   ([`crate::sandbox::component_files`]).
//! - **Delete** is refused while an integration version calls the
//!   component.
//!
//! Every compilation increments `weft_component_compilations_total`.

mod cache;

pub use cache::ArtifactCache;

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash as _, Hasher as _};
use std::path::Path;
use std::sync::{Arc, RwLock};

use sha2::{Digest as _, Sha256};

use crate::metrics::Metrics;
use crate::model::ComponentRef;
use crate::sandbox::{
    ComponentManifest, ComponentSource, LoadError, LoadedComponent, Sandbox, component_files,
};
use crate::storage::{ComponentRecord, Inserted, Storage, StorageError};

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The bytes are not an acceptable component.
    #[error("rejected component: {0}")]
    Rejected(#[source] LoadError),
    /// `name@version` exists with other bytes.
    #[error(
        "component {reference} already exists with different content (sha256 {existing}); components are immutable, publish a new version"
    )]
    Conflict {
        /// `name@version`.
        reference: String,
        /// Hex SHA-256 of the stored bytes.
        existing: String,
    },
    /// Integration versions still call the component.
    #[error("component {reference} is used by integration versions {}; it cannot be deleted", .integrations.join(", "))]
    InUse {
        /// `name@version`.
        reference: String,
        /// `name@version` of each integration version.
        integrations: Vec<String>,
    },
    /// No such component.
    #[error("component {0} not found")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Something unexpected (a panicked compile task).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Components compiled at once by uploads (each compile already uses
/// every core; more would only share them).
pub const COMPILE_SLOTS: usize = 2;

/// Longest an upload may wait for a compile slot and compile.
pub const COMPILE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// A registered component: its record and its loaded code.
#[derive(Clone, Debug)]
pub struct RegisteredComponent {
    /// The stored metadata.
    pub record: ComponentRecord,
    /// Compiled and pre-linked, ready to run steps.
    pub component: LoadedComponent,
}

/// The outcome of [`ComponentRegistry::upload`].
#[derive(Clone, Debug)]
pub struct Upload {
    /// The component as stored.
    pub record: ComponentRecord,
    /// `false` when the same bytes were already registered (a no-op).
    pub created: bool,
}

/// Components known to the server.
pub struct ComponentRegistry {
    sandbox: Arc<Sandbox>,
    store: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
    cache: ArtifactCache,
    loaded: RwLock<BTreeMap<(String, String), Arc<RegisteredComponent>>>,
    changes: tokio::sync::Mutex<()>,
    compile_slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for ComponentRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentRegistry")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Identifies the engine configuration compiled code depends on.
///
/// Built from wasmtime's own compatibility hash (its version and every
/// setting that affects compiled code). The hasher is std's `DefaultHasher`,
/// stable within one build of weft; should it differ after a Rust upgrade,
/// the only effect is one recompilation per component.
pub fn engine_fingerprint(sandbox: &Sandbox) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    sandbox
        .engine()
        .engine()
        .precompile_compatibility_hash()
        .hash(&mut hasher);
    format!("wasmtime48-{:016x}", hasher.finish())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl ComponentRegistry {
    /// Opens the registry and loads every stored component from its
    /// artifact in `artifacts_dir`, recompiling those whose artifact is
    /// missing or no longer fits the engine.
    pub async fn open(
        sandbox: Arc<Sandbox>,
        store: Arc<dyn Storage>,
        metrics: Arc<Metrics>,
        artifacts_dir: &Path,
    ) -> Result<Self, RegistryError> {
        let cache =
            ArtifactCache::open(artifacts_dir, &engine_fingerprint(&sandbox)).map_err(|e| {
                RegistryError::Internal(format!(
                    "failed to open the artifact cache {}: {}",
                    artifacts_dir.display(),
                    e.to_string().to_lowercase()
                ))
            })?;
        let registry = Self {
            cache,
            sandbox,
            store,
            metrics,
            loaded: RwLock::new(BTreeMap::new()),
            changes: tokio::sync::Mutex::new(()),
            compile_slots: Arc::new(tokio::sync::Semaphore::new(COMPILE_SLOTS)),
        };
        let records = registry.store.list_components()?;
        let keep: HashSet<String> = records.iter().map(|r| r.sha256.clone()).collect();
        registry.cache.prune(&keep);
        let mut tasks = Vec::with_capacity(records.len());
        for record in records {
            let sandbox = registry.sandbox.clone();
            let store = registry.store.clone();
            let cache = registry.cache.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                load_stored(&sandbox, store.as_ref(), &cache, record)
            }));
        }
        for task in tasks {
            let loaded = task
                .await
                .map_err(|e| RegistryError::Internal(e.to_string()))?;
            match loaded {
                Ok((entry, compiled)) => {
                    if compiled {
                        registry.metrics.component_compilations.inc();
                    }
                    registry.insert_loaded(entry);
                }
                // One unloadable component must not keep the server down;
                // it stays stored and is retried at the next start.
                Err(e) => tracing::error!(error = %e, "failed to load a stored component"),
            }
        }
        Ok(registry)
    }

    fn insert_loaded(&self, entry: RegisteredComponent) {
        let key = (entry.record.name.clone(), entry.record.version.clone());
        self.loaded_mut().insert(key, Arc::new(entry));
    }

    fn loaded_mut(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, BTreeMap<(String, String), Arc<RegisteredComponent>>> {
        self.loaded.write().unwrap_or_else(|e| e.into_inner())
    }

    fn loaded(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<(String, String), Arc<RegisteredComponent>>> {
        self.loaded.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Serialises changes to what components and integrations exist (an
    /// upload, a delete, an integration push), so a delete cannot race an
    /// integration that starts using the component.
    pub async fn lock_changes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changes.lock().await
    }

    /// Every registered component, sorted by name, then version text.
    pub fn list(&self) -> Vec<ComponentRecord> {
        self.load_missing();
        self.loaded().values().map(|c| c.record.clone()).collect()
    }

    /// One component, loaded and ready to run. One this node has not
    /// loaded (another node on the same database stored it) is loaded from
    /// the store first.
    pub fn get(&self, name: &str, version: &str) -> Option<Arc<RegisteredComponent>> {
        let key = (name.to_owned(), version.to_owned());
        if let Some(found) = self.loaded().get(&key).cloned() {
            return Some(found);
        }
        if !self.store.shared() {
            return None;
        }
        let record = match self.store.get_component(name, version) {
            Ok(Some(record)) => record,
            Ok(None) => return None,
            Err(e) => {
                tracing::error!(component = %format!("{name}@{version}"), error = %e, "failed to look up a component");
                return None;
            }
        };
        self.load_record(record);
        self.loaded().get(&key).cloned()
    }

    /// Loads the stored components this node has not loaded yet: those
    /// another node on a shared database stored (nothing to do with sled,
    /// where this node is the only writer).
    fn load_missing(&self) {
        if !self.store.shared() {
            return;
        }
        let records = match self.store.list_components() {
            Ok(records) => records,
            Err(e) => {
                tracing::error!(error = %e, "failed to list the stored components");
                return;
            }
        };
        let missing: Vec<ComponentRecord> = {
            let loaded = self.loaded();
            records
                .into_iter()
                .filter(|r| !loaded.contains_key(&(r.name.clone(), r.version.clone())))
                .collect()
        };
        for record in missing {
            self.load_record(record);
        }
    }

    /// Loads one stored record (from its artifact, else compiling it).
    fn load_record(&self, record: ComponentRecord) {
        let reference = record.reference();
        match load_stored(&self.sandbox, self.store.as_ref(), &self.cache, record) {
            Ok((entry, compiled)) => {
                if compiled {
                    self.metrics.component_compilations.inc();
                }
                tracing::info!(component = %reference, "loaded a component another node stored");
                self.insert_loaded(entry);
            }
            Err(e) => {
                tracing::error!(component = %reference, error = %e, "failed to load a stored component")
            }
        }
    }

    /// Number of registered components.
    pub fn len(&self) -> usize {
        self.loaded().len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What every registered component reported at upload (what
    /// integration validation checks steps against).
    pub fn manifests(&self) -> Vec<ComponentManifest> {
        self.load_missing();
        self.loaded()
            .values()
            .map(|entry| entry.record.manifest.clone())
            .collect()
    }

    /// Registers a component from its `.wasm` bytes (see the module docs).
    pub async fn upload(&self, bytes: Vec<u8>, builtin: bool) -> Result<Upload, RegistryError> {
        let sha256 = sha256_hex(&bytes);
        if let Some(existing) = self.find_sha(&sha256) {
            return Ok(existing);
        }
        // Compiling and describing happen before the change lock.
        let bytes = Arc::new(bytes);
        let (component, code) = self.compile(bytes.clone()).await?;
        let manifest = self
            .sandbox
            .describe(&component)
            .await
            .map_err(RegistryError::Rejected)?;
        let _guard = self.lock_changes().await;
        if let Some(existing) = self.find_sha(&sha256) {
            return Ok(existing);
        }
        let reference = manifest.reference();
        if let Some(existing) = self
            .store
            .get_component(&manifest.name, &manifest.version)?
        {
            return Err(RegistryError::Conflict {
                reference,
                existing: existing.sha256,
            });
        }
        self.cache
            .write(&sha256, &code)
            .map_err(|e| RegistryError::Internal(format!("failed to store an artifact: {e}")))?;
        let record = ComponentRecord {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            sha256,
            size: bytes.len() as u64,
            manifest,
            builtin,
            created_at: chrono::Utc::now(),
        };
        match self.store.insert_component(&record, &bytes)? {
            Inserted::Created => {}
            Inserted::Exists(existing) if existing.sha256 == record.sha256 => {}
            Inserted::Exists(existing) => {
                return Err(RegistryError::Conflict {
                    reference,
                    existing: existing.sha256,
                });
            }
        }
        tracing::info!(component = %reference, builtin, "component registered");
        self.insert_loaded(RegisteredComponent {
            record: record.clone(),
            component,
        });
        Ok(Upload {
            record,
            created: true,
        })
    }

    fn find_sha(&self, sha256: &str) -> Option<Upload> {
        self.loaded()
            .values()
            .find(|c| c.record.sha256 == sha256)
            .map(|existing| Upload {
                record: existing.record.clone(),
                created: false,
            })
    }

    /// Compiles on a blocking thread in one of [`COMPILE_SLOTS`], within
    /// [`COMPILE_DEADLINE`] (waiting for the slot included). A compile past
    /// the deadline still finishes in the background (the compiler cannot
    /// be interrupted) and keeps its slot until then; its size was capped
    /// before it started.
    async fn compile(
        &self,
        bytes: Arc<Vec<u8>>,
    ) -> Result<(LoadedComponent, Vec<u8>), RegistryError> {
        let sandbox = self.sandbox.clone();
        let slots = self.compile_slots.clone();
        let task = async move {
            let slot = slots
                .acquire_owned()
                .await
                .map_err(|e| RegistryError::Internal(e.to_string()))?;
            tokio::task::spawn_blocking(move || {
                let _slot = slot;
                sandbox.compile_artifact(&bytes)
            })
            .await
            .map_err(|e| RegistryError::Internal(e.to_string()))
        };
        let compiled = tokio::time::timeout(COMPILE_DEADLINE, task)
            .await
            .map_err(|_| {
                RegistryError::Rejected(LoadError::CompileTimeout {
                    limit: COMPILE_DEADLINE,
                })
            })??;
        // Count attempts that reached the compiler, failed or not: the
        // metric measures compile work.
        self.metrics.component_compilations.inc();
        compiled.map_err(RegistryError::Rejected)
    }

    /// Deletes `name@version` unless an integration version calls it.
    pub async fn delete(&self, name: &str, version: &str) -> Result<(), RegistryError> {
        let _guard = self.lock_changes().await;
        let reference = format!("{name}@{version}");
        if self.get(name, version).is_none() {
            return Err(RegistryError::NotFound(reference));
        }
        let users: Vec<String> = self
            .store
            .list_integrations()?
            .into_iter()
            .filter(|i| i.components.contains(&reference))
            .map(|i| i.reference())
            .collect();
        if !users.is_empty() {
            return Err(RegistryError::InUse {
                reference,
                integrations: users,
            });
        }
        self.store.delete_component(name, version)?;
        if let Some(entry) = self.get(name, version) {
            self.cache.remove(&entry.record.sha256);
        }
        self.loaded_mut()
            .remove(&(name.to_owned(), version.to_owned()));
        tracing::info!(component = %reference, "component deleted");
        Ok(())
    }

    /// Registers every `*.wasm` in `dir` except test fixtures (`hostile-*`, `fixture-*`)
    /// as built-ins. Files already registered with the same bytes cost
    /// nothing; a file that fails is logged and skipped, never fatal.
    pub async fn register_dir(&self, dir: &Path) -> Result<Vec<Upload>, RegistryError> {
        let files = component_files(dir).map_err(|e| {
            RegistryError::Internal(format!(
                "failed to read builtins directory {}: {}",
                dir.display(),
                e.to_string().to_lowercase()
            ))
        })?;
        let mut out = Vec::new();
        for file in files {
            let bytes = match std::fs::read(&file) {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "skipping built-in component");
                    continue;
                }
            };
            match self.upload(bytes, true).await {
                Ok(upload) => out.push(upload),
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "skipping built-in component");
                }
            }
        }
        Ok(out)
    }
}

/// Loads one stored component: from its cached artifact when present and
/// accepted by wasmtime, else by recompiling the stored bytes (and caching
/// the new artifact). Returns whether it compiled.
fn load_stored(
    sandbox: &Sandbox,
    store: &dyn Storage,
    cache: &ArtifactCache,
    record: ComponentRecord,
) -> Result<(RegisteredComponent, bool), RegistryError> {
    let path = cache.path(&record.sha256);
    if path.exists() {
        match sandbox.deserialize_file(&path) {
            Ok(component) => {
                // The outbound grant is the manifest stored (and shown) at
                // upload, never a fresh describe() at the first step.
                component.set_manifest(&record.manifest);
                return Ok((RegisteredComponent { record, component }, false));
            }
            Err(e) => {
                tracing::warn!(component = %record.reference(), error = %e, "recompiling component");
            }
        }
    } else {
        tracing::info!(component = %record.reference(), "no artifact for this engine; compiling component");
    }
    let (name, version) = (record.name.as_str(), record.version.as_str());
    let bytes = store
        .component_bytes(name, version)?
        .ok_or_else(|| RegistryError::NotFound(record.reference()))?;
    let (component, code) = sandbox.compile_artifact(&bytes).map_err(|e| {
        RegistryError::Internal(format!(
            "stored component {} no longer compiles: {e}",
            record.reference()
        ))
    })?;
    component.set_manifest(&record.manifest);
    cache
        .write(&record.sha256, &code)
        .map_err(|e| RegistryError::Internal(format!("failed to store an artifact: {e}")))?;
    Ok((RegisteredComponent { record, component }, true))
}

impl ComponentSource for ComponentRegistry {
    fn resolve(&self, reference: &str) -> Option<LoadedComponent> {
        let reference: ComponentRef = reference.parse().ok()?;
        self.get(&reference.name, &reference.version)
            .map(|r| r.component.clone())
    }
}
