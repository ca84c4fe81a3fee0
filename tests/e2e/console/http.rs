//! The console over plain HTTP: the session cookie's flags, the security
//! headers, CSRF and cross-origin refusals, sign-out and revocation, and
//! the execution event stream (`GET /v1/executions/events`, also through
//! `weft exec tail`) showing each tenant only its own executions.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use super::Setup;
use crate::server::OPERATOR_TOKEN;
use crate::support::weft_bin;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn client() -> Client {
    Client::builder().build().unwrap()
}

fn sign_in(setup: &Setup, token: &str) -> Response {
    client()
        .post(format!("{}/session", setup.console()))
        .header("content-type", "application/json")
        .body(json!({ "token": token }).to_string())
        .send()
        .unwrap()
}

/// Signs in; returns the `Cookie` header value and the CSRF token.
fn session(setup: &Setup, token: &str) -> (String, String) {
    let resp = sign_in(setup, token);
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let body: Value = resp.json().unwrap();
    (pair, body["csrf"].as_str().unwrap().to_owned())
}

#[test]
fn sign_in_sets_a_strict_http_only_cookie_and_pages_carry_a_strict_policy() {
    let setup = Setup::start();
    let resp = sign_in(&setup, OPERATOR_TOKEN);
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(
        !cookie.contains(OPERATOR_TOKEN),
        "the token is in the cookie"
    );
    let body: Value = resp.json().unwrap();
    assert_eq!(body["role"], "operator");
    assert!(!body.to_string().contains(OPERATOR_TOKEN));

    let page = client().get(setup.console()).send().unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let html = page.text().unwrap();
    // No inline script: every script element loads a file of this server.
    for tag in html.split("<script").skip(1) {
        assert!(
            tag.starts_with(" src=\"/console/assets/"),
            "inline script: {tag}"
        );
    }
    assert!(
        !html.contains(" on") || !html.contains("onclick="),
        "inline handler"
    );
    let script = client()
        .get(format!("{}/assets/core.js", setup.console()))
        .send()
        .unwrap();
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(script.headers()["content-security-policy"], CSP);
    let missing = client()
        .get(format!("{}/assets/nope.js", setup.console()))
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[test]
fn a_bad_token_or_a_form_post_cannot_sign_in() {
    let setup = Setup::start();
    let resp = sign_in(&setup, "weft_unknown");
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("set-cookie").is_none());
    let body: Value = resp.json().unwrap();
    assert_eq!(
        body["error"],
        "this token is not valid: it is unknown or was revoked"
    );
    // A cross-site HTML form can only send form encodings.
    let form = client()
        .post(format!("{}/session", setup.console()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={OPERATOR_TOKEN}"))
        .send()
        .unwrap();
    assert_eq!(form.status(), 415);
    assert!(form.headers().get("set-cookie").is_none());
    let unsigned = client()
        .get(format!("{}/api/instances", setup.console()))
        .send()
        .unwrap();
    assert_eq!(unsigned.status(), 401);
}

#[test]
fn changes_need_the_sessions_csrf_token_and_the_own_origin() {
    let setup = Setup::start();
    let id = setup.order(&setup.acme, &json!({"order": "A-1"}));
    setup.finished(&id);
    let (cookie, csrf) = session(&setup, OPERATOR_TOKEN);
    let replay = format!("{}/api/executions/{id}/replay", setup.console());
    let count = || {
        setup.server.api().get("/v1/executions?limit=500").json["executions"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = count();
    let post = |csrf: Option<&str>, origin: Option<&str>| {
        let mut req = client()
            .post(&replay)
            .header("cookie", &cookie)
            .json(&json!({}));
        if let Some(csrf) = csrf {
            req = req.header("x-weft-csrf", csrf);
        }
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.send().unwrap()
    };
    let refused = post(None, None);
    assert_eq!(refused.status(), 403);
    assert!(refused.text().unwrap().contains("X-Weft-Csrf"));
    assert_eq!(post(Some("wrong"), None).status(), 403);
    assert_eq!(post(Some(&csrf), Some("http://evil.example")).status(), 403);
    assert_eq!(count(), before, "a refused request started something");
    let origin = setup.server.url().to_owned();
    let accepted = post(Some(&csrf), Some(&origin));
    assert_eq!(accepted.status(), 202);
    assert_eq!(count(), before + 1);

    // Reads need no CSRF token; sign-out does.
    let read = |cookie: &str| {
        client()
            .get(format!("{}/api/executions/{id}", setup.console()))
            .header("cookie", cookie)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(read(&cookie), 200);
    let out = |csrf: Option<&str>| {
        let mut req = client()
            .delete(format!("{}/session", setup.console()))
            .header("cookie", &cookie);
        if let Some(csrf) = csrf {
            req = req.header("x-weft-csrf", csrf);
        }
        req.send().unwrap()
    };
    assert_eq!(out(None).status(), 403);
    assert_eq!(read(&cookie), 200);
    let signed_out = out(Some(&csrf));
    assert_eq!(signed_out.status(), 204);
    assert!(
        signed_out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(read(&cookie), 401);
}

#[test]
fn the_console_shows_a_tenant_what_the_api_shows_it_and_a_revoked_token_ends_the_session() {
    let setup = Setup::start();
    let (cookie, _) = session(&setup, &setup.acme_token);
    let get = |path: &str| {
        client()
            .get(format!("{}/api{path}", setup.console()))
            .header("cookie", &cookie)
            .send()
            .unwrap()
    };
    let instances: Value = get("/instances").json().unwrap();
    let ids: Vec<&str> = instances
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [setup.acme.as_str()]);
    assert_eq!(get(&format!("/instances/{}", setup.globex)).status(), 404);
    assert_eq!(get("/tokens").status(), 403);

    let tokens = setup.server.api().get("/v1/tokens").json;
    let token_id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"] == "acme")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        setup
            .server
            .api()
            .delete(&format!("/v1/tokens/{token_id}"))
            .status,
        204
    );
    assert_eq!(get("/instances").status(), 401);
    let whoami = client()
        .get(format!("{}/session", setup.console()))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(whoami.status(), 401);
}

/// Lines of an event stream, read on a thread.
fn stream_lines(setup: &Setup, token: &str) -> mpsc::Receiver<String> {
    let resp = Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(format!("{}/v1/executions/events", setup.server.url()))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads `lines` until one satisfies `done`; returns everything read.
fn read_until(lines: &mpsc::Receiver<String>, mut done: impl FnMut(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + crate::executions::FINISH_DEADLINE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left.max(Duration::from_millis(1)))
            .unwrap_or_else(|_| {
                panic!(
                    "the stream never showed what was awaited; it showed:\n{}",
                    seen.join("\n")
                )
            });
        let stop = done(&line);
        seen.push(line);
        if stop {
            return seen;
        }
    }
}

fn succeeded(line: &str, id: &str) -> bool {
    line.starts_with("data:") && line.contains(id) && line.contains("\"succeeded\"")
}

#[test]
fn execution_events_show_each_tenant_only_its_own() {
    let setup = Setup::start();
    let acme = stream_lines(&setup, &setup.acme_token);
    let operator = stream_lines(&setup, OPERATOR_TOKEN);
    read_until(&acme, |l| l == "event: ready");
    read_until(&operator, |l| l == "event: ready");
    let theirs = setup.order(&setup.globex, &json!({"order": "G-1"}));
    setup.finished(&theirs);
    let ours = setup.order(&setup.acme, &json!({"order": "A-1"}));
    setup.finished(&ours);
    let seen = read_until(&acme, |l| succeeded(l, &ours));
    assert!(seen.iter().all(|l| !l.contains(&theirs)), "{seen:#?}");
    let all = read_until(&operator, |l| succeeded(l, &ours)).join("\n");
    assert!(all.contains(&theirs), "the operator sees every tenant's");

    let openapi = setup.server.api().get("/v1/openapi.json").json;
    assert!(openapi["paths"]["/v1/executions/events"]["get"].is_object());
}

#[test]
fn weft_exec_tail_prints_a_tenants_executions_as_they_change() {
    let setup = Setup::start();
    let mut child = Command::new(weft_bin())
        .args(["exec", "tail", "--json"])
        .env("WEFT_SERVER", setup.server.url())
        .env("WEFT_TOKEN", &setup.acme_token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out_tx = tx.clone();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = out_tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(format!("stderr: {line}"));
        }
    });
    read_until(&rx, |l| l.contains("following executions"));
    let theirs = setup.order(&setup.globex, &json!({"order": "G-1"}));
    setup.finished(&theirs);
    let ours = setup.order(&setup.acme, &json!({"order": "A-1"}));
    setup.finished(&ours);
    let seen = read_until(&rx, |l| {
        serde_json::from_str::<Value>(l)
            .is_ok_and(|e| e["id"] == ours.as_str() && e["status"] == "succeeded")
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.iter().all(|l| !l.contains(&theirs)), "{seen:#?}");
}
