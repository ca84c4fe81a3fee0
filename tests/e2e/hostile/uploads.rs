//! Compile caps: a component with more functions than the compiler is
//! allowed to chew on is refused before compiling, on upload (422) and by
//! the CLI (exit 1), and the server goes on accepting other uploads.

use crate::server::{ServerOptions, TestServer};
use crate::support::{temp_dir, weft};

/// A component of `n` empty functions (not a connector: the size check
/// comes before anything else looks at it).
fn many_functions(n: usize) -> Vec<u8> {
    let funcs = "(func)".repeat(n);
    wat::parse_str(format!("(component (core module {funcs}))")).expect("valid wat")
}

#[test]
fn components_past_the_compile_caps_are_refused_before_compiling() {
    let bytes = many_functions(20_001);
    let dir = temp_dir();
    let file = dir.path().join("many.wasm");
    std::fs::write(&file, &bytes).unwrap();
    let file = file.display().to_string();
    let local = weft(["component", "call", &file, "run"]);
    assert_eq!(local.code, Some(1), "{local:?}");
    assert!(
        local
            .stderr
            .contains("component defines more than 20000 functions"),
        "{local:?}"
    );

    let server = TestServer::start(ServerOptions::default());
    let api = server.api();
    let refused = api.push_component(bytes);
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(
        refused
            .error()
            .contains("component defines more than 20000 functions"),
        "{refused:?}"
    );
    let echo = std::fs::read(weft_tests::component_path(weft_tests::ECHO)).unwrap();
    let pushed = api.push_component(echo);
    assert_eq!(pushed.status, 201, "{pushed:?}");
}
