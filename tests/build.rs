//! Generates the test manifest, `$OUT_DIR/components.rs`: a path constant
//! per component in `components/` and the `foreach_hostile!` and
//! `foreach_component!` macros (after wasmtime's
//! `crates/test-programs/artifacts/build.rs`).
//!
//! A component is `components/<name>/Cargo.toml` (a crate whose package is
//! `<name>`) or `components/<name>/component.wat` (a hand-written fixture);
//! `make components` builds either to `target/components/<name>.wasm`. This
//! script builds nothing and never fails for want of a `.wasm`: the constants
//! are paths, checked by `component_path` when a test runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("tests/ lives in the repository root");
    let sources = root.join("components");
    println!("cargo::rerun-if-changed={}", sources.display());
    println!(
        "cargo::rerun-if-changed={}",
        sources.join("examples").display()
    );

    let mut names = component_names(&sources);
    // Example connectors live one level down, in components/examples/.
    names.extend(component_names(&sources.join("examples")));
    names.sort();
    let built = root.join("target").join("components");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("components.rs");
    fs::write(&out, manifest(&names, &built)).expect("write the test manifest");
}

/// The sorted names of the components under `sources`.
fn component_names(sources: &Path) -> Vec<String> {
    let entries =
        fs::read_dir(sources).unwrap_or_else(|e| panic!("cannot list {}: {e}", sources.display()));
    let mut names: Vec<String> = entries
        .map(|entry| entry.expect("read components/").path())
        .filter(|dir| dir.join("Cargo.toml").is_file() || dir.join("component.wat").is_file())
        .map(|dir| {
            dir.file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 component name")
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

/// The generated Rust source.
fn manifest(names: &[String], built: &Path) -> String {
    let mut code = String::new();
    let dir = built.to_str().expect("UTF-8 target path");
    writeln!(code, "/// Where `make components` leaves every component.").unwrap();
    writeln!(code, "pub const COMPONENTS_DIR: &str = {dir:?};").unwrap();
    for name in names {
        let path = built.join(format!("{name}.wasm"));
        writeln!(
            code,
            "/// `target/components/{name}.wasm`, built by `make components`."
        )
        .unwrap();
        writeln!(
            code,
            "pub const {}: &str = {:?};",
            constant(name),
            path.to_str().expect("UTF-8 target path")
        )
        .unwrap();
    }
    writeln!(
        code,
        "/// Every component as `(name, path)`, sorted by name."
    )
    .unwrap();
    writeln!(code, "pub const ALL: &[(&str, &str)] = &[").unwrap();
    for name in names {
        writeln!(code, "    ({name:?}, {}),", constant(name)).unwrap();
    }
    writeln!(code, "];").unwrap();

    let hostile: Vec<&String> = names.iter().filter(|n| n.starts_with("hostile-")).collect();
    foreach(
        &mut code,
        "hostile",
        "hostile fixture (`components/hostile-*`)",
        &hostile,
    );
    foreach(
        &mut code,
        "component",
        "component",
        &names.iter().collect::<Vec<_>>(),
    );
    code
}

/// Writes `foreach_<kind>!`, which invokes `$mac!(snake_name, CONSTANT);` once per name.
fn foreach(code: &mut String, kind: &str, what: &str, names: &[&String]) {
    writeln!(
        code,
        "/// Invokes `$mac!(snake_name, CONSTANT);` once per {what}; see the crate docs."
    )
    .unwrap();
    writeln!(code, "#[macro_export]").unwrap();
    writeln!(code, "macro_rules! foreach_{kind} {{").unwrap();
    writeln!(code, "    ($mac:ident) => {{").unwrap();
    for name in names {
        writeln!(
            code,
            "        $mac!({}, {});",
            name.replace('-', "_"),
            constant(name)
        )
        .unwrap();
    }
    writeln!(code, "    }};").unwrap();
    writeln!(code, "}}").unwrap();
}

/// `hostile-loop` → `HOSTILE_LOOP`.
fn constant(name: &str) -> String {
    name.replace('-', "_").to_ascii_uppercase()
}
