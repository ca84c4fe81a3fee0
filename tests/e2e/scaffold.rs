//! `weft new`: the scaffolded crate carries its own copy of the SDK, builds
//! as-is for wasm32-wasip2 outside the checkout, and its action runs
//! through `weft component call`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{run_with_deadline, temp_dir, weft};

#[test]
fn scaffolded_component_builds_and_runs() {
    let dir = temp_dir();
    let crate_dir = dir.path().join("hello-conn");
    let created = weft(["new", "hello-conn", "--path", crate_dir.to_str().unwrap()]);
    assert_eq!(created.code, Some(0), "{created:?}");

    // Self-contained: the SDK is written beside the crate, and nothing
    // points into the weft checkout (the crate builds anywhere).
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let checkout = checkout.canonicalize().unwrap();
    assert!(!crate_dir.canonicalize().unwrap().starts_with(&checkout));
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"weft-sdk = { path = "weft-sdk" }"#),
        "{manifest}"
    );
    assert!(!manifest.contains(checkout.to_str().unwrap()), "{manifest}");
    assert!(crate_dir.join("weft-sdk/src/lib.rs").is_file());
    assert!(crate_dir.join("weft-sdk/wit/connector.wit").is_file());
    let readme = std::fs::read_to_string(crate_dir.join("README.md")).unwrap();
    assert!(readme.contains("CARGO_TARGET_DIR"), "{readme}");

    // Share the repository's target dir (as the scaffold's README suggests
    // for several connectors) so the SDK's dependencies, already built by
    // `make components` with the same release settings, are reused.
    let target = Path::new(weft_tests::COMPONENTS_DIR).parent().unwrap();
    let mut build = Command::new("cargo");
    build
        .args(["build", "--release", "--quiet"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", target);
    let built = run_with_deadline(build, Duration::from_secs(600));
    assert_eq!(built.code, Some(0), "{built:?}");

    let wasm = target.join("wasm32-wasip2/release/hello_conn.wasm");
    let wasm = wasm.to_str().unwrap();
    let ok = weft([
        "component",
        "call",
        wasm,
        "greet",
        "--input",
        r#"{"name":"Ada"}"#,
    ]);
    assert_eq!(ok.code, Some(0), "{ok:?}");
    assert!(ok.stdout.contains("Hello, Ada!"), "{ok:?}");

    let bad = weft([
        "component",
        "call",
        wasm,
        "greet",
        "--input",
        r#"{"name":" "}"#,
    ]);
    assert_eq!(bad.code, Some(1));
    assert!(
        bad.stderr
            .contains("invalid-input error: name must not be empty"),
        "{bad:?}"
    );

    let described = weft(["component", "describe", wasm, "--json"]);
    let manifest: serde_json::Value = serde_json::from_str(&described.stdout).unwrap();
    assert_eq!(manifest["name"], "hello-conn");
    assert_eq!(manifest["actions"][0]["key"], "greet");
    assert_eq!(
        manifest["actions"][0]["input_schema"]["required"][0],
        "name"
    );
}

#[test]
fn invalid_names_and_existing_directories_are_refused() {
    let bad = weft(["new", "Bad_Name"]);
    assert_eq!(bad.code, Some(1));
    assert!(
        bad.stderr.contains("invalid component name \"Bad_Name\""),
        "{bad:?}"
    );
    let dir = temp_dir();
    let existing = weft(["new", "x", "--path", dir.path().to_str().unwrap()]);
    assert_eq!(existing.code, Some(1));
    assert!(existing.stderr.contains("already exists"), "{existing:?}");
}
