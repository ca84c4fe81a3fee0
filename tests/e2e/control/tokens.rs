//! API tokens (issue 10 item 10): listed by id and prefix and never in
//! full, revoked at once, operator-only, through the API and the CLI; a
//! changed `WEFT_OPERATOR_TOKEN` replaces the previous one. Also the data
//! dir's permissions.

use serde_json::{Value, json};

use super::tenant_with_token;
use crate::server::{OPERATOR_TOKEN, ServerOptions, TestServer};

fn tokens(server: &TestServer, token: &str) -> Vec<Value> {
    let listed = server.api_as(Some(token)).get("/v1/tokens");
    assert_eq!(listed.status, 200, "{listed:?}");
    listed.json.as_array().expect("a list").clone()
}

#[test]
fn tokens_are_listed_without_secrets_and_revoked_at_once() {
    let server = TestServer::start(ServerOptions::default());
    let api = server.api();
    let tenant_token = tenant_with_token(&api, "acme");
    let tenant = server.api_as(Some(&tenant_token));

    // Tenant tokens cannot see or touch tokens.
    assert_eq!(tenant.get("/v1/tokens").status, 403);
    let listed = tokens(&server, OPERATOR_TOKEN);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains(&tenant_token), "never the token: {text}");
    assert!(!text.contains(OPERATOR_TOKEN), "never the token: {text}");
    assert!(!text.contains("sha256"), "never the hash: {text}");
    let acme = listed
        .iter()
        .find(|t| t["tenant"] == "acme")
        .expect("acme's token");
    let prefix = acme["prefix"].as_str().unwrap();
    assert_eq!(prefix.len(), 8);
    assert!(tenant_token.starts_with(prefix), "{prefix}");
    assert_eq!(acme["origin"], "api");
    assert!(acme["created_at"].is_string());
    let operator = listed
        .iter()
        .find(|t| t["tenant"].is_null())
        .expect("the operator token");
    assert_eq!(operator["origin"], "env");
    let acme_id = acme["id"].as_str().unwrap().to_owned();
    let operator_id = operator["id"].as_str().unwrap().to_owned();

    // A tenant cannot revoke, not even its own token.
    let refused = tenant.delete(&format!("/v1/tokens/{acme_id}"));
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(tenant.get("/v1/instances").status, 200);

    // The operator revokes it: 204, and the next request is 401.
    let revoked = api.delete(&format!("/v1/tokens/{acme_id}"));
    assert_eq!(revoked.status, 204, "{revoked:?}");
    assert_eq!(tenant.get("/v1/instances").status, 401);
    assert_eq!(api.delete(&format!("/v1/tokens/{acme_id}")).status, 404);
    assert_eq!(tokens(&server, OPERATOR_TOKEN).len(), 1);

    // The last operator token cannot be revoked (no lock-out)...
    let last = api.delete(&format!("/v1/tokens/{operator_id}"));
    assert_eq!(last.status, 409, "{last:?}");
    // ...but one of two can, through the CLI.
    let created = server.weft(["--json", "token", "create"]);
    assert_eq!(created.code, Some(0), "{created:?}");
    let second: Value = serde_json::from_str(&created.stdout).unwrap();
    let second_token = second["token"].as_str().unwrap().to_owned();
    let ls = server.weft(["token", "ls"]);
    assert_eq!(ls.code, Some(0), "{ls:?}");
    assert!(ls.stdout.contains(&operator_id), "{}", ls.stdout);
    assert!(ls.stdout.contains("(operator)"), "{}", ls.stdout);
    assert!(!ls.stdout.contains(&second_token), "{}", ls.stdout);
    assert!(
        ls.stdout.contains(&format!("{}…", &second_token[..8])),
        "{}",
        ls.stdout
    );
    let revoke = server.weft_as(&second_token, ["token", "revoke", &operator_id]);
    assert_eq!(revoke.code, Some(0), "{revoke:?}");
    assert!(
        revoke
            .stdout
            .contains(&format!("revoked token {operator_id}"))
    );
    assert_eq!(api.get("/v1/tokens").status, 401, "the env token is gone");
    let unknown = server.weft_as(&second_token, ["token", "revoke", "nope"]);
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    assert!(unknown.stderr.contains("not found"), "{unknown:?}");

    // The routes are documented.
    let openapi = server.api_as(None).get("/v1/openapi.json").json;
    assert!(openapi["paths"]["/v1/tokens"]["get"].is_object());
    assert!(openapi["paths"]["/v1/tokens/{id}"]["delete"].is_object());
}

#[test]
fn a_changed_operator_token_retires_the_previous_one() {
    let mut server = TestServer::start(ServerOptions::default());
    assert_eq!(server.api().get("/v1/tokens").status, 200);
    let replacement = "weft-test-operator-token-replaced-9876";
    server.set_env("WEFT_OPERATOR_TOKEN", replacement);
    server.restart();
    assert_eq!(
        server.api().get("/v1/tokens").status,
        401,
        "old token retired"
    );
    let listed = tokens(&server, replacement);
    let operators: Vec<&Value> = listed.iter().filter(|t| t["tenant"].is_null()).collect();
    assert_eq!(operators.len(), 1, "replaced, not added: {listed:?}");
    assert_eq!(operators[0]["origin"], "env");
    assert!(
        server
            .stderr()
            .contains("retired the previous WEFT_OPERATOR_TOKEN token")
    );

    // Restarting with the same value changes nothing.
    server.restart();
    assert_eq!(tokens(&server, replacement).len(), 1);
}

#[cfg(unix)]
#[test]
fn the_data_dir_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = TestServer::start(ServerOptions::default());
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&server.data_dir()), 0o700);
    assert_eq!(mode(&server.data_dir().join("master.key")), 0o600);
    assert_eq!(
        server
            .api()
            .post("/v1/tenants", &json!({ "name": "acme" }))
            .status,
        201
    );
}
