//! The web console at `/console` against a real server: in a real headless
//! Chromium ([`browser`], through [`webdriver`]) and over plain HTTP
//! ([`http`]: cookie flags, the Content-Security-Policy, CSRF refusals,
//! the execution event stream per tenant, `weft exec tail`).
//!
//! Every test starts its own server with two tenants, `acme` and
//! `globex`, each with an enabled instance of [`INTEGRATION`] and a token.
//! Browser tests save screenshots under `target/console-screenshots/`.

mod browser;
mod http;
mod webdriver;

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::executions::FINISH_DEADLINE;
use crate::server::{Api, ServerOptions, TestServer, poll};

/// A script payload: run as markup, it would set `window.__xss` and open a
/// dialog.
pub const XSS: &str = "<img src=x onerror=\"window.__xss=1;alert('xss')\"><script>window.__xss=2;alert('xss')</script>";

/// The integration the console shows: a webhook flow with an action, a
/// branch, a loop (so the diagram has all three) and a step that succeeds
/// on its second attempt, a webhook flow that fails, and a description
/// carrying a script payload.
pub fn integration() -> String {
    format!(
        r#"
name: shop
version: 1
description: {description}
flows:
  - name: order
    trigger: {{ type: webhook }}
    steps:
      - id: receive
        component: echo@1.0.0
        action: echo
        input: {{ order: "{{{{ trigger.body.order }}}}", note: "{{{{ trigger.body.note }}}}" }}
      - id: route
        branch:
          - when: "{{{{ trigger.body.big }}}}"
            steps:
              - {{ id: big, component: echo@1.0.0, action: echo, input: {{ size: big }} }}
          - else:
              - {{ id: small, component: echo@1.0.0, action: echo, input: {{ size: small }} }}
      - id: each
        for_each: "{{{{ [1, 2] }}}}"
        steps:
          - {{ id: item, component: echo@1.0.0, action: echo, input: {{ n: "{{{{ item }}}}" }} }}
      - id: charge
        component: echo@1.0.0
        action: flaky
        input: {{ fail_times: 1 }}
        retry: {{ attempts: 3, backoff: exponential, initial: 50ms }}
  - name: refund
    trigger: {{ type: webhook }}
    steps:
      - id: refuse
        component: echo@1.0.0
        action: fail
        input: {{ kind: upstream, message: "payment provider answered 503" }}
"#,
        description = serde_json::to_string(&format!("Orders for the shop {XSS}")).unwrap()
    )
}

/// A server with two tenants, each with an enabled instance and a token (acme's kept).
pub struct Setup {
    /// The server.
    pub server: TestServer,
    /// acme's instance id.
    pub acme: String,
    /// globex's instance id.
    pub globex: String,
    /// acme's tenant token.
    pub acme_token: String,
}

impl Setup {
    /// Starts the server and creates both tenants.
    pub fn start() -> Self {
        let server = TestServer::start(ServerOptions::with_builtins());
        let api = server.api();
        let pushed = api.post_bytes(
            "/v1/integrations",
            integration().into_bytes(),
            "application/yaml",
        );
        assert_eq!(pushed.status, 201, "{pushed:?}");
        let (acme, acme_token) = tenant(&api, "acme");
        let (globex, _) = tenant(&api, "globex");
        Self {
            server,
            acme,
            globex,
            acme_token,
        }
    }

    /// The console's address.
    pub fn console(&self) -> String {
        format!("{}/console", self.server.url())
    }

    /// Posts `body` to `instance`'s `order` webhook; returns the
    /// execution id.
    pub fn order(&self, instance: &str, body: &Value) -> String {
        self.hook(instance, "order", body)
    }

    /// Posts `body` to `instance`'s webhook of `flow`; returns the
    /// execution id.
    pub fn hook(&self, instance: &str, flow: &str, body: &Value) -> String {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}/hooks/{instance}/{flow}", self.server.url()))
            .json(body)
            .send()
            .expect("post the webhook");
        assert_eq!(resp.status().as_u16(), 202);
        let answer: Value = resp.json().expect("a json answer");
        answer["execution_id"].as_str().expect("an id").to_owned()
    }

    /// Waits for an execution to end; returns it as the API shows it.
    pub fn finished(&self, id: &str) -> Value {
        let api = self.server.api();
        let mut last = Value::Null;
        let done = poll(FINISH_DEADLINE, || {
            last = api.get(&format!("/v1/executions/{id}")).json;
            matches!(last["status"].as_str(), Some("succeeded" | "failed"))
        });
        assert!(done, "execution {id} did not end: {last:#}");
        last
    }
}

/// Creates tenant `name`, an enabled instance of `shop@1` and a token.
fn tenant(api: &Api, name: &str) -> (String, String) {
    let created = api.post("/v1/tenants", &json!({ "name": name }));
    assert_eq!(created.status, 201, "{created:?}");
    let made = api.post(
        "/v1/instances",
        &json!({ "integration": "shop@1", "tenant": name }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let id = made.json["id"].as_str().unwrap().to_owned();
    let enabled = api.enable(&id);
    assert_eq!(enabled.json["status"], "active", "{enabled:?}");
    let token = api.post("/v1/tokens", &json!({ "tenant": name }));
    assert_eq!(token.status, 201, "{token:?}");
    (id, token.json["token"].as_str().unwrap().to_owned())
}

/// Where screenshots go: `target/console-screenshots/NAME.png`.
pub fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(weft_tests::COMPONENTS_DIR)
        .parent()
        .expect("components dir has a parent")
        .join("console-screenshots")
        .join(format!("{name}.png"))
}
