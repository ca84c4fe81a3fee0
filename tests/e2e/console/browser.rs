//! The console in a real headless Chromium: sign in, a webhook's execution
//! appearing live, its steps, replay; tenant isolation (and disabling its
//! own instance); script payloads staying text; a bad token refused. Screenshots of each main page go to
//! `target/console-screenshots/`.

use serde_json::{Value, json};

use super::webdriver::{Browser, PAGE_DEADLINE};
use super::{Setup, XSS, screenshot_path};
use crate::server::{OPERATOR_TOKEN, poll};

/// Opens the console and signs in with `token`; waits for the overview.
fn sign_in(browser: &Browser, setup: &Setup, token: &str) {
    browser.goto(&setup.console());
    let input = browser.wait_for("#signin:not([hidden]) #token");
    browser.type_into(&input, token);
    browser.click(&browser.wait_for("#signin-button"));
    browser.wait_text("main[data-page=overview]", "queue depth");
}

/// `textContent` of the first match of `css` (also inside closed
/// `<details>`, which WebDriver's visible text leaves out).
fn content(browser: &Browser, css: &str) -> String {
    let script = format!(
        "const e = document.querySelector({}); return e ? e.textContent : null;",
        serde_json::to_string(css).unwrap()
    );
    browser
        .script(&script)
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn go(browser: &Browser, hash: &str) {
    browser.script(&format!(
        "location.hash = {};",
        serde_json::to_string(hash).unwrap()
    ));
}

#[test]
fn an_operator_watches_a_webhook_run_live_opens_it_and_replays_it() {
    let setup = Setup::start();
    let browser = Browser::start();
    sign_in(&browser, &setup, OPERATOR_TOKEN);
    browser.wait_text("main", "Per tenant");

    go(&browser, "#/executions");
    browser.wait_text("#executions-body", "No executions match.");
    // A mark that a reload would wipe.
    browser.script("window.__notReloaded = true;");
    let id = setup.order(
        &setup.acme,
        &json!({"order": "A-17", "note": "rush", "big": true}),
    );
    let execution = setup.finished(&id);
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    browser.wait_for(&format!("tr[data-execution='{id}'][data-status=succeeded]"));
    assert_eq!(
        browser.script("return window.__notReloaded === true;"),
        true
    );
    browser.screenshot(&screenshot_path("executions"));

    browser.click(&browser.wait_for(&format!("tr[data-execution='{id}'] a")));
    browser.wait_for(&format!(".execution[data-execution='{id}']"));
    let steps = execution["steps"].as_array().expect("steps");
    assert!(steps.len() >= 5, "{execution:#}");
    for step in steps {
        let path = step["path"].as_str().unwrap();
        let shown = content(
            &browser,
            &format!("details[data-step='{path}'] .step-output"),
        );
        let expected = serde_json::to_string_pretty(&step["output"]).unwrap();
        assert_eq!(shown, expected, "step {path}");
    }
    assert!(content(&browser, "details[data-step='receive']").contains("A-17"));
    let attempts: u64 = steps
        .iter()
        .map(|s| s["attempts"].as_u64().unwrap().max(1))
        .sum();
    assert_eq!(step_of(&execution, "charge")["attempts"], 2);
    assert_eq!(
        browser.find_all(".tl-bar").len() as u64,
        attempts,
        "one bar per step attempt"
    );
    assert_eq!(browser.find_all("[data-step=charge] .tl-failed").len(), 1);
    browser.screenshot(&screenshot_path("execution"));

    browser.click(&browser.wait_for("#replay"));
    let mut replay = String::new();
    let moved = poll(PAGE_DEADLINE, || {
        replay = browser
            .script("const e = document.querySelector('.execution'); return e ? e.dataset.execution : '';")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        !replay.is_empty() && replay != id
    });
    assert!(moved, "replay did not open the new execution");
    let replayed = setup.finished(&replay);
    assert_eq!(replayed["replay_of"], id.as_str());
    assert_eq!(replayed["status"], "succeeded");
    browser.wait_text(".execution", "Replay of");

    go(&browser, "#/components");
    browser.wait_text("main", "echo@1.0.0");
    browser.screenshot(&screenshot_path("components"));
    go(&browser, "#/integrations/shop/1");
    browser.wait_for(".diagram[data-flow=order] .node-branch");
    browser.wait_for(".diagram[data-flow=order] .node-loop [data-step=item]");
    browser.screenshot(&screenshot_path("integration"));
    go(&browser, &format!("#/instances/{}", setup.acme));
    browser.wait_text("main", "/hooks/");
    browser.wait_for(&format!("tr[data-execution='{id}']"));
    browser.screenshot(&screenshot_path("instance"));

    let failed = setup.hook(&setup.globex, "refund", &json!({}));
    assert_eq!(setup.finished(&failed)["status"], "failed");
    go(&browser, "#/overview");
    browser.wait_text(".overview", "payment provider answered 503");
    browser.screenshot(&screenshot_path("overview"));
}

fn step_of<'a>(execution: &'a Value, path: &str) -> &'a Value {
    execution["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == path)
        .unwrap_or_else(|| panic!("no step {path} in {execution:#}"))
}

