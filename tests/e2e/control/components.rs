//! The component registry: upload, list, show, immutability, rejected
//! uploads, delete refused while used, body limit, and restarts that load
//! artifacts instead of compiling.

use serde_json::json;

use super::{
    echo_bytes, echo_version, echo_with_custom_section, hello_instance, hello_integration,
};
use crate::server::{ServerOptions, TestServer};

#[test]
fn upload_list_show_and_same_bytes_again() {
    let server = TestServer::start(ServerOptions::default());
    let api = server.api();
    assert_eq!(api.get("/v1/components").json, json!([]));

    let first = api.push_component(echo_bytes());
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.json["name"], "echo");
    assert_eq!(first.json["version"], "1.0.0");
    assert_eq!(first.json["builtin"], false);

    let again = api.push_component(echo_bytes());
    assert_eq!(again.status, 200, "same bytes are a no-op: {again:?}");
    assert_eq!(again.json["sha256"], first.json["sha256"]);

    let list = api.get("/v1/components");
    assert_eq!(list.status, 200);
    assert_eq!(list.json.as_array().map(Vec::len), Some(1), "{list:?}");

    let show = api.get("/v1/components/echo/1.0.0");
    assert_eq!(show.status, 200);
    let actions: Vec<&str> = show.json["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"echo") && actions.contains(&"fail"),
        "{actions:?}"
    );
    assert!(show.json["actions"][0]["input_schema"].is_object());

    let missing = api.get("/v1/components/echo/9.9.9");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error(), "component echo@9.9.9 not found");
    // Only the same bytes count as "the same": one compilation per upload
    // that reached the compiler, none for the no-op.
    assert_eq!(
        server.metric("weft_component_compilations_total"),
        Some(1.0)
    );
}

#[test]
fn changed_bytes_under_the_same_version_are_409() {
    let server = TestServer::start(ServerOptions::default());
    let api = server.api();
    assert_eq!(api.push_component(echo_bytes()).status, 201);
    let changed = api.push_component(echo_with_custom_section());
    assert_eq!(changed.status, 409, "{changed:?}");
    assert!(
        changed
            .error()
            .starts_with("component echo@1.0.0 already exists with different content (sha256 "),
        "{changed:?}"
    );
    assert!(
        changed.error().ends_with("publish a new version"),
        "{changed:?}"
    );
}

#[test]
fn garbage_and_wrong_world_uploads_are_rejected_clearly() {
    let server = TestServer::start(ServerOptions::default());
    let api = server.api();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"#!/bin/sh\necho hi\n".to_vec(),
            "rejected component: not a WebAssembly file",
        ),
        (
            wat::parse_str("(module (func (export \"run\")))").unwrap(),
            "rejected component: is a core WebAssembly module, not a component",
        ),
        (
            wat::parse_str("(component)").unwrap(),
            "rejected component: is not a component of world weft:connector",
        ),
        (Vec::new(), "rejected component: not a WebAssembly file"),
    ];
    for (bytes, expected) in cases {
        let answer = api.push_component(bytes);
        assert_eq!(answer.status, 422, "{answer:?}");
        assert!(
            answer.error().starts_with(expected),
            "{expected:?} in {answer:?}"
        );
    }
    assert_eq!(api.get("/v1/components").json, json!([]));
}

#[test]
fn delete_is_refused_while_an_integration_uses_the_component() {
    let server = TestServer::start(ServerOptions::default());
    let api = server.api();
    assert_eq!(api.push_component(echo_bytes()).status, 201);
    let other = api.push_component(echo_version("1.0.1"));
    assert_eq!(other.status, 201, "{other:?}");
    assert_eq!(other.json["version"], "1.0.1");
    assert_eq!(api.push_integration(&hello_integration()).status, 201);

    let refused = api.delete("/v1/components/echo/1.0.0");
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(
        refused.error(),
        "component echo@1.0.0 is used by integration versions hello@1; it cannot be deleted"
    );
    assert_eq!(api.get("/v1/components/echo/1.0.0").status, 200);

    assert_eq!(api.delete("/v1/components/echo/1.0.1").status, 204);
    assert_eq!(api.get("/v1/components/echo/1.0.1").status, 404);
    assert_eq!(api.delete("/v1/components/echo/1.0.1").status, 404);
}

#[test]
fn bodies_over_the_limit_are_413() {
    let server = TestServer::start(ServerOptions {
        config: Some("[server]\nmax_body = \"64KiB\"\n".into()),
        ..ServerOptions::default()
    });
    let answer = server.api().push_component(echo_bytes());
    assert_eq!(answer.status, 413, "{answer:?}");
    assert!(answer.error().contains("length limit"), "{answer:?}");
}

#[test]
fn restart_keeps_everything_and_compiles_nothing() {
    let mut server = TestServer::start(ServerOptions::with_builtins());
    let api = server.api();
    assert_eq!(
        server.metric("weft_component_compilations_total"),
        Some(1.0)
    );
    assert_eq!(api.push_component(echo_version("1.0.2")).status, 201);
    assert_eq!(api.push_integration(&hello_integration()).status, 201);
    assert_eq!(
        api.post("/v1/tenants", &json!({ "name": "acme" })).status,
        201
    );
    let instance = hello_instance(&api, "acme");
    let id = instance["id"].as_str().unwrap().to_owned();
    assert_eq!(api.enable(&id).json["status"], "active");

    for round in ["graceful", "kill -9"] {
        if round == "graceful" {
            server.restart();
        } else {
            server.restart_after_kill9();
        }
        let api = server.api();
        assert_eq!(
            server.metric("weft_component_compilations_total"),
            Some(0.0),
            "{round}: components load from their artifacts"
        );
        let components = api.get("/v1/components").json;
        let refs: Vec<String> = components
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}@{}",
                    c["name"].as_str().unwrap(),
                    c["version"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(refs, ["echo@1.0.0", "echo@1.0.2"], "{round}");
        assert_eq!(api.get("/v1/integrations/hello/1").status, 200, "{round}");
        let shown = api.get(&format!("/v1/instances/{id}"));
        assert_eq!(shown.json["status"], "active", "{round}: {shown:?}");
        assert_eq!(shown.json["tenant"], "acme");
        // Re-uploading the same bytes is still recognised as a no-op.
        assert_eq!(api.push_component(echo_bytes()).status, 200, "{round}");
    }
}

#[test]
fn stale_or_missing_artifacts_are_recompiled_transparently() {
    let mut server = TestServer::start(ServerOptions::with_builtins());
    assert_eq!(
        server.api().push_component(echo_version("1.0.3")).status,
        201
    );
    server.stop();
    // Another engine's artifacts (a different fingerprint in the name) are
    // not used, and a corrupt one is refused by wasmtime: both recompile.
    let artifacts = server.data_dir().join("artifacts");
    let mut files: Vec<_> = std::fs::read_dir(&artifacts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let renamed = files[0].with_file_name("0000-wasmtime0-0000.cwasm");
    std::fs::rename(&files[0], &renamed).unwrap();
    std::fs::write(&files[1], b"not an artifact").unwrap();

    server.restart();
    assert_eq!(
        server.metric("weft_component_compilations_total"),
        Some(2.0)
    );
    assert!(!renamed.exists(), "stale artifacts are pruned");
    assert_eq!(
        server
            .api()
            .get("/v1/components")
            .json
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    server.restart();
    assert_eq!(
        server.metric("weft_component_compilations_total"),
        Some(0.0)
    );
}
