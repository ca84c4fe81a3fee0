//! Tests of parsing and validation: the DESIGN.md example (filled in) passes
//! and round-trips, parse errors carry paths and lines, and instance config is
//! checked and resolved. The table of broken files is in `tests_broken.rs`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::*;

/// The DESIGN.md example with the `[ ... ]` placeholders filled in.
const EXAMPLE: &str = r#"
name: acme-orders
version: 3
description: Orders from Acme, checked against inventory.
config:
  - { key: acme_base_url, type: url,    required: true }
  - { key: acme_api_key,  type: secret, required: true }
  - { key: sync_cron,     type: cron,   default: "*/5 * * * *" }
  - { key: batch,         type: number, default: 50 }
flows:
  - name: deploy
    trigger: { type: deploy }          # runs when an instance is enabled
    steps:
      - id: register
        component: acme@1.0.0
        action: create-webhook
        input:
          url: "{{ instance.webhooks['order-request'] }}"
          api_key: "{{ config.acme_api_key }}"
  - name: order-request
    trigger:
      type: webhook
      mode: sync
      timeout: 30s
      auth: { hmac_sha256: { header: X-Acme-Signature, secret: "{{ config.acme_api_key }}" } }
    steps:
      - id: inventory
        component: acme@1.0.0
        action: check-inventory
        input: { sku: "{{ trigger.body.sku }}", qty: "{{ trigger.body.qty }}" }
        retry: { attempts: 3, backoff: exponential, initial: 200ms }
      - id: route
        branch:
          - when: "{{ steps.inventory.available }}"
            steps:
              - id: reserve
                component: acme@1.0.0
                action: reserve
                input: { sku: "{{ trigger.body.sku }}", qty: "{{ trigger.body.qty }}" }
              - id: confirm
                component: acme@1.0.0
                action: confirm
                input: { reservation: "{{ steps.reserve.id }}", checked: "{{ steps.inventory }}" }
          - else:
              - id: backorder
                component: acme@1.0.0
                action: backorder
                input: { sku: "{{ trigger.body.sku }}", have: "{{ steps.inventory.count }}" }
                on_error: continue
                timeout: 10s
      - id: reply
        respond:
          status: 200
          headers: { X-Route: "{{ 'reserved' if steps.inventory.available else 'backordered' }}" }
          body: "{{ steps.route }}"
  - name: nightly-report
    trigger: { type: schedule, cron: "{{ config.sync_cron }}", timezone: America/Chicago }
    steps:
      - id: list
        component: acme@1.0.0
        action: list-orders
        input: { limit: "{{ config.batch }}", since: "{{ execution.started_at }}" }
      - id: each_order
        for_each: "{{ steps.list.items }}"
        concurrency: 4
        steps:
          - id: fetch
            component: http@1.0.0
            action: request
            input: { url: "{{ config.acme_base_url }}/orders/{{ item.id }}", n: "{{ index }}" }
            retry: { attempts: 5, backoff: constant, initial: 1s, max: 1m }
          - id: summarize
            component: transform@1.0.0
            action: map
            input:
              order: "{{ steps.fetch.body }}"
              previous: "{{ steps.list.count }}"
              qtys: "{% for l in item.lines %}{{ l.qty }}{% if not loop.last %},{% endif %}{% endfor %}"
              total: "{% set ns = namespace(t=0) %}{% for l in item.lines %}{% set ns.t = ns.t + l.qty %}{% endfor %}{{ ns.t }}"
  - name: teardown
    trigger: { type: teardown }        # runs when an instance is disabled
    steps:
      - id: unregister
        component: acme@1.0.0
        action: delete-webhook
        input: { id: "{{ instance.id }}", n: "{{ range(3) | list | length }}" }
  - name: resync
    trigger: { type: manual }
    steps:
      - id: resync
        component: acme@1.0.0
        action: list-orders
  - name: router
    trigger: { type: webhook, preprocess: true }
    steps:
      - id: pick
        component: transform@1.0.0
        action: map
        input: { flow: "order-request", payload: "{{ trigger.body }}" }
