//! The control plane through the real server: component registry,
//! integrations, tenants, tokens, instances, authorization, secrets and
//! storage, plus the CLI commands that talk to the server.

mod authz;
mod cli;
mod components;
mod deletes;
mod extractors;
mod integrations;
mod secrets;
mod serve;
mod tokens;

use serde_json::{Value, json};

use crate::server::{Api, TestServer};

/// The built `echo@1.0.0` component.
pub fn echo_bytes() -> Vec<u8> {
    std::fs::read(weft_tests::component_path(weft_tests::ECHO)).expect("read echo.wasm")
}

/// `echo` reporting another version: the one `1.0.0` in its data (the
/// version `describe()` returns) patched to `version` (same length).
pub fn echo_version(version: &str) -> Vec<u8> {
    assert_eq!(version.len(), 5, "the patch keeps the length");
    let mut bytes = echo_bytes();
    let at = bytes
        .windows(5)
        .position(|w| w == b"1.0.0")
        .expect("echo embeds its version");
    bytes[at..at + 5].copy_from_slice(version.as_bytes());
    bytes
}

/// `echo` with a custom section appended: same `name@version`, other bytes.
pub fn echo_with_custom_section() -> Vec<u8> {
    let mut bytes = echo_bytes();
    let name = b"weft-test";
    let payload = b"changed";
    bytes.push(0); // custom section id
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    bytes
}

/// The demo integration (`hello@1`, flows `hello` and `echo`).
pub fn hello_integration() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../components/examples/hello/integration.yaml"
    ))
    .expect("read the hello example")
}

/// An integration with a secret, over echo.
pub const SECRET_INTEGRATION: &str = r#"
name: vault
version: 1
config:
  - { key: api_key, type: secret, required: true }
  - { key: region, type: string, default: eu }
flows:
  - name: call
    trigger: { type: webhook, mode: sync }
    steps:
      - id: a
        component: echo@1.0.0
        action: echo
        input: { key: "{{ config.api_key }}" }
"#;

/// Creates a tenant and a token for it; returns the token.
pub fn tenant_with_token(api: &Api, name: &str) -> String {
    let created = api.post("/v1/tenants", &json!({ "name": name }));
    assert_eq!(created.status, 201, "{created:?}");
    let token = api.post("/v1/tokens", &json!({ "tenant": name }));
    assert_eq!(token.status, 201, "{token:?}");
    token.json["token"].as_str().expect("token").to_owned()
}

/// Creates an instance of `hello@1` for `tenant`; returns its JSON.
pub fn hello_instance(api: &Api, tenant: &str) -> Value {
    let created = api.post(
        "/v1/instances",
        &json!({ "integration": "hello@1", "tenant": tenant }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    created.json
}

/// A server with echo built in and `hello@1` stored.
pub fn server_with_hello() -> TestServer {
    let server = TestServer::start(crate::server::ServerOptions::with_builtins());
    let pushed = server.api().push_integration(&hello_integration());
    assert_eq!(pushed.status, 201, "{pushed:?}");
    server
}
