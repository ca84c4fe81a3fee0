//! Shared ground for Weft's end-to-end tests: where the built components are.
//!
//! `build.rs` generates one path constant per component in `components/`
//! (`ECHO`, `HOSTILE_LOOP`, `HOSTILE_TABLE`, ...), [`ALL`], and two macros
//! that invoke a caller's macro once per component, as
//! `$mac!(snake_name, CONSTANT);`:
//!
//! - `foreach_hostile!` for every `components/hostile-*` fixture. Test
//!   every fixture through it, so adding a fixture without a test fails to
//!   compile (the caller's macro names a per-fixture item such as
//!   `expect::hostile_loop` that does not exist yet);
//! - `foreach_component!` for every component.
//!
//! ```
//! let mut fixtures = Vec::new();
//! macro_rules! collect {
//!     ($name:ident, $path:ident) => {
//!         fixtures.push((stringify!($name), weft_tests::$path));
//!     };
//! }
//! weft_tests::foreach_hostile!(collect);
//! assert!(fixtures.contains(&("hostile_loop", weft_tests::HOSTILE_LOOP)));
//! ```
//!
//! The constants are paths, valid whether or not the components are built;
//! [`component_path`] checks that the file exists and otherwise tells you to
//! run `make components`.
//!
//! [`pg`] starts a private PostgreSQL for the end-to-end tests and the
//! benchmarks.

pub mod pg;

use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// The built `.wasm` of a component, given its name (`"hostile-loop"`) or
/// one of this crate's path constants (`HOSTILE_LOOP`).
///
/// # Panics
///
/// If there is no such component in `components/`, or it is not built yet
/// (the message says to run `make components`).
pub fn component_path(name_or_path: &str) -> PathBuf {
    let path = match ALL
        .iter()
        .find(|(name, path)| *name == name_or_path || *path == name_or_path)
    {
        Some((_, path)) => Path::new(path),
        None => {
            let known: Vec<&str> = ALL.iter().map(|(name, _)| *name).collect();
            panic!(
                "no component {name_or_path:?} in components/; known: {}",
                known.join(", ")
            )
        }
    };
    assert!(
        path.is_file(),
        "{} is missing: run `make components` first",
        path.display()
    );
    path.to_path_buf()
}
