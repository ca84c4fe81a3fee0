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
struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// `/hello` JSON, `/echo` echoes method, content type and body, `/text`
/// plain text, `/slow` answers after 5s, `/hang` never, `/stall` sends
/// one chunk and then nothing, `/huge` 2 MiB with
/// a content-length, `/huge-chunked` 2 MiB without one, `/redirect` a 302
/// to a private address, `/status/503` a 503.
async fn server() -> Server {
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
fn sandbox_with(toml: &str) -> Sandbox {
    let mut config: SandboxConfig = toml::from_str(toml).unwrap();
    config.pool.instances = 4;
    config.limits.timeout = Duration::from_secs(10);
    Sandbox::new(&config).unwrap()
}

/// Runs `action` of the built component `path` with `input`.
async fn call(sandbox: &Sandbox, path: &str, action: &str, input: Value) -> StepOutcome {
    let bytes = std::fs::read(weft_tests::component_path(path)).unwrap();
    let component = sandbox.compile(&bytes).unwrap();
    let req = StepRequest::local(sandbox, action, input.to_string());
    sandbox.run_step(&component, req).await
}

/// The host's warn lines of a step, joined.
fn host_notes(outcome: &StepOutcome) -> String {
    outcome
        .logs
        .iter()
        .filter(|l| l.source == LogSource::Host)
        .map(|l| l.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The step's error message; panics if it succeeded.
fn error_text(outcome: &StepOutcome) -> String {
    match &outcome.result {
        Ok(output) => panic!("expected a failure, got {output}"),
        Err(e) => e.to_string(),
    }
}

const LOOPBACK_ALLOWED: &str = r#"
[outbound]
allow = ["127.0.0.1"]
allow_cidrs = ["127.0.0.1/32"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_get_returns_parsed_json() {
    let server = server().await;
    let sandbox = sandbox_with(LOOPBACK_ALLOWED);
    let outcome = call(
        &sandbox,
        weft_tests::HTTP,
        "request",
        json!({"url": server.url("/hello")}),
    )
    .await;
    let output = outcome.result.unwrap();
    assert_eq!(output["status"], 200);
    assert_eq!(output["body"], json!({"hello": "world"}));
    assert_eq!(output["headers"]["content-type"], "application/json");
    assert_eq!(
        sandbox
            .outbound_stats()
            .get("http@1.0.0", OutboundOutcome::Allowed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_post_sends_json_with_query_and_headers() {
    let server = server().await;
    let sandbox = sandbox_with(LOOPBACK_ALLOWED);
    let outcome = call(
        &sandbox,
        weft_tests::HTTP,
        "request",
        json!({
            "method": "post",
            "url": server.url("/echo"),
            "query": {"page": 2, "tag": ["a b", "c"]},
            "headers": {"x-trace": "t-1"},
            "json": {"sku": "A-1", "qty": 2},
        }),
    )
    .await;
    let output = outcome.result.unwrap();
    assert_eq!(output["status"], 200);
    assert_eq!(output["body"]["method"], "POST");
    assert_eq!(output["body"]["content_type"], "application/json");
    assert_eq!(output["body"]["received"], json!({"sku": "A-1", "qty": 2}));

    let text = call(
        &sandbox,
        weft_tests::HTTP,
        "request",
        json!({"url": server.url("/text")}),
    )
    .await;
    assert_eq!(text.result.unwrap()["body"], "just text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unexpected_status_is_upstream_for_5xx() {
    let server = server().await;
    let sandbox = sandbox_with(LOOPBACK_ALLOWED);
    let outcome = call(
        &sandbox,
        weft_tests::HTTP,
        "request",
        json!({"url": server.url("/status/503")}),
    )
    .await;
    let error = outcome.result.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("returned HTTP 503"), "{error}");
    assert!(error.to_string().contains("try later"), "{error}");

    let outcome = call(
        &sandbox,
        weft_tests::HTTP,
        "request",
        json!({"url": server.url("/hello"), "expected_status": [201]}),
    )
    .await;
    let error = outcome.result.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert!(error.to_string().starts_with("fatal error"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_host_is_refused() {
    let server = server().await;
    let sandbox = sandbox_with(
        r#"
[outbound]
allow = ["*"]
allow_cidrs = ["127.0.0.0/8"]
"#,
    );
    // fixture-fetch declares 127.0.0.1 and localhost only.
    let url = format!("http://127.0.0.2:{}/hello", server.addr.port());
    let outcome = call(
        &sandbox,
        weft_tests::FIXTURE_FETCH,
        "fetch",
        json!({"url": url}),
    )
    .await;
    let error = error_text(&outcome);
    assert!(error.contains("http-request-denied"), "{error}");
    let notes = host_notes(&outcome);
    assert!(
        notes.contains(&format!(
            "host \"127.0.0.2:{}\" not declared by component fixture-fetch@1.0.0",
            server.addr.port()
        )),
        "{notes}"
    );
    assert_eq!(server.hits(), 0);
    assert_eq!(
        sandbox
            .outbound_stats()
            .get("fixture-fetch@1.0.0", OutboundOutcome::Denied),
        1
    );

    // The same component reaches what it declared.
    let outcome = call(
        &sandbox,
        weft_tests::FIXTURE_FETCH,
        "fetch",
        json!({"url": server.url("/text")}),
    )
    .await;
    assert_eq!(outcome.result.unwrap()["body"], "just text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_but_not_operator_allowed_is_refused() {
    let server = server().await;
    let sandbox = sandbox_with(
        r#"
[outbound]
allow = ["api.acme.example:443"]
allow_cidrs = ["127.0.0.1/32"]
"#,
    );
    let outcome = call(
        &sandbox,
        weft_tests::FIXTURE_FETCH,
        "fetch",
        json!({"url": server.url("/hello")}),
    )
    .await;
    let error = error_text(&outcome);
    assert!(error.contains("http-request-denied"), "{error}");
    let notes = host_notes(&outcome);
    assert!(
        notes.contains(&format!(
            "host \"127.0.0.1:{}\" not in the operator allowlist",
            server.addr.port()
        )),
        "{notes}"
    );
    assert_eq!(server.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_additions_extend_the_operator_allowlist() {
    let server = server().await;
    let sandbox = sandbox_with("[outbound]\nallow_cidrs = [\"127.0.0.1/32\"]\n");
    let bytes = std::fs::read(weft_tests::component_path(weft_tests::HTTP)).unwrap();
    let component = sandbox.compile(&bytes).unwrap();
    let input = json!({"url": server.url("/hello")}).to_string();

    let denied = StepRequest::local(&sandbox, "request", input.clone());
    let outcome = sandbox.run_step(&component, denied).await;
    assert!(host_notes(&outcome).contains("not in the operator allowlist"));

    let mut allowed = StepRequest::local(&sandbox, "request", input);
    allowed.outbound_allow = vec![format!("127.0.0.1:{}", server.addr.port()).parse().unwrap()];
    let outcome = sandbox.run_step(&component, allowed).await;
    assert_eq!(outcome.result.unwrap()["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_resolving_to_loopback_is_refused() {
    let server = server().await;
    let sandbox = sandbox_with("[outbound]\nallow = [\"localhost\"]\n");
    let url = format!("http://localhost:{}/hello", server.addr.port());
    let outcome = call(&sandbox, weft_tests::HTTP, "request", json!({"url": url})).await;
    let error = error_text(&outcome);
    assert!(error.contains("destination-ip-prohibited"), "{error}");
    let notes = host_notes(&outcome);
    assert!(notes.contains("host \"localhost\" resolves to"), "{notes}");
    assert!(notes.contains("a loopback address"), "{notes}");
    assert_eq!(server.hits(), 0);

    // Opened up by the operator, the same name works: the host connects to
    // the checked address.
    let opened = sandbox_with(
        "[outbound]\nallow = [\"localhost\"]\nallow_cidrs = [\"127.0.0.1/32\", \"::1/128\"]\n",
    );
    let outcome = call(&opened, weft_tests::HTTP, "request", json!({"url": url})).await;
    assert_eq!(outcome.result.unwrap()["body"], json!({"hello": "world"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_and_metadata_literals_are_refused_before_connecting() {
    let sandbox = sandbox_with("[outbound]\nallow = [\"*\"]\n");
    for (url, reason) in [
        ("http://10.0.0.5/", "host \"10.0.0.5\" is a private address"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "host \"169.254.169.254\" is a link-local (cloud metadata) address",
        ),
        (
            "http://[::ffff:10.0.0.5]/",
            "host \"::ffff:10.0.0.5\" is a private address",
        ),
    ] {
        let outcome = call(&sandbox, weft_tests::HTTP, "request", json!({"url": url})).await;
        let error = error_text(&outcome);
        assert!(
            error.contains("destination-ip-prohibited"),
            "{url}: {error}"
        );
        // The reason is the address class, decided from the literal alone:
        // classification precedes any connection attempt.
        let notes = host_notes(&outcome);
        assert!(notes.contains(reason), "{url}: {notes}");
        assert!(!notes.contains("connect"), "{url}: {notes}");
        assert!(!error.contains("timeout"), "{url}: {error}");
    }
    assert_eq!(
        sandbox
            .outbound_stats()
            .get("http@1.0.0", OutboundOutcome::Denied),
        3
    );

    // A refused POST reports the refusal, not the closed request body.
    let outcome = call(
        &sandbox,
        weft_tests::HTTP,
        "request",
        json!({"method": "POST", "url": "http://10.0.0.5/orders", "json": {"a": 1}}),
    )
    .await;
    let error = error_text(&outcome);
    assert!(error.contains("destination-ip-prohibited"), "{error}");
    assert!(error.starts_with("fatal error"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_host_names_are_judged_by_their_address() {
    let sandbox = sandbox_with("[outbound]\nallow = [\"*\"]\n");
    // 2130706433 is 127.0.0.1 to the resolver.
    let outcome = call(
        &sandbox,
        weft_tests::HTTP,
        "request",
        json!({"url": "http://2130706433:9/"}),
    )
    .await;
    let notes = host_notes(&outcome);
    assert!(
        notes.contains("host \"2130706433\" resolves to 127.0.0.1, a loopback address"),
        "{notes}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_plain_http_server_fails_the_tls_handshake() {
    let server = server().await;
    let sandbox = sandbox_with(LOOPBACK_ALLOWED);
    let url = format!("https://127.0.0.1:{}/hello", server.addr.port());
    let outcome = call(&sandbox, weft_tests::HTTP, "request", json!({"url": url})).await;
    let error = error_text(&outcome);
    assert!(error.contains("tls-protocol-error"), "{error}");
    let notes = host_notes(&outcome);
    assert!(notes.contains("tls handshake failed"), "{notes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_server_hits_the_first_byte_timeout() {
    let server = server().await;
    let sandbox = sandbox_with(&format!("{LOOPBACK_ALLOWED}first_byte_timeout = \"1s\"\n"));
    let outcome = call(
        &sandbox,
        weft_tests::HTTP,
        "request",
        json!({"url": server.url("/slow")}),
    )
    .await;
    let error = error_text(&outcome);
    assert!(error.contains("http-response-timeout"), "{error}");
    assert!(
        outcome.result.as_ref().unwrap_err().is_retryable(),
        "{error}"
    );
    let notes = host_notes(&outcome);
    assert!(
        notes.contains("no response within the first-byte timeout 1s"),
        "{notes}"
    );
    assert_eq!(
        sandbox
            .outbound_stats()
            .get("http@1.0.0", OutboundOutcome::Error),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_hits_the_between_bytes_timeout() {
    let server = server().await;
    let sandbox = sandbox_with(&format!(
        "{LOOPBACK_ALLOWED}between_bytes_timeout = \"1s\"\n"
    ));
    let outcome = call(
        &sandbox,
        weft_tests::HTTP,
        "request",
        json!({"url": server.url("/stall")}),
    )
    .await;
    let error = error_text(&outcome);
    assert!(error.contains("connection-read-timeout"), "{error}");
    let notes = host_notes(&outcome);
    assert!(
        notes.contains("no body data within the between-bytes timeout 1s"),
        "{notes}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_response_hits_the_body_cap() {
    let server = server().await;
    let sandbox = sandbox_with(&format!("{LOOPBACK_ALLOWED}max_response_body = \"1MiB\"\n"));
    for path in ["/huge", "/huge-chunked"] {
        let outcome = call(
            &sandbox,
            weft_tests::HTTP,
            "request",
            json!({"url": server.url(path)}),
        )
        .await;
        let error = error_text(&outcome);
        assert!(error.contains("http-response-body-size"), "{path}: {error}");
        let notes = host_notes(&outcome);
        assert!(
            notes.contains("exceeds the max_response_body limit 1 MiB"),
            "{path}: {notes}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let server = server().await;
    let sandbox = sandbox_with(LOOPBACK_ALLOWED);
    let outcome = call(
        &sandbox,
        weft_tests::HTTP,
        "request",
        json!({"url": server.url("/redirect")}),
    )
    .await;
    let notes = host_notes(&outcome);
    let output = outcome.result.unwrap();
    assert_eq!(output["status"], 302);
    assert_eq!(output["headers"]["location"], "http://10.0.0.5/secret");
    assert_eq!(server.hits(), 1);
    assert!(!notes.contains("10.0.0.5"), "{notes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_deadline_holds_while_waiting_for_a_response() {
    let server = server().await;
    let mut config: SandboxConfig = toml::from_str(LOOPBACK_ALLOWED).unwrap();
    config.pool.instances = 4;
    config.limits.timeout = Duration::from_secs(1);
    let sandbox = Sandbox::new(&config).unwrap();
    let started = std::time::Instant::now();
    let outcome = call(
        &sandbox,
        weft_tests::HTTP,
        "request",
        json!({"url": server.url("/hang")}),
    )
    .await;
    assert_eq!(error_text(&outcome), "deadline 1s exceeded");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn cli_call_applies_the_config_file_policy() {
    // The server runs on this runtime's workers until the test ends.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(server());
    let dir = temp_dir();
    let config = dir.path().join("weft.toml");
    std::fs::write(
        &config,
        "[sandbox.outbound]\nallow = [\"127.0.0.1\"]\nallow_cidrs = [\"127.0.0.1/32\"]\n",
    )
    .unwrap();
    let http = weft_tests::component_path(weft_tests::HTTP);
    let http = http.to_str().unwrap();
    let config = config.to_str().unwrap();

    let input = json!({"url": server.url("/hello")}).to_string();
    let run = weft([
        "component",
        "call",
        http,
        "request",
        "--input",
        &input,
        "--config",
        config,
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let output: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(output["body"], json!({"hello": "world"}));

    let input = json!({"url": "http://169.254.169.254/latest/meta-data/"}).to_string();
    let run = weft([
        "component",
        "call",
        http,
        "request",
        "--input",
        &input,
        "--config",
        config,
    ]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("not in the operator allowlist"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("http-request-denied"), "{}", run.stderr);
}
