//! The guest SDK (`weft-sdk`) and the WIT it binds, compiled into the
//! `weft` binary so `weft new` can write them next to a scaffolded crate:
//! the crate then builds anywhere, with no path into a weft checkout.

use std::path::Path;

/// One embedded file: its path under the written SDK directory and text.
type File = (&'static str, &'static str);

macro_rules! embed {
    ($($path:literal => $source:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../", $source)))),*]
    };
}

/// The SDK's sources and the WIT, as `weft new` writes them.
const FILES: &[File] = embed![
    "Cargo.toml" => "sdk-guest/Cargo.toml",
    "src/lib.rs" => "sdk-guest/src/lib.rs",
    "src/context.rs" => "sdk-guest/src/context.rs",
    "src/error.rs" => "sdk-guest/src/error.rs",
    "src/http.rs" => "sdk-guest/src/http.rs",
    "src/log.rs" => "sdk-guest/src/log.rs",
    "src/runtime.rs" => "sdk-guest/src/runtime.rs",
    "src/state.rs" => "sdk-guest/src/state.rs",
    "wit/connector.wit" => "wit/connector.wit",
    "wit/deps/cli.wit" => "wit/deps/cli.wit",
    "wit/deps/clocks.wit" => "wit/deps/clocks.wit",
    "wit/deps/filesystem.wit" => "wit/deps/filesystem.wit",
    "wit/deps/http.wit" => "wit/deps/http.wit",
    "wit/deps/io.wit" => "wit/deps/io.wit",
    "wit/deps/random.wit" => "wit/deps/random.wit",
    "wit/deps/sockets.wit" => "wit/deps/sockets.wit",
];

/// The dependency versions the SDK was tested with in this weft build,
/// written as the new crate's starting `Cargo.lock`.
pub const CARGO_LOCK: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../sdk-guest/Cargo.lock"
));

/// In the checkout the WIT sits beside the SDK (`../wit`); in a written
/// copy it is inside it (`wit`).
const WIT_PATH_IN_CHECKOUT: &str = r#"path: "../wit","#;
const WIT_PATH_IN_COPY: &str = r#"path: "wit","#;

/// Writes the SDK into `dir` (e.g. `<crate>/weft-sdk`) with `write`.
pub fn write_to(
    dir: &Path,
    write: impl Fn(&Path, &str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for (path, text) in FILES {
        let text = if *path == "src/lib.rs" {
            text.replace(WIT_PATH_IN_CHECKOUT, WIT_PATH_IN_COPY)
        } else {
            (*text).to_owned()
        };
        write(&dir.join(path), &text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_source_and_wit_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut on_disk = Vec::new();
        for dir in ["sdk-guest/src", "wit", "wit/deps"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    let rel = path.strip_prefix(&root).unwrap().display().to_string();
                    on_disk.push(rel.replacen("sdk-guest/", "", 1));
                }
            }
        }
        for file in &on_disk {
            assert!(
                FILES.iter().any(|(path, _)| path == file),
                "{file} is not embedded in weft new's SDK copy"
            );
        }
        let lib = FILES.iter().find(|(p, _)| *p == "src/lib.rs").unwrap().1;
        assert!(
            lib.contains(WIT_PATH_IN_CHECKOUT),
            "lib.rs's wit path changed"
        );
    }
}
