//! Where steps find their components: the [`ComponentSource`] port the
//! executor resolves `name@version` through (the server's component
//! registry and `weft run`'s directory implement it), and
//! [`component_files`], the one scan of a directory of built `.wasm`
//! files that both the registry's built-ins and `weft run` use.

use std::path::{Path, PathBuf};

use super::LoadedComponent;

/// Where the executor finds components by `name@version`.
pub trait ComponentSource: Send + Sync {
    /// The component, if known.
    fn resolve(&self, reference: &str) -> Option<LoadedComponent>;
}

/// Test fixtures built next to real components (`hostile-*`, `fixture-*`):
/// never registered as built-ins nor loaded by `weft run`.
pub fn is_test_fixture(file_name: &str) -> bool {
    file_name.starts_with("hostile-") || file_name.starts_with("fixture-")
}

/// Every `*.wasm` file in `dir` except test fixtures, sorted by path.
pub fn component_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".wasm") && !is_test_fixture(name)
        })
        .collect();
    files.sort();
    Ok(files)
}
