//! Outbound HTTP from components, against real HTTP servers on loopback:
//! what the policy lets through, what it refuses and why (the step log
//! line), the address checks after DNS resolution, the timeouts, the body
//! cap, redirects, and the step deadline while a response is awaited.
//!
//! Loopback is itself a forbidden range, so tests that should get through
//! open it with `allow_cidrs = ["127.0.0.1/32"]`, as an operator would for
//! an internal API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::{Value, json};
use weft::sandbox::{LogSource, OutboundOutcome, Sandbox, SandboxConfig, StepOutcome, StepRequest};

use crate::support::{temp_dir, weft};

/// A test server on 127.0.0.1 that counts the requests it receives.
pub(super) struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    pub(super) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(super) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// `/hello` JSON, `/echo` echoes method, content type and body, `/text`
/// plain text, `/slow` answers after 5s, `/hang` never, `/stall` sends
/// one chunk and then nothing, `/huge` 2 MiB with
/// a content-length, `/huge-chunked` 2 MiB without one, `/redirect` a 302
/// to a private address, `/status/503` a 503.
pub(super) async fn server() -> Server {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new()
        .route(
            "/hello",
            get(|| async { axum::Json(json!({"hello": "world"})) }),
        )
        .route(
            "/echo",
            any(
                |method: axum::http::Method, headers: HeaderMap, body: String| async move {
                    let content_type = headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let received: Value =
                        serde_json::from_str(&body).unwrap_or(Value::String(body));
                    axum::Json(json!({
                        "method": method.as_str(),
                        "content_type": content_type,
                        "received": received,
                    }))
                },
            ),
        )
        .route("/text", get(|| async { "just text" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            }),
        )
        .route("/huge", get(|| async { vec![b'x'; 2 << 20] }))
        .route(
            "/huge-chunked",
            get(|| async {
                let chunks = (0..32)
                    .map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 64 << 10])));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route(
            "/stall",
            get(|| async {
                let first =
                    futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from("partial"))]);
                Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()))
            }),
        )
        .route(
            "/redirect",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, "http://10.0.0.5/secret")],
                    "",
                )
            }),
        )
        .route(
            "/status/503",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response() }),
        )
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                counter.fetch_add(1, Ordering::SeqCst);
                next.run(req)
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { addr, hits }
}

/// A sandbox whose `[sandbox]` table is `toml` (small pool, 10s steps).
pub(super) fn sandbox_with(toml: &str) -> Sandbox {
    let mut config: SandboxConfig = toml::from_str(toml).unwrap();
    config.pool.instances = 4;
    config.limits.timeout = Duration::from_secs(10);
    Sandbox::new(&config).unwrap()
}

/// Runs `action` of the built component `path` with `input`.
pub(super) async fn call(sandbox: &Sandbox, path: &str, action: &str, input: Value) -> StepOutcome {
    let bytes = std::fs::read(weft_tests::component_path(path)).unwrap();
    let component = sandbox.compile(&bytes).unwrap();
    let req = StepRequest::local(sandbox, action, input.to_string());
    sandbox.run_step(&component, req).await
}

/// The host's warn lines of a step, joined.
pub(super) fn host_notes(outcome: &StepOutcome) -> String {
    outcome
        .logs
        .iter()
        .filter(|l| l.source == LogSource::Host)
        .map(|l| l.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The step's error message; panics if it succeeded.
pub(super) fn error_text(outcome: &StepOutcome) -> String {
    match &outcome.result {
        Ok(output) => panic!("expected a failure, got {output}"),
        Err(e) => e.to_string(),
    }
}

pub(super) const LOOPBACK_ALLOWED: &str = r#"
[outbound]
allow = ["127.0.0.1"]
allow_cidrs = ["127.0.0.1/32"]
"#;

mod bodies;
mod config_hosts;
mod limits;
mod policy;
