//! Integration uploads: broken files rejected with every problem's path
//! and message, immutability, list and show.

use serde_json::json;

use super::{hello_integration, server_with_hello};

/// A flow with one step, `step` indented as a list item under `steps:`.
fn with_step(step: &str) -> String {
    format!(
        "name: t\nversion: 1\nflows:\n  - name: f\n    trigger: {{ type: webhook }}\n    steps:\n{step}"
    )
}

fn with_trigger(trigger: &str) -> String {
    format!(
        "name: t\nversion: 1\nconfig:\n  - {{ key: api_key, type: secret }}\n  - {{ key: base_url, type: string }}\nflows:\n  - name: f\n    trigger: {trigger}\n    steps:\n      - id: a\n        component: echo@1.0.0\n        action: echo\n"
    )
}

#[test]
fn broken_files_are_422_with_path_and_message() {
    let server = server_with_hello();
    let api = server.api();
    let echo = "component: echo@1.0.0\n        action: echo";
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "integration file is empty"),
        (
            "name: t\nversion: 1\nflow: []\n".into(),
            "flow: unknown field `flow`",
        ),
        (
            r#"{ "name": "t", "version": "3", "flows": [] }"#.into(),
            "version: invalid type: string \"3\", expected u32",
        ),
        (
            with_step("      - id: a\n        component: echo@1.0.0\n        action: ehco\n"),
            "flows[0].steps[0].action: component echo@1.0.0 has no action 'ehco'; did you mean 'echo'?",
        ),
        (
            with_step("      - id: a\n        component: echo@1.0.1\n        action: echo\n"),
            "flows[0].steps[0].component: unknown component 'echo@1.0.1'; did you mean 'echo@1.0.0'?",
        ),
        (
            with_step("      - id: a\n        component: echoo@1.0.0\n        action: echo\n"),
            "flows[0].steps[0].component: unknown component 'echoo@1.0.0'; did you mean 'echo@1.0.0'?",
        ),
        (
            with_step(&format!(
                "      - id: a\n        {echo}\n      - id: a\n        {echo}\n"
            )),
            "flows[0].steps[1].id: duplicate step id 'a' (first used at flows[0].steps[0])",
        ),
        (
            with_step(&format!(
                "      - id: a\n        {echo}\n        input: {{ x: '{{{{ steps.b.y }}}}' }}\n      - id: b\n        {echo}\n"
            )),
            "flows[0].steps[0].input.x: references step 'b' which does not run before this step",
        ),
        (
            with_step(&format!(
                "      - id: a\n        {echo}\n        input: {{ x: '{{{{ trigger.body. }}}}' }}\n"
            )),
            "flows[0].steps[0].input.x: invalid template \"{{ trigger.body. }}\": syntax error",
        ),
        (
            with_trigger("{ type: schedule, cron: '0 25 * * *' }"),
            "flows[0].trigger.cron: invalid cron expression \"0 25 * * *\"",
        ),
        (
            with_trigger("{ type: schedule, cron: '@daily', timezone: America/Chicgo }"),
            "flows[0].trigger.timezone: unknown time zone 'America/Chicgo'; did you mean 'America/Chicago'?",
        ),
        (
            with_trigger(
                "{ type: webhook, auth: { hmac_sha256: { header: X-Sig, secret: '{{ config.base_url }}' } } }",
            ),
            "flows[0].trigger.auth.hmac_sha256.secret: config 'base_url' has type string; the signing secret must be a config variable of type secret",
        ),
        (
            with_trigger("{ type: webhook, timeout: 5s }"),
            "flows[0].trigger.timeout: a timeout applies only to sync webhooks",
        ),
        (
            with_trigger("{ type: webhok }"),
            "flows[0].trigger: unknown variant `webhok`",
        ),
    ];
    assert!(cases.len() >= 10);
    for (file, expected) in &cases {
        let answer = api.push_integration(file);
        assert_eq!(answer.status, 422, "{file}\n{answer:?}");
        let details: Vec<&str> = answer.json["details"]
            .as_array()
            .expect("details")
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert!(
            details.iter().any(|d| d.starts_with(expected)),
            "expected {expected:?} among {details:?}\nfile:\n{file}"
        );
        assert!(
            answer.error().starts_with("integration is invalid"),
            "{answer:?}"
        );
    }
    // Nothing broken was stored.
    assert_eq!(
        api.get("/v1/integrations").json.as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let server = server_with_hello();
    let file = with_step(
        "      - id: a\n        component: echo@1.0.0\n        action: ehco\n      - id: b\n        component: nope@1.0.0\n        action: x\n",
    );
    let answer = server.api().push_integration(&file);
    assert_eq!(answer.status, 422, "{answer:?}");
    assert_eq!(answer.error(), "integration is invalid: 2 problems");
    assert_eq!(
        answer.json["details"].as_array().map(Vec::len),
        Some(2),
        "{answer:?}"
    );
}

