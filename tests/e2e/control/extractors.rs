//! What the API's extractors answer, through `Node::router()` in this
//! process: a path id that is not a UUID is a 404 naming it (after the
//! token is checked), operator routes refuse a tenant before reading the
//! body, and every JSON body rejection answers the one error shape. The
//! binary's log names the matched route, never the raw URI.

use serde_json::json;

use super::{hello_instance, hello_integration, server_with_hello, tenant_with_token};
use crate::in_process::InProcessServer;
use crate::server::echo_only_dir;
use crate::triggers::post_json;

fn node_with_hello() -> InProcessServer {
    let node = InProcessServer::start(Some(echo_only_dir()));
    let pushed = node.api().push_integration(&hello_integration());
    assert_eq!(pushed.status, 201, "{pushed:?}");
    node
}

#[test]
fn malformed_path_ids_answer_404_naming_the_id() {
    let node = node_with_hello();
    let api = node.api();
    for (path, kind) in [
        ("/v1/executions/nope", "execution id"),
        ("/v1/executions/nope/replay", "execution id"),
        ("/v1/instances/nope", "instance id"),
        ("/v1/instances/nope/state", "instance id"),
        ("/v1/instances/nope/flows/hello/run", "instance id"),
    ] {
        let method = if path.ends_with("replay") || path.ends_with("run") {
            "POST"
        } else {
            "GET"
        };
        let answer = api.request(method, path, None);
        assert_eq!(answer.status, 404, "{path}: {answer:?}");
        let error = answer.json["error"].as_str().unwrap_or_default();
        assert_eq!(
            error,
            format!("{kind} \"nope\" is malformed: expected a UUID"),
            "{path}"
        );
        // Who is asking is checked first.
        assert_eq!(node.api_as(None).request(method, path, None).status, 401);
    }
    // A well-formed id that names nothing, and one in upper case.
    tenant_with_token(&api, "acme");
    let instance = hello_instance(&api, "acme");
    let id = instance["id"].as_str().unwrap();
    let missing = api.get("/v1/instances/01900000-0000-7000-8000-000000000000");
    assert_eq!(missing.status, 404, "{missing:?}");
    let upper = api.get(&format!("/v1/instances/{}", id.to_uppercase()));
    assert_eq!(upper.status, 200, "{upper:?}");
    assert_eq!(upper.json["id"], id);
}

#[test]
fn operator_routes_refuse_tenants_before_reading_the_body() {
    let node = node_with_hello();
    let api = node.api();
    let token = tenant_with_token(&api, "acme");
    let tenant = node.api_as(Some(&token));
    let refused = tenant.post_bytes("/v1/tenants", b"{not json".to_vec(), "application/json");
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(
        refused.json["error"]
            .as_str()
            .is_some_and(|e| e.contains("operator token")),
        "{refused:?}"
    );
}

#[test]
fn json_body_rejections_answer_one_error_shape() {
    let node = node_with_hello();
    let api = node.api();
    let cases = [
        (b"{not json".to_vec(), "application/json", 400),
        (b"{\"name\": 7}".to_vec(), "application/json", 422),
        (
            b"name=acme".to_vec(),
            "application/x-www-form-urlencoded",
            415,
        ),
    ];
    for (body, content_type, status) in cases {
        let answer = api.post_bytes("/v1/tenants", body, content_type);
        assert_eq!(answer.status, status, "{content_type}: {answer:?}");
        let error = answer.json["error"].as_str().unwrap_or_default();
        assert!(!error.is_empty(), "{answer:?}");
        assert!(
            !error.starts_with(char::is_uppercase),
            "lowercase message: {error}"
        );
    }
    // A patch with a bad body on a visible instance is the same shape.
    tenant_with_token(&api, "acme");
    let instance = hello_instance(&api, "acme");
    let id = instance["id"].as_str().unwrap();
    let answer = api.request(
        "PATCH",
        &format!("/v1/instances/{id}"),
        Some((b"[".to_vec(), "application/json")),
    );
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.json["error"].is_string(), "{answer:?}");
    // The OpenAPI document still holds the webhook trigger's part.
    let doc = api.get("/v1/openapi.json");
    assert!(doc.json["paths"]["/hooks/{instance}/{flow}"].is_object());
    assert!(doc.json["paths"]["/v1/instances/{id}"].is_object());
}

#[test]
fn the_request_log_names_the_route_not_the_raw_uri() {
    let server = server_with_hello();
    let api = server.api();
    tenant_with_token(&api, "acme");
    let instance = hello_instance(&api, "acme");
    let id = instance["id"].as_str().unwrap();
    let secret = "q-Secret-7f6e5d4c3b";
    let answer = post_json(
        &server,
        &format!("/hooks/{id}/no-such-flow?token={secret}"),
        &json!({}),
        &[],
    );
    assert_eq!(answer.status, 404, "{answer:?}");
    assert!(
        server.wait_for_stderr(
            "/hooks/{instance}/{flow}",
            std::time::Duration::from_secs(10)
        ),
        "the request's span names its route:\n{}",
        server.stderr()
    );
    assert!(!server.stderr().contains(secret), "{}", server.stderr());
}
