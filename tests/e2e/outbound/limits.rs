//! What bounds a request that may leave: TLS, timeouts, the body cap,
//! redirects, the step deadline, and the policy from `weft.toml` via the CLI.

use serde_json::json;

use super::*;
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

    // Aimed at the metadata address: in a private network namespace.
    let input = json!({"url": "http://169.254.169.254/latest/meta-data/"}).to_string();
    let run = crate::netns::weft_isolated([
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
