//! The node-local cache of compiled artifacts: one file per component and
//! engine configuration, `<dir>/<sha256>-<fingerprint>.cwasm`.
//!
//! Compiled code depends on the engine (wasmtime version and settings), not
//! on the shared data, so it is kept per node next to the data dir and
//! refilled from the stored `.wasm` bytes when missing or made by another
//! engine (its file name then does not match). Files are written to a
//! temporary name, synced and renamed into place, never changed in place,
//! so they can be memory-mapped safely.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Compiled artifacts on disk.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    fingerprint: String,
}

impl ArtifactCache {
    /// The cache in `dir` (created if missing) for artifacts made by the
    /// engine identified by `fingerprint`.
    pub fn open(dir: &Path, fingerprint: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            fingerprint: fingerprint.to_owned(),
        })
    }

    /// The file of the component whose bytes hash to `sha256`.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{sha256}-{}.cwasm", self.fingerprint))
    }

    /// Stores an artifact (atomically: temp file, sync, rename).
    pub fn write(&self, sha256: &str, code: &[u8]) -> std::io::Result<()> {
        let path = self.path(sha256);
        let temp = self
            .dir
            .join(format!(".{sha256}-{}.tmp", uuid::Uuid::now_v7()));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(code)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, &path)
    }

    /// Removes every file but the current artifacts of `keep` (hashes of
    /// registered components): stale engines, deleted components, leftover
    /// temporary files.
    pub fn prune(&self, keep: &HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let current = name
                .strip_suffix(&format!("-{}.cwasm", self.fingerprint))
                .is_some_and(|sha| keep.contains(sha));
            if !current && let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(file = %name, error = %e, "could not remove a stale artifact");
            }
        }
    }

    /// Removes the artifact of `sha256`.
    pub fn remove(&self, sha256: &str) {
        let _ = std::fs::remove_file(self.path(sha256));
    }
}
