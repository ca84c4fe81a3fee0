//! `weft serve` itself: graceful shutdown lets in-flight requests finish,
//! and the `--demo` seed is idempotent across restarts.

use std::time::Duration;

use super::echo_bytes;
use crate::server::{ServerOptions, TestServer, poll};

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let mut server = TestServer::start(ServerOptions::default());
    let api = server.api();
    // An upload compiles the component: a request that takes a while.
    let upload = std::thread::spawn(move || api.push_component(echo_bytes()));
    assert!(
        server.wait_for_stderr("started processing request", Duration::from_secs(30)),
        "{}",
        server.stderr()
    );
    let status = server.stop().expect("exit status");
    let answer = upload.join().expect("upload thread");
    assert_eq!(
        answer.status, 201,
        "the in-flight upload completes: {answer:?}"
    );
    assert!(
        status.success(),
        "clean exit: {status:?}\n{}",
        server.stderr()
    );
    assert!(
        server.stderr().contains("shutting down"),
        "{}",
        server.stderr()
    );

    server.restart();
    let listed = server.api().get("/v1/components/echo/1.0.0");
    assert_eq!(listed.status, 200, "what was acknowledged is stored");
}

#[test]
fn demo_seed_is_idempotent() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../components/examples/hello/integration.yaml"
    );
    let mut server = TestServer::start(ServerOptions {
        args: vec!["--demo".into(), example.into()],
        ..ServerOptions::with_builtins()
    });
    let seeded = |server: &TestServer, n: usize| {
        poll(Duration::from_secs(30), || {
            server.stdout().matches("demo: try flow").count() == n
        })
    };
    assert!(seeded(&server, 1), "{}", server.stdout());
    let stdout = server.stdout();
    assert!(stdout.contains("/hooks/"), "{stdout}");
    assert!(stdout.contains("curl -X POST"), "{stdout}");

    server.restart();
    assert!(seeded(&server, 2), "{}", server.stdout());
    let instances = server.api().get("/v1/instances?tenant=demo").json;
    let instances = instances.as_array().expect("list");
    assert_eq!(instances.len(), 1, "reused, not duplicated: {instances:?}");
    assert_eq!(instances[0]["status"], "active");
    assert_eq!(instances[0]["integration"], "hello@1");
    let id = instances[0]["id"].as_str().unwrap();
    assert_eq!(
        server
            .stdout()
            .matches(&format!("demo: instance {id}"))
            .count(),
        2
    );
}
