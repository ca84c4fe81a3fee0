//! Secret hygiene around the sandbox (issue 10): secrets and credential
//! headers never reach a stored or served copy or the server log, in any
//! common encoding or derived form; a resumed run still computes with
//! them (sealed copies); `for_each` shares the context and is bounded.

mod logs;
mod loops;
mod records;
mod resume;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::server::{ServerOptions, TestServer};
use crate::triggers::LOOPBACK_CONFIG;

/// The instance's API key.
pub const SECRET: &str = "s3cr3t-Value-7f2c9a41e8";
/// The instance's signing key.
pub const SIGNING_KEY: &str = "signing-Key-0b9e77d2c4f1";
/// The config `user` the flows combine with the secret.
pub const USER: &str = "svc";

/// Flows using the secret in every way the issue lists.
pub const INTEGRATION: &str = r#"
name: hygiene
version: 1
config:
  - { key: api_key, type: secret, required: true }
  - { key: signing_key, type: secret, required: true }
  - { key: user, type: string, default: svc }
  - { key: sink, type: string, default: "http://127.0.0.1:9" }
flows:
  - name: answer
    trigger: { type: webhook, mode: sync }
    steps:
      - id: reply
        respond:
          status: 200
          headers:
            x-token: "{{ config.api_key }}"
            x-basic: "Basic {{ (config.user ~ ':' ~ config.api_key) | b64encode }}"
          body:
            key: "{{ config.api_key }}"
            upper: "{{ config.api_key | upper }}"
            b64: "{{ config.api_key | b64encode }}"
  - name: derived
    trigger: { type: webhook, mode: sync }
    steps:
      - id: rejected
        component: echo@1.0.0
        action: fail
        on_error: continue
        input: { kind: fatal, message: "rejected {{ config.api_key | b64encode }} and {{ config.api_key | lower }}" }
      - id: creds
        component: echo@1.0.0
        action: echo
        input:
          authorization: "Basic {{ (config.user ~ ':' ~ config.api_key) | b64encode }}"
          upper: "{{ config.api_key | upper }}"
          lower: "{{ config.api_key | lower }}"
  - name: headers
    trigger:
      type: webhook
      mode: sync
      auth: { hmac_sha256: { header: X-Acme-Sig, secret: "{{ config.signing_key }}" } }
    steps:
      - id: seen
        component: echo@1.0.0
        action: echo
        input:
          authorization: "{{ trigger.headers.authorization }}"
          cookie: "{{ trigger.headers.cookie }}"
          api_key: "{{ trigger.headers['x-api-key'] }}"
          signature: "{{ trigger.headers['x-acme-sig'] }}"
          hub: "{{ trigger.headers['x-hub-signature-256'] }}"
          plain: "{{ trigger.headers['x-plain'] }}"
          auth_len: "{{ trigger.headers.authorization | length }}"
  - name: noisy
    trigger: { type: webhook }
    steps:
      - id: retried
        component: echo@1.0.0
        action: fail
        on_error: continue
        retry: { attempts: 3, backoff: constant, initial: 10ms }
        input: { kind: upstream, message: "upstream refused {{ config.api_key }} ({{ config.api_key | b64encode }})" }
      - id: templated
        component: echo@1.0.0
        action: echo
        on_error: continue
        input: { n: "{{ config.api_key | fromjson }}" }
      - id: fatal
        component: echo@1.0.0
        action: fail
        input: { kind: fatal, message: "fatal with {{ config.api_key | upper }}" }
  - name: relay
    trigger: { type: manual }
    steps:
      - id: creds
        component: echo@1.0.0
        action: echo
        input:
          key: "{{ config.api_key }}"
          basic: "Basic {{ (config.user ~ ':' ~ config.api_key) | b64encode }}"
          upper: "{{ config.api_key | upper }}"
      - id: call
        component: http@1.0.0
        action: request
        input:
          method: POST
          url: "{{ config.sink }}/call"
          headers: { authorization: "{{ steps.creds.basic }}", x-key: "{{ steps.creds.key }}" }
          json: { upper: "{{ steps.creds.upper }}" }
  - name: loop
    trigger: { type: webhook, mode: sync, timeout: 120s }
    steps:
      - id: each
        for_each: "{{ trigger.body.list }}"
        concurrency: 64
        steps:
          - id: check
            branch:
              - when: "{{ item.n < 0 }}"
                steps:
                  - { id: never, component: echo@1.0.0, action: echo, input: {} }
  - name: count
    trigger: { type: webhook, mode: sync, timeout: 120s }
    steps:
      - id: each
        for_each: "{{ range(trigger.body.n) }}"
        concurrency: 64
        steps:
          - { id: one, component: echo@1.0.0, action: echo, input: { i: "{{ item }}" } }
  - name: grid
    trigger: { type: webhook, mode: sync, timeout: 120s }
    steps:
      - id: rows
        for_each: "{{ range(trigger.body.n) }}"
        steps:
          - id: cols
            for_each: "{{ range(trigger.body.n) }}"
            steps:
              - { id: cell, component: echo@1.0.0, action: echo, input: { i: "{{ item }}" } }
"#;

/// A server with every built-in, loopback reachable, and `extra` appended
/// to its `weft.toml`.
pub fn server(extra: &str) -> TestServer {
    let server = TestServer::start(ServerOptions {
        config: Some(format!("{LOOPBACK_CONFIG}\n{extra}")),
        env: vec![("WEFT_LOG".into(), "info,weft=debug".into())],
        ..ServerOptions::with_all_builtins()
    });
    let pushed = server.api().push_integration(INTEGRATION);
    assert_eq!(pushed.status, 201, "{pushed:?}");
    server
}

/// An enabled instance of the test integration; returns its id.
pub fn instance(server: &TestServer, config: Value) -> String {
    crate::triggers::enabled(
        server,
        INTEGRATION,
        config,
        json!({ "api_key": SECRET, "signing_key": SIGNING_KEY }),
    )
}

/// Every form of the secrets a record must not hold: the secrets, their
/// case changes and encodings, and base64 of `user:secret`.
pub fn forbidden_forms() -> Vec<String> {
    let mut forms = Vec::new();
    for secret in [SECRET, SIGNING_KEY] {
        forms.extend([
            secret.to_owned(),
            secret.to_uppercase(),
            secret.to_lowercase(),
            STANDARD.encode(secret),
            URL_SAFE_NO_PAD.encode(secret),
            hex(secret),
            STANDARD.encode(format!("{USER}:{secret}")),
        ]);
    }
    forms
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Asserts no forbidden form (nor any of `extra`) occurs in `text`.
pub fn assert_clean(what: &str, text: &str, extra: &[&str]) {
    let lower = text.to_lowercase();
    for form in forbidden_forms()
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
    {
        assert!(
            !text.contains(form) && !lower.contains(&form.to_lowercase()),
            "{what} holds {form:?}:\n{text}"
        );
    }
}

/// Every file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Asserts no file of the server's data dir holds a forbidden form (nor
/// any of `extra`) in its bytes (restart the server first, so everything
/// is on disk).
pub fn assert_data_dir_clean(server: &TestServer, extra: &[&str]) {
    let files = files_under(&server.data_dir());
    assert!(files.len() > 2, "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for form in forbidden_forms()
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
        {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                "{form:?} in clear in {}",
                file.display()
            );
        }
    }
}
