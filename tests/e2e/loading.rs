//! Loading: garbage, core modules, components of another world and
//! components with imports Weft does not provide are refused with errors
//! that say what is wrong.

use crate::support::{temp_dir, weft};

fn describe_bytes(bytes: &[u8]) -> crate::support::Run {
    let dir = temp_dir();
    let file = dir.path().join("thing.wasm");
    std::fs::write(&file, bytes).unwrap();
    weft(["component".as_ref(), "describe".as_ref(), file.as_os_str()])
}

fn assert_refused(bytes: &[u8], expected: &str) {
    let run = describe_bytes(bytes);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains(expected),
        "stderr should contain {expected:?}: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("thing.wasm"),
        "names the file: {}",
        run.stderr
    );
}

#[test]
fn garbage_is_not_wasm() {
    assert_refused(b"#!/bin/sh\necho hi\n", "not a WebAssembly file");
}

#[test]
fn truncated_component_is_invalid() {
    let mut bytes = wat::parse_str("(component (core module))").unwrap();
    bytes.truncate(bytes.len() - 3);
    assert_refused(&bytes, "invalid component");
}

#[test]
fn core_module_is_not_a_component() {
    let bytes = wat::parse_str("(module (func (export \"run\")))").unwrap();
    assert_refused(&bytes, "is a core WebAssembly module, not a component");
}

#[test]
fn component_of_another_world_is_refused() {
    let bytes = wat::parse_str("(component)").unwrap();
    assert_refused(&bytes, "is not a component of world weft:connector");
}

#[test]
fn unknown_import_is_named() {
    let bytes = wat::parse_str(
        r#"(component (import "acme:secret/backdoor" (instance (export "open" (func)))))"#,
    )
    .unwrap();
    assert_refused(&bytes, "acme:secret/backdoor");
}

#[test]
fn missing_file_is_named() {
    let run = weft(["component", "describe", "/nonexistent/x.wasm"]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("/nonexistent/x.wasm"), "{}", run.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let run = weft(["component", "call"]);
    assert_eq!(run.code, Some(2), "{run:?}");
}
