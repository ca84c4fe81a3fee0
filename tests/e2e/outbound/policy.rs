//! Which requests leave: declared hosts, the operator allowlist, instance
//! additions and address classes.

use serde_json::json;

use super::*;
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
    if !crate::netns::enter(
        "outbound::policy::private_and_metadata_literals_are_refused_before_connecting",
    ) {
        return;
    }
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
