//! The authorization matrix: every route × {no token, bad token, another
//! tenant's token, the owning tenant's token, the operator token} with the
//! exact status each must answer.

use serde_json::{Value, json};

use super::{echo_bytes, hello_instance, hello_integration, server_with_hello, tenant_with_token};
use crate::in_process::InProcessServer;
use crate::server::{Api, Resp, echo_only_dir};

/// Expected statuses for [no token, bad token, other tenant, own tenant, operator].
type Row = [u16; 5];

enum Body {
    None,
    Json(Value),
    Bytes(Vec<u8>, &'static str),
}

#[test]
fn every_route_answers_each_caller_exactly() {
    let server = server_with_hello();
    check_every_route(&server.api(), &|token| server.api_as(token));
}

/// The same matrix against a node in this process, through
/// `Node::router()` (no socket, no binary).
#[test]
fn every_route_answers_each_caller_exactly_in_process() {
    let node = InProcessServer::start(Some(echo_only_dir()));
    let pushed = node.api().push_integration(&hello_integration());
    assert_eq!(pushed.status, 201, "{pushed:?}");
    check_every_route(&node.api(), &|token| node.api_as(token));
}

/// Runs every route as each caller (`api_as(token)`; `operator` holds the
/// operator token) against a server with echo built in and `hello@1`
/// stored, and fails on any status that differs from the matrix.
fn check_every_route(operator: &Api, api_as: &dyn Fn(Option<&str>) -> Api) {
    let operator = operator.clone();
    let token_a = tenant_with_token(&operator, "acme");
    let token_b = tenant_with_token(&operator, "bolt");
    let instance = hello_instance(&operator, "acme");
    let id = instance["id"].as_str().unwrap().to_owned();
    let missing = "01900000-0000-7000-8000-000000000000";

    let callers = [
        api_as(None),
        api_as(Some("weft_not-a-real-token")),
        api_as(Some(&token_b)),
        api_as(Some(&token_a)),
        operator.clone(),
    ];
    let names = [
        "no token",
        "bad token",
        "other tenant",
        "own tenant",
        "operator",
    ];

    let routes: Vec<(&str, String, Body, Row)> = vec![
        (
            "GET",
            "/v1/components".into(),
            Body::None,
            [401, 401, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/components/echo/1.0.0".into(),
            Body::None,
            [401, 401, 200, 200, 200],
        ),
        (
            "POST",
            "/v1/components".into(),
            Body::Bytes(echo_bytes(), "application/wasm"),
            [401, 401, 403, 403, 200],
        ),
        (
            "DELETE",
            "/v1/components/nope/1.0.0".into(),
            Body::None,
            [401, 401, 403, 403, 404],
        ),
        (
            "GET",
            "/v1/integrations".into(),
            Body::None,
            [401, 401, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/integrations/hello".into(),
            Body::None,
            [401, 401, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/integrations/hello/1".into(),
            Body::None,
            [401, 401, 200, 200, 200],
        ),
        (
            "POST",
            "/v1/integrations".into(),
            Body::Bytes(hello_integration().into_bytes(), "application/yaml"),
            [401, 401, 403, 403, 200],
        ),
        (
            "GET",
            "/v1/tenants".into(),
            Body::None,
            [401, 401, 403, 403, 200],
        ),
        (
            "POST",
            "/v1/tenants".into(),
            Body::Json(json!({ "name": "cargo" })),
            [401, 401, 403, 403, 201],
        ),
        (
            "POST",
            "/v1/tokens".into(),
            Body::Json(json!({ "tenant": "acme" })),
            [401, 401, 403, 403, 201],
        ),
        (
            "GET",
            "/v1/tokens".into(),
            Body::None,
            [401, 401, 403, 403, 200],
        ),
        (
            "DELETE",
            format!("/v1/tokens/{missing}"),
            Body::None,
            [401, 401, 403, 403, 404],
        ),
        (
            "GET",
            "/v1/instances".into(),
            Body::None,
            [401, 401, 200, 200, 200],
        ),
        (
            "POST",
            "/v1/instances".into(),
            Body::Json(json!({ "integration": "hello@1", "tenant": "acme" })),
            [401, 401, 403, 201, 201],
        ),
        (
            "GET",
            format!("/v1/instances/{id}"),
            Body::None,
            [401, 401, 404, 200, 200],
        ),
        (
            "PATCH",
            format!("/v1/instances/{id}"),
            Body::Json(json!({ "config": { "greeting": "hey" } })),
            [401, 401, 404, 200, 200],
        ),
        (
            "POST",
            format!("/v1/instances/{id}/enable"),
            Body::None,
            // The tenant's enable settles at once (hello has no deploy
            // flows), so the operator's finds it active: wrong state.
            [401, 401, 404, 202, 409],
        ),
        (
            "POST",
            format!("/v1/instances/{id}/disable"),
            Body::None,
            [401, 401, 404, 202, 409],
        ),
        (
            "GET",
            format!("/v1/instances/{id}/state"),
            Body::None,
            [401, 401, 404, 200, 200],
        ),
        (
            "DELETE",
            format!("/v1/instances/{id}/state?key=k"),
            Body::None,
            [401, 401, 404, 200, 200],
        ),
        (
            "GET",
            format!("/v1/instances/{missing}"),
            Body::None,
            [401, 401, 404, 404, 404],
        ),
        (
            "POST",
            format!("/v1/instances/{missing}/enable"),
            Body::None,
            [401, 401, 404, 404, 404],
        ),
        // Deletes last: they remove what the rows above use.
        (
            "DELETE",
            "/v1/integrations/hello/99".into(),
            Body::None,
            [401, 401, 403, 403, 404],
        ),
        (
            "DELETE",
            "/v1/integrations/hello/1".into(),
            Body::None,
            // acme's instances use it.
            [401, 401, 403, 403, 409],
        ),
        (
            "DELETE",
            "/v1/tenants/acme".into(),
            Body::None,
            // acme has instances.
            [401, 401, 403, 403, 409],
        ),
        (
            "DELETE",
            "/v1/tenants/cargo".into(),
            Body::None,
            [401, 401, 403, 403, 204],
        ),
        (
            "DELETE",
            format!("/v1/instances/{id}"),
            Body::None,
            // Disabled above; the owner deletes it, then it is gone.
            [401, 401, 404, 204, 404],
        ),
        (
            "DELETE",
            format!("/v1/instances/{missing}"),
            Body::None,
            [401, 401, 404, 404, 404],
        ),
        ("GET", "/healthz".into(), Body::None, [200; 5]),
        ("GET", "/readyz".into(), Body::None, [200; 5]),
        ("GET", "/metrics".into(), Body::None, [200; 5]),
        ("GET", "/v1/openapi.json".into(), Body::None, [200; 5]),
    ];

    let mut failures = Vec::new();
    for (method, path, body, expected) in &routes {
        for (caller, (api, name)) in callers.iter().zip(names).enumerate() {
            let answer: Resp = match body {
                Body::None => api.request(method, path, None),
                Body::Json(v) => api.request(
                    method,
                    path,
                    Some((v.to_string().into_bytes(), "application/json")),
                ),
                Body::Bytes(b, ct) => api.request(method, path, Some((b.clone(), ct))),
            };
            if answer.status != expected[caller] {
                failures.push(format!(
                    "{method} {path} as {name}: expected {}, got {} {}",
                    expected[caller], answer.status, answer.text
                ));
            }
            if answer.status == 401 {
                assert!(!answer.error().is_empty(), "401 has a message: {answer:?}");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization mismatches:\n{}",
        failures.join("\n")
    );

    // The other tenant's 404 reads exactly like a missing instance's.
    let as_b = &callers[2];
    let theirs = as_b.get(&format!("/v1/instances/{id}"));
    assert_eq!(theirs.error(), format!("instance {id:?} not found"));

    // Lists are filtered: bolt sees none of acme's instances.
    let listed = as_b.get("/v1/instances");
    assert_eq!(listed.json, json!([]), "{listed:?}");
    let listed = as_b.get("/v1/instances?tenant=acme");
    assert_eq!(listed.json, json!([]), "{listed:?}");
    let own = callers[3].get("/v1/instances").json;
    assert!(
        own.as_array()
            .unwrap()
            .iter()
            .all(|i| i["tenant"] == "acme")
    );
    // Three created, one deleted.
    assert_eq!(own.as_array().unwrap().len(), 2);
}
