//! The flow engine through `weft run` (no server): template typing and
//! bounds, branch, for_each (order, concurrency, a failing item), respond,
//! `on_error: continue`, retries and the idempotency key, and redaction.

use serde_json::{Value, json};

use crate::support::{temp_dir, weft};

/// Runs `flow` of the integration `yaml` on `payload`; returns the exit
/// code and the `--json` report.
fn run_flow(
    yaml: &str,
    flow: &str,
    payload: Value,
    extra: &[&str],
) -> (Option<i32>, Value, String) {
    let dir = temp_dir();
    let file = dir.path().join("integration.yaml");
    let payload_file = dir.path().join("payload.json");
    std::fs::write(&file, yaml).unwrap();
    std::fs::write(&payload_file, payload.to_string()).unwrap();
    let mut args: Vec<String> = vec![
        "run".into(),
        file.display().to_string(),
        "--flow".into(),
        flow.into(),
        "--payload".into(),
        payload_file.display().to_string(),
        "--components".into(),
        weft_tests::COMPONENTS_DIR.into(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = weft(&args);
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("--json output is not json ({e}): {run:?}"));
    (run.code, report, run.stderr)
}

fn step<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == path)
        .unwrap_or_else(|| panic!("no step {path} in {report:#}"))
}

const HEADER: &str = "name: t\nversion: 1\n";

#[test]
fn single_expression_keeps_its_type_and_mixed_text_is_a_string() {
    let yaml = format!(
        r#"{HEADER}flows:
  - name: f
    trigger: {{ type: manual }}
    steps:
      - id: e
        component: echo@1.0.0
        action: echo
        input:
          n: "{{{{ trigger.body.n }}}}"
          b: "{{{{ trigger.body.b }}}}"
          o: "{{{{ trigger.body.o }}}}"
          a: "{{{{ trigger.body.a }}}}"
          missing: "{{{{ trigger.body.nothing }}}}"
          mixed: "n={{{{ trigger.body.n }}}}"
          sum: "{{{{ trigger.body.n + 1 }}}}"
"#
    );
    let payload = json!({"n": 41, "b": true, "o": {"k": [1]}, "a": [1, "x"]});
    let (code, report, _) = run_flow(&yaml, "f", payload, &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        report["output"],
        json!({"n": 41, "b": true, "o": {"k": [1]}, "a": [1, "x"], "missing": null, "mixed": "n=41", "sum": 42})
    );
}

#[test]
fn runaway_template_fails_cleanly() {
    let yaml = format!(
        r#"{HEADER}flows:
  - name: f
    trigger: {{ type: manual }}
    steps:
      - id: e
        component: echo@1.0.0
        action: echo
        input: {{ x: "{{% for i in range(10000) %}}{{% for j in range(10000) %}}x{{% endfor %}}{{% endfor %}}" }}
"#
    );
    let (code, report, _) = run_flow(&yaml, "f", json!({}), &[]);
    assert_eq!(code, Some(1));
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("step 'e' failed: input.x:"), "{error}");
    assert!(error.contains("fuel"), "{error}");
}

const CONTROL: &str = r#"flows:
  - name: f
    trigger: { type: webhook, mode: sync }
    steps:
      - id: first
        component: echo@1.0.0
        action: echo
        input: { qty: "{{ trigger.body.qty }}", items: "{{ trigger.body.items }}" }
      - id: route
        branch:
          - when: "{{ steps.first.qty > 5 }}"
            steps:
              - { id: big, component: echo@1.0.0, action: echo, input: { size: big } }
          - else:
              - { id: small, component: echo@1.0.0, action: echo, input: { size: small } }
      - id: each
        for_each: "{{ steps.first.items }}"
        concurrency: 3
        steps:
          - { id: nap, component: echo@1.0.0, action: sleep, input: { ms: "{{ item.ms }}" } }
          - id: check
            branch:
              - when: "{{ item.bad }}"
                steps:
                  - { id: boom, component: echo@1.0.0, action: fail, input: { kind: fatal, message: "item {{ index }} is bad" } }
          - { id: out, component: echo@1.0.0, action: echo, input: { index: "{{ index }}", slept: "{{ steps.nap.slept_ms }}" } }
      - id: reply
        respond: { status: 201, headers: { x-route: "{{ steps.route.size }}" }, body: { route: "{{ steps.route }}", each: "{{ steps.each }}" } }
"#;

