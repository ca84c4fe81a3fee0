//! Triggers through the real server: webhooks (sync, async, preprocess,
//! HMAC, idempotency, callbacks, limits), schedules, deploy and teardown,
//! and the examples under `components/examples/`, against fake
//! third-party services on loopback ([`fake`]).

mod examples;
mod failures;
pub(crate) mod fake;
mod hardening;
mod instance_allow;
mod lifecycle;
mod lifecycle_durable;
mod load;
mod queue;
mod results;
mod schedules;
mod webhooks;

use std::time::Duration;

use serde_json::{Value, json};

use crate::server::{ServerOptions, TestServer};

/// Operator config letting components and callbacks reach loopback fakes.
pub const LOOPBACK_CONFIG: &str = r#"
[sandbox.outbound]
allow = ["127.0.0.1", "localhost"]
allow_cidrs = ["127.0.0.1/32"]
"#;

/// How long a flow may take to show its effect.
pub const FLOW_DEADLINE: Duration = Duration::from_secs(60);

/// A server with every built-in component and the loopback allowlist.
pub fn server() -> TestServer {
    TestServer::start(ServerOptions {
        config: Some(LOOPBACK_CONFIG.to_owned()),
        ..ServerOptions::with_all_builtins()
    })
}

/// An example integration file, `components/examples/<name>/integration.yaml`.
pub fn example(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../components/examples/{name}/integration.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("read example {name}: {e}"))
}

/// Pushes `yaml` (if new), makes sure tenant `acme` exists and creates an
/// instance with `config` and `secrets`; returns the instance.
pub fn instance(server: &TestServer, yaml: &str, config: Value, secrets: Value) -> Value {
    let api = server.api();
    let pushed = api.push_integration(yaml);
    assert!(pushed.status == 201 || pushed.status == 200, "{pushed:?}");
    let reference = format!(
        "{}@{}",
        pushed.json["name"].as_str().unwrap(),
        pushed.json["version"]
    );
    let tenant = api.post("/v1/tenants", &json!({ "name": "acme" }));
    assert!(tenant.status == 201 || tenant.status == 409, "{tenant:?}");
    let created = api.post(
        "/v1/instances",
        &json!({ "integration": reference, "tenant": "acme", "config": config, "secrets": secrets }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    created.json
}

/// Creates and enables an instance; asserts it became `active`; returns
/// its id.
pub fn enabled(server: &TestServer, yaml: &str, config: Value, secrets: Value) -> String {
    let id = instance(server, yaml, config, secrets)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let enabled = server.api().enable(&id);
    assert_eq!(enabled.json["status"], "active", "{enabled:?}");
    id
}

/// An answer from a webhook.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers by lowercase name.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON (`Null` when not JSON).
    pub json: Value,
}

impl Answer {
    /// The `execution_id` of a 202 or 500 answer.
    pub fn execution_id(&self) -> String {
        self.json["execution_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no execution_id in {self:?}"))
            .to_owned()
    }
}

/// Sends a webhook request (no bearer token) with extra headers.
pub fn hook(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(Vec<u8>, &str)>,
) -> Answer {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut req = client.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}{path}", server.url()),
    );
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some((bytes, content_type)) = body {
        req = req.header("content-type", content_type).body(bytes);
    }
    let resp = req.send().unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        json,
    }
}

/// `POST path` with a JSON body and extra headers.
pub fn post_json(
    server: &TestServer,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Answer {
    hook(
        server,
        "POST",
        path,
        headers,
        Some((body.to_string().into_bytes(), "application/json")),
    )
}