"#;

pub(super) fn catalog() -> Catalog {
    let mut c = Catalog::default();
    let acme = [
        "create-webhook",
        "delete-webhook",
        "check-inventory",
        "reserve",
        "confirm",
        "backorder",
        "list-orders",
    ];
    c.insert("acme", "1.0.0", acme, ["api.acme.example:443"]);
    c.insert("acme", "2.0.0", acme, ["api.acme.example:443"]);
    c.insert("http", "1.0.0", ["request"], Vec::<String>::new());
    c.insert("transform", "1.0.0", ["map"], Vec::<String>::new());
    c
}

#[test]
fn design_example_is_valid() {
    let integration = parse(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    validate(&integration, &catalog()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(integration.flows.len(), 6);
    let Trigger::Webhook(w) = &integration.flows[1].trigger else {
        panic!("not a webhook")
    };
    assert_eq!(w.sync_timeout(), Some(std::time::Duration::from_secs(30)));
    let StepKind::Action(a) = &integration.flows[1].steps[0].kind else {
        panic!("not an action")
    };
    let retry = a.retry.as_ref().unwrap();
    assert_eq!((retry.attempts, retry.backoff), (3, Backoff::Exponential));
    assert_eq!(retry.delay_after(1).as_millis(), 200);
    assert_eq!(retry.delay_after(2).as_millis(), 400);
    assert_eq!(retry.max.duration.as_secs(), 30);
    assert_eq!(integration.preprocess_flow().unwrap().name, "router");
    assert_eq!(integration.flows[1].all_steps().len(), 6);
    assert_eq!(
        integration.components().into_iter().collect::<Vec<_>>(),
        ["acme@1.0.0", "http@1.0.0", "transform@1.0.0"]
    );
}

#[test]
fn serializes_back_to_the_same_shape() {
    let integration = parse(EXAMPLE).unwrap();
    let json = serde_json::to_string_pretty(&integration).unwrap();
    assert_eq!(parse(&json).unwrap(), integration);
    let yaml = serde_yaml::to_string(&integration).unwrap();
    assert_eq!(parse(&yaml).unwrap(), integration);
    let value = serde_json::to_value(&integration).unwrap();
    assert_eq!(value["flows"][1]["trigger"]["timeout"], json!("30s"));
    assert_eq!(value["flows"][1]["trigger"]["type"], json!("webhook"));
    assert_eq!(
        value["flows"][1]["steps"][0]["retry"]["initial"],
        json!("200ms")
    );
    assert_eq!(
        value["flows"][1]["steps"][1]["branch"][1]["else"][0]["id"],
        json!("backorder")
    );
    assert_eq!(
        value["flows"][2]["steps"][1]["for_each"],
        json!("{{ steps.list.items }}")
    );
    assert_eq!(value["flows"][2]["trigger"]["catch_up"], json!("skip"));
}

/// Wraps `flows` (YAML list items, indented by two spaces) in a file with a
/// few config variables.
pub(super) fn file(flows: &str) -> String {
    format!(
        r#"name: t
version: 1
config:
  - {{ key: api_key, type: secret }}
  - {{ key: base_url, type: string }}
  - {{ key: sync_cron, type: cron }}
  - {{ key: count, type: number }}
flows:
{flows}"#
    )
}

/// A file with one webhook flow (sync) whose steps are `steps`.
pub(super) fn steps(steps: &str) -> String {
    file(&format!(
        "  - name: f\n    trigger: {{ type: webhook, mode: sync }}\n    steps:\n{steps}"
    ))
}

/// Runs parse then validate; returns every error.
pub(super) fn errors_of(text: &str) -> Vec<ValidationError> {
    match parse(text) {
        Err(e) => e.0,
        Ok(integration) => match validate(&integration, &catalog()) {
            Ok(()) => Vec::new(),
            Err(e) => e.0,
        },
    }
}

#[test]
fn parse_errors_carry_line_numbers_and_root_errors_have_no_path() {
    let e = parse("name: t\nversion: 1\nflows:\n  - name: f\n    trigger: 7\n    steps: []\n")
        .unwrap_err();
    assert_eq!(e.0[0].path, "flows[0].trigger");
    assert!(e.to_string().contains("line 5"), "{e}");
    let e = parse("   \n").unwrap_err();
    assert_eq!(e.to_string(), "integration file is empty");
    let e = parse("{ \"name\": \"t\" } trailing").unwrap_err();
    assert!(e.0[0].path.is_empty(), "{e}");
}

fn instance_integration() -> Integration {
    parse(EXAMPLE).unwrap()
}

#[test]
fn instance_config_resolves_with_defaults_and_conversions() {
    let values: Map<String, Value> = serde_json::from_value(json!({
        "acme_base_url": "https://api.acme.example",
        "batch": "25",
    }))
    .unwrap();
    let secrets = BTreeMap::from([("acme_api_key".to_owned(), "s3cret".to_owned())]);
    let resolved = validate_instance_config(&instance_integration(), &values, &secrets).unwrap();
    assert_eq!(resolved.get("batch"), Some(&json!(25)));
    assert_eq!(resolved.get("sync_cron"), Some(&json!("*/5 * * * *")));
    assert_eq!(resolved.get("acme_api_key"), Some(&json!("s3cret")));
    assert!(resolved.is_secret("acme_api_key"));
    assert_eq!(resolved.secret_values().collect::<Vec<_>>(), ["s3cret"]);
    assert_eq!(resolved.redacted()["acme_api_key"], json!("***"));
    assert!(!format!("{resolved:?}").contains("s3cret"));

    // The schedule resolves through the config value.
    let integration = instance_integration();
    let Trigger::Schedule(s) = &integration.flows[2].trigger else {
        panic!("not a schedule")
    };
    let (schedule, tz) = schedule_for(s, &resolved).unwrap();
    assert_eq!(tz, chrono_tz::America::Chicago);
    let at = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:01:00Z")
        .unwrap()
        .to_utc();
    let next = next_after(&schedule, &tz, at).unwrap();
    assert_eq!(next.to_rfc3339(), "2024-05-01T10:05:00+00:00");
}

#[test]
fn instance_config_reports_every_problem() {
    let values: Map<String, Value> = serde_json::from_value(json!({
        "acme_base_urll": "https://x",
        "acme_api_key": "plain",
        "batch": "many",
        "sync_cron": "every day",
    }))
    .unwrap();
    let secrets = BTreeMap::from([("batch".to_owned(), "1".to_owned())]);
    let errors = validate_instance_config(&instance_integration(), &values, &secrets)
        .unwrap_err()
        .0;
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let expected = [
        "config.acme_api_key: 'acme_api_key' is a secret; give it as a secret, not as plain config",
        "config.acme_base_urll: unknown config key 'acme_base_urll'; did you mean 'acme_base_url'?",
        "secrets.batch: 'batch' is not a secret (type number); give it as plain config",
        "config.acme_base_url: missing required config 'acme_base_url'",
        "secrets.acme_api_key: missing required secret 'acme_api_key'",
        "config.sync_cron: invalid cron expression \"every day\": it has 2 fields",
        "config.batch: expected a number, got string \"many\"",
    ];
    for want in expected {
        assert!(
            got.iter().any(|g| g.starts_with(want)),
            "missing {want:?} in {got:#?}"
        );
    }
    assert_eq!(got.len(), expected.len(), "{got:#?}");
}

#[test]
fn instance_config_needs_values_triggers_use() {
    let text = file(
        "  - name: f\n    trigger: { type: schedule, cron: '{{ config.sync_cron }}' }\n    steps:\n      - id: a\n        component: acme@1.0.0\n        action: reserve\n",
    );
    let integration = parse(&text).unwrap();
    let errors = validate_instance_config(&integration, &Map::new(), &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert_eq!(
        errors,
        "config.sync_cron: 'sync_cron' has no value but the schedule of flow 'f' needs it"
    );
}