#[test]
fn branch_for_each_and_respond() {
    let payload = json!({"qty": 7, "items": [{"ms": 60}, {"ms": 30}, {"ms": 1}]});
    let (code, report, _) = run_flow(&format!("{HEADER}{CONTROL}"), "f", payload, &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["response"]["status"], 201);
    assert_eq!(report["response"]["headers"]["x-route"], "big");
    let each = &report["response"]["body"]["each"];
    // Results in item order although later items finished first.
    let indexes: Vec<&Value> = each
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["index"])
        .collect();
    assert_eq!(indexes, [&json!(0), &json!(1), &json!(2)]);
    assert!(each[0]["slept"].as_u64().unwrap() >= 60, "{each}");
    assert_eq!(report["response"]["body"]["route"], json!({"size": "big"}));
    assert_eq!(step(&report, "route.big")["status"], "succeeded");
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["path"] != "route.small")
    );
}

#[test]
fn a_failing_item_fails_the_loop_and_the_flow() {
    let payload = json!({"qty": 1, "items": [{"ms": 1}, {"ms": 1, "bad": true}, {"ms": 1}]});
    let (code, report, _) = run_flow(&format!("{HEADER}{CONTROL}"), "f", payload, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(report["status"], "failed");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("each[1].check.boom"), "{error}");
    assert!(error.contains("fatal error: item 1 is bad"), "{error}");
    assert_eq!(step(&report, "each[1].check.boom")["status"], "failed");
    assert_eq!(step(&report, "each[0].out")["status"], "succeeded");
    assert!(report["response"].is_null(), "no respond step ran");
}

#[test]
fn on_error_continue_exposes_the_error() {
    let yaml = format!(
        r#"{HEADER}flows:
  - name: f
    trigger: {{ type: manual }}
    steps:
      - {{ id: bad, component: echo@1.0.0, action: fail, on_error: continue, input: {{ kind: upstream, message: down }} }}
      - {{ id: after, component: echo@1.0.0, action: echo, input: {{ code: "{{{{ steps.bad.error.code }}}}", msg: "{{{{ steps.bad.error.message }}}}" }} }}
"#
    );
    let (code, report, _) = run_flow(&yaml, "f", json!({}), &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        report["output"],
        json!({"code": "guest", "msg": "upstream error: down"})
    );
    assert_eq!(step(&report, "bad")["status"], "failed");
}

fn retry_flow(action: &str, input: &str) -> String {
    format!(
        r#"{HEADER}flows:
  - name: f
    trigger: {{ type: manual }}
    steps:
      - id: s
        component: echo@1.0.0
        action: {action}
        input: {input}
        retry: {{ attempts: 3, backoff: exponential, initial: 10ms }}
"#
    )
}

#[test]
fn upstream_errors_are_retried_until_success_with_a_stable_key() {
    let (code, report, _) = run_flow(
        &retry_flow("flaky", "{ fail_times: 2 }"),
        "f",
        json!({}),
        &[],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(step(&report, "s")["attempts"], 3);
    assert_eq!(report["output"]["attempt"], 3);
    let execution_id = report["execution_id"].as_str().unwrap();
    assert_eq!(
        report["output"]["idempotency_key"],
        weft::flow::idempotency_key(execution_id, "s")
    );
}

#[test]
fn retries_stop_after_the_last_attempt() {
    let (code, report, _) = run_flow(
        &retry_flow("flaky", "{ fail_times: 5 }"),
        "f",
        json!({}),
        &[],
    );
    assert_eq!(code, Some(1));
    assert_eq!(step(&report, "s")["attempts"], 3);
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("attempt 3 of a flaky upstream failed")
    );
}

#[test]
fn fatal_errors_are_not_retried() {
    let (code, report, _) = run_flow(
        &retry_flow("fail", "{ kind: fatal, message: nope }"),
        "f",
        json!({}),
        &[],
    );
    assert_eq!(code, Some(1));
    assert_eq!(step(&report, "s")["attempts"], 1);
    assert_eq!(step(&report, "s")["error"]["retryable"], false);
}

#[test]
fn secrets_used_in_templates_are_redacted_everywhere() {
    let yaml = format!(
        r#"{HEADER}config:
  - {{ key: token, type: secret, required: true }}
flows:
  - name: f
    trigger: {{ type: manual }}
    steps:
      - {{ id: e, component: echo@1.0.0, action: echo, input: {{ auth: "Bearer {{{{ config.token }}}}" }} }}
      - {{ id: l, component: echo@1.0.0, action: fail, input: {{ kind: fatal, message: "leak {{{{ config.token }}}}" }} }}
"#
    );
    let secret = "s3cr3t-value-42";
    let (code, report, stderr) = run_flow(
        &yaml,
        "f",
        json!({}),
        &["--secret", &format!("token={secret}")],
    );
    assert_eq!(code, Some(1));
    let text = report.to_string();
    assert!(
        !text.contains(secret),
        "secret leaked into the report: {text}"
    );
    assert!(
        !stderr.contains(secret),
        "secret leaked into stderr: {stderr}"
    );
    assert_eq!(step(&report, "e")["input"]["auth"], "Bearer ***");
    assert!(report["error"].as_str().unwrap().contains("leak ***"));
}
