//! Secrets and the data dir: a secret's value never appears in an API
//! response, a log line or in clear in any file of the data dir; the master
//! key file is private; a data dir from a future schema is refused.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::{SECRET_INTEGRATION, tenant_with_token};
use crate::server::{ServerOptions, TestServer};
use crate::support::temp_dir;

const SECRET: &str = "s3cr3t-Value-7f2c9a41e8";
const NEW_SECRET: &str = "rotated-Value-b81d03c6aa";

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn secret_values_appear_nowhere_in_clear() {
    let mut server = TestServer::start(ServerOptions::with_builtins());
    let api = server.api();
    assert_eq!(api.push_integration(SECRET_INTEGRATION).status, 201);
    let token = tenant_with_token(&api, "acme");
    let tenant = server.api_as(Some(&token));

    let mut answers = Vec::new();
    let created = tenant.post(
        "/v1/instances",
        &json!({ "integration": "vault", "config": { "region": "us" }, "secrets": { "api_key": SECRET } }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json["secrets"], json!({ "api_key": "***" }));
    let id = created.json["id"].as_str().unwrap().to_owned();
    answers.push(created);
    answers.push(tenant.get(&format!("/v1/instances/{id}")));
    answers.push(api.get("/v1/instances"));
    answers.push(tenant.post(&format!("/v1/instances/{id}/enable"), &json!({})));
    answers.push(tenant.wait_settled(&id));
    // A rejected update must not echo the secret either.
    let rejected = tenant.patch(
        &format!("/v1/instances/{id}"),
        &json!({ "secrets": { "api_kee": SECRET } }),
    );
    assert_eq!(rejected.status, 422, "{rejected:?}");
    answers.push(rejected);
    let rotated = tenant.patch(
        &format!("/v1/instances/{id}"),
        &json!({ "secrets": { "api_key": NEW_SECRET } }),
    );
    assert_eq!(rotated.status, 200, "{rotated:?}");
    answers.push(rotated);
    // Config updates still validate the stored secret (it decrypts).
    let plain = tenant.patch(
        &format!("/v1/instances/{id}"),
        &json!({ "config": { "region": "eu" } }),
    );
    assert_eq!(plain.status, 200, "{plain:?}");
    answers.push(plain);

    for answer in &answers {
        for secret in [SECRET, NEW_SECRET] {
            assert!(
                !answer.text.contains(secret),
                "secret in API response: {}",
                answer.text
            );
        }
    }

    // Flush everything to disk, then search every file's bytes.
    server.restart();
    let shown = server.api().get(&format!("/v1/instances/{id}"));
    assert_eq!(shown.json["secrets"], json!({ "api_key": "***" }));
    assert_eq!(shown.json["config"], json!({ "region": "eu" }));
    let mut files = Vec::new();
    files_under(&server.data_dir(), &mut files);
    assert!(files.len() > 2, "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for secret in [SECRET, NEW_SECRET] {
            assert!(
                !contains(&bytes, secret),
                "secret in clear in {}",
                file.display()
            );
        }
    }
    let stderr = server.stderr();
    assert!(
        stderr.contains("instance created"),
        "logs are captured: {stderr}"
    );
    for secret in [SECRET, NEW_SECRET] {
        assert!(
            !stderr.contains(secret),
            "secret in the server log:\n{stderr}"
        );
    }

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = server.data_dir().join("master.key");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "master.key must be private");
    }
}

#[test]
fn a_data_dir_from_a_future_schema_is_refused() {
    let dir = temp_dir();
    {
        let db = sled::open(dir.path().join("data").join("db")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert("schema_version", &999u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let failure = TestServer::start_in(ServerOptions::default(), dir)
        .expect_err("a future schema must be refused");
    assert_eq!(failure.code, Some(1), "{failure:?}");
    assert!(
        failure.stderr.contains(
            "has storage schema version 999, but this weft only understands schema version 1"
        ),
        "{}",
        failure.stderr
    );
}

#[test]
fn without_an_operator_token_one_is_generated_and_printed_once() {
    let mut server = TestServer::start(ServerOptions {
        no_operator_token: true,
        ..ServerOptions::default()
    });
    // stderr is collected by a reader thread: wait for the line to arrive.
    assert!(
        server.wait_for_stderr("export WEFT_TOKEN=", Duration::from_secs(30)),
        "the generated token is printed: {}",
        server.stderr()
    );
    let stderr = server.stderr();
    let token = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("export WEFT_TOKEN="))
        .expect("the generated token is printed")
        .to_owned();
    assert_eq!(server.api_as(Some(&token)).get("/v1/tenants").status, 200);
    server.restart();
    let printed = server.stderr().matches("export WEFT_TOKEN=").count();
    assert_eq!(printed, 1, "printed only at first start");
    assert_eq!(server.api_as(Some(&token)).get("/v1/tenants").status, 200);
}