#[test]
fn a_tenant_sees_no_other_tenants_instances_or_executions() {
    let setup = Setup::start();
    let theirs = setup.order(&setup.globex, &json!({"order": "G-1"}));
    setup.finished(&theirs);
    let ours = setup.order(&setup.acme, &json!({"order": "A-1"}));
    setup.finished(&ours);
    let browser = Browser::start();
    sign_in(&browser, &setup, &setup.acme_token);
    browser.wait_text("#who", "acme");

    go(&browser, "#/instances");
    browser.wait_for(&format!("tr[data-instance='{}']", setup.acme));
    assert!(browser.find_all("tr[data-instance]").len() == 1);
    assert!(!browser.body_text().contains(&setup.globex));

    go(&browser, "#/executions");
    browser.wait_for(&format!("tr[data-execution='{ours}']"));
    assert_eq!(browser.find_all("tr[data-execution]").len(), 1);

    go(&browser, &format!("#/instances/{}", setup.globex));
    browser.wait_text(".error-box", "not found");
    go(&browser, &format!("#/executions/{theirs}"));
    browser.wait_text(".error-box", "not found");
    assert!(!browser.body_text().contains("G-1"));

    // Its own instance it can disable from the console.
    go(&browser, &format!("#/instances/{}", setup.acme));
    browser.click(&browser.wait_for("#disable"));
    browser.wait_text(".page-title .badge", "disabled");
    browser.wait_for("#enable");
    let api = setup.server.api();
    assert_eq!(
        api.get(&format!("/v1/instances/{}", setup.acme)).json["status"],
        "disabled"
    );
    assert_eq!(
        api.get(&format!("/v1/instances/{}", setup.globex)).json["status"],
        "active"
    );
}

#[test]
fn script_payloads_in_step_outputs_and_descriptions_stay_text() {
    let setup = Setup::start();
    let id = setup.order(&setup.acme, &json!({"order": XSS, "note": XSS}));
    let execution = setup.finished(&id);
    assert_eq!(execution["steps"][0]["output"]["note"], XSS);
    let wasm = std::fs::read(weft_tests::component_path(weft_tests::FIXTURE_MARKUP)).unwrap();
    let pushed = setup
        .server
        .api()
        .post_bytes("/v1/components", wasm, "application/wasm");
    assert_eq!(pushed.status, 201, "{pushed:?}");
    let browser = Browser::start();
    sign_in(&browser, &setup, OPERATOR_TOKEN);

    go(&browser, &format!("#/executions/{id}"));
    browser.wait_for(&format!(".execution[data-execution='{id}']"));
    let output = content(&browser, "details[data-step='receive'] .step-output");
    assert!(
        output.contains(&serde_json::to_string(XSS).unwrap()),
        "{output}"
    );
    go(&browser, "#/integrations/shop/1");
    let described = browser.wait_text(".description", "Orders for the shop");
    assert!(described.contains(XSS), "{described}");

    go(&browser, "#/components");
    let card = browser.wait_text(".component", "fixture-markup@1.0.0");
    assert!(
        card.contains("<script>window.__xss=4,alert(4)</script>"),
        "{card}"
    );
    assert!(card.contains("<b>Run</b>"), "{card}");
    let action = content(
        &browser,
        "[id='component-fixture-markup-1.0.0'] details.action",
    );
    assert!(
        action.contains("Action <img src=x onerror=window.__xss=5,alert(5)>"),
        "{action}"
    );

    let injected = browser.script(
        "return [window.__xss === undefined, document.querySelectorAll('main img, main script').length];",
    );
    assert_eq!(injected, json!([true, 0]));
    assert_eq!(browser.dialog(), None, "a dialog opened");
}

#[test]
fn a_bad_token_is_refused_at_sign_in() {
    let setup = Setup::start();
    let browser = Browser::start();
    browser.goto(&setup.console());
    let input = browser.wait_for("#signin:not([hidden]) #token");
    browser.type_into(&input, "weft_not-a-real-token");
    browser.click(&browser.wait_for("#signin-button"));
    let said = browser.wait_text("#signin-error", "refused");
    assert!(said.contains("not valid"), "{said}");
    assert_eq!(
        browser.script("return document.getElementById('app').hidden;"),
        Value::Bool(true)
    );
    browser.screenshot(&screenshot_path("signin-refused"));
}
