//! `wat2wasm COMPONENTS_DIR OUT_DIR`: converts every
//! `COMPONENTS_DIR/<name>/component.wat` into `OUT_DIR/<name>.wasm`,
//! rewriting only files whose bytes change.
//!
//! `make components` runs it natively for the hand-written fixtures, such as
//! `hostile-table`, which needs `table.grow`, an instruction stable Rust
//! cannot emit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::{env, fs};

fn main() -> ExitCode {
    let args: Vec<PathBuf> = env::args_os().skip(1).map(PathBuf::from).collect();
    let [components, out] = args.as_slice() else {
        eprintln!("usage: wat2wasm COMPONENTS_DIR OUT_DIR");
        return ExitCode::from(2);
    };
    match convert_all(components, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wat2wasm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn convert_all(components: &Path, out: &Path) -> Result<(), String> {
    let entries = fs::read_dir(components)
        .map_err(|e| format!("cannot list {}: {e}", components.display()))?;
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    for dir in dirs {
        let wat = dir.join("component.wat");
        let Some(name) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| wat.is_file())
        else {
            continue;
        };
        let wasm = wat::parse_file(&wat).map_err(|e| e.to_string())?;
        let dest = out.join(format!("{name}.wasm"));
        if fs::read(&dest).ok().as_deref() != Some(wasm.as_slice()) {
            fs::write(&dest, &wasm).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
            println!("wat2wasm: wrote {}", dest.display());
        }
    }
    Ok(())
}