#[test]
fn versions_are_immutable_and_listed() {
    let server = server_with_hello();
    let api = server.api();
    let same = api.push_integration(&hello_integration());
    assert_eq!(same.status, 200, "same text is a no-op: {same:?}");
    let changed =
        api.push_integration(&hello_integration().replace("default: \"hello\"", "default: \"hi\""));
    assert_eq!(changed.status, 409, "{changed:?}");
    assert_eq!(
        changed.error(),
        "integration hello@1 already exists with different content; integration versions are immutable, bump the version"
    );
    let v2 = hello_integration().replace("version: 1", "version: 2");
    assert_eq!(api.push_integration(&v2).status, 201);
    // JSON works as well as YAML.
    let json_file = json!({
        "name": "hello-json", "version": 1,
        "flows": [{ "name": "f", "trigger": { "type": "manual" },
                    "steps": [{ "id": "a", "component": "echo@1.0.0", "action": "echo" }] }]
    });
    assert_eq!(api.push_integration(&json_file.to_string()).status, 201);

    let list = api.get("/v1/integrations");
    let refs: Vec<String> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{}@{}", i["name"].as_str().unwrap(), i["version"]))
        .collect();
    assert_eq!(refs, ["hello@1", "hello@2", "hello-json@1"]);
    let latest = api.get("/v1/integrations/hello");
    assert_eq!(latest.json["version"], 2);
    assert!(latest.json["text"].as_str().unwrap().contains("version: 2"));
    let flows = &api.get("/v1/integrations/hello/1").json["flows"];
    assert_eq!(
        flows,
        &json!([{ "name": "hello", "trigger": "webhook" }, { "name": "echo", "trigger": "webhook" }])
    );
    assert_eq!(api.get("/v1/integrations/hello/7").status, 404);
}

/// Step inputs are checked against the action's input schema at upload: a
/// missing required field, a literal of the wrong type and an unknown field
/// of a closed schema are refused with their path; templated values pass.
#[test]
fn step_inputs_are_checked_against_the_action_input_schema() {
    let server = server_with_hello();
    let api = server.api();
    let http = std::fs::read(weft_tests::component_path("http")).expect("read http.wasm");
    let pushed = api.push_component(http);
    assert!(pushed.status == 201 || pushed.status == 200, "{pushed:?}");
    let file = with_step(concat!(
        "      - id: a\n        component: echo@1.0.0\n        action: sleep\n        input: { seconds: 1 }\n",
        "      - id: b\n        component: echo@1.0.0\n        action: sleep\n        input: { ms: ten }\n",
        "      - id: c\n        component: http@1.0.0\n        action: request\n        input: { url: 'http://127.0.0.1:1/', methd: POST }\n",
        "      - id: d\n        component: echo@1.0.0\n        action: fetch\n",
    ));
    let answer = api.push_integration(&file);
    assert_eq!(answer.status, 422, "{answer:?}");
    let details: Vec<&str> = answer.json["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "flows[0].steps[0].input.ms: required by action 'sleep' of echo@1.0.0",
            "flows[0].steps[1].input.ms: action 'sleep' of echo@1.0.0 expects an integer here, got a string",
            "flows[0].steps[2].input.methd: unknown field of action 'request' of http@1.0.0; did you mean 'method'?",
            "flows[0].steps[3].input.url: required by action 'fetch' of echo@1.0.0",
        ],
        "{answer:?}"
    );

    // Templated values are left to run time; a whole-input template too.
    let templated = with_step(concat!(
        "      - id: a\n        component: echo@1.0.0\n        action: sleep\n        input: { ms: '{{ trigger.body.ms }}' }\n",
        "      - id: b\n        component: echo@1.0.0\n        action: fetch\n        input: '{{ trigger.body }}'\n",
        "      - id: c\n        component: http@1.0.0\n        action: request\n        input: { url: 'http://127.0.0.1:1/', method: POST, json: { any: [1] } }\n",
    ));
    let ok = api.push_integration(&templated);
    assert_eq!(ok.status, 201, "{ok:?}");
}

/// Every shipped example integration passes upload validation against the
/// components it names.
#[test]
fn shipped_example_integrations_validate() {
    // `queue-orders` names broker `events`: configure one (nothing needs
    // to listen there for an upload to validate).
    let server = crate::server::TestServer::start(crate::server::ServerOptions {
        config: Some(format!(
            "[brokers.events]\nurl = \"nats://127.0.0.1:{}\"\n",
            crate::nats::free_port()
        )),
        ..crate::server::ServerOptions::with_builtins()
    });
    let api = server.api();
    for name in ["http", "orders-example", "files", "transform"] {
        let bytes = std::fs::read(weft_tests::component_path(name)).expect("read component");
        let pushed = api.push_component(bytes);
        assert!(
            pushed.status == 201 || pushed.status == 200,
            "{name}: {pushed:?}"
        );
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../components/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("examples dir") {
        let path = entry.expect("entry").path().join("integration.yaml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let answer = api.push_integration(&text);
        assert!(
            answer.status == 201 || answer.status == 200,
            "{}: {answer:?}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} examples found");
}
