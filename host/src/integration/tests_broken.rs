//! A table of broken integration files, each with the path and message it
//! must be rejected with, plus a file with several problems reported at once.

use super::ValidationErrors;
use super::tests::{errors_of, file, steps};

#[test]
fn broken_files_report_path_and_reason() {
    let act = "component: acme@1.0.0\n        action: reserve";
    let cases: Vec<(String, &str, &str)> = vec![
        // ---- shape (parse) ----
        (
            steps(&format!("      - id: a\n        {act}\n        retry: {{ attempts: x }}\n")),
            "flows[0].steps[0].retry.attempts",
            "invalid type: string \"x\", expected u32",
        ),
        (
            steps(&format!("      - id: a\n        {act}\n        inptu: {{}}\n")),
            "flows[0].steps[0].inptu",
            "unknown field `inptu`, expected one of `id`",
        ),
        (
            steps(&format!("      - {act}\n")),
            "flows[0].steps[0]",
            "missing field `id`",
        ),
        (
            steps("      - id: a\n        component: acme@1.0.0\n        branch: []\n"),
            "flows[0].steps[0]",
            "step 'a' has both 'component' and 'branch'",
        ),
        (
            steps("      - id: a\n        component: acme@1.0.0\n"),
            "flows[0].steps[0]",
            "missing field `action`",
        ),
        (
            steps("      - id: a\n        respond: {}\n        retry: { attempts: 2 }\n"),
            "flows[0].steps[0]",
            "field 'retry' is not allowed on a respond step",
        ),
        (
            steps(&format!("      - id: a\n        {act}\n        timeout: 3x\n")),
            "flows[0].steps[0].timeout",
            "invalid duration \"3x\"",
        ),
        (
            steps("      - id: a\n        branch:\n          - when: \"{{ true }}\"\n"),
            "flows[0].steps[0].branch[0]",
            "missing field `steps`",
        ),
        (
            file("  - name: f\n    trigger: { type: schedule, cron: '* * * * *', mode: sync }\n    steps: []\n"),
            "flows[0].trigger",
            "field 'mode' is not allowed on a schedule trigger",
        ),
        (
            file("  - name: f\n    trigger: { type: deploy, cron: '* * * * *' }\n    steps: []\n"),
            "flows[0].trigger",
            "field 'cron' is not allowed on a deploy trigger (it takes no other keys)",
        ),
        (
            file("  - name: f\n    trigger: { type: webhok }\n    steps: []\n"),
            "flows[0].trigger",
            "unknown variant `webhok`",
        ),
        (
            file("  - name: f\n    trigger: { type: webhook, mode: sometimes }\n    steps: []\n"),
            "flows[0].trigger.mode",
            "unknown variant `sometimes`",
        ),
        (
            "name: t\nversion: 1\nflow: []\n".to_owned(),
            "flow",
            "unknown field `flow`",
        ),
        (
            "name: t\nversion: 1\nconfig:\n  - { key: k, type: text }\nflows: []\n".to_owned(),
            "config[0].type",
            "unknown variant `text`",
        ),
        (
            r#"{ "name": "t", "version": "3", "flows": [] }"#.to_owned(),
            "version",
            "invalid type: string \"3\", expected u32",
        ),
        // ---- integration and config ----
        (
            "name: Acme Orders\nversion: 0\nflows: []\n".to_owned(),
            "name",
            "invalid integration name \"Acme Orders\"",
        ),
        ("name: t\nversion: 0\nflows: []\n".to_owned(), "version", "version must be 1 or more"),
        (
            "name: t\nversion: 1\nconfig:\n  - { key: k, type: string }\n  - { key: k, type: number }\nflows: []\n"
                .to_owned(),
            "config[1].key",
            "duplicate config key 'k' (first declared at config[0])",
        ),
        (
            "name: t\nversion: 1\nconfig:\n  - { key: api-key, type: string }\nflows: []\n"
                .to_owned(),
            "config[0].key",
            "invalid config key \"api-key\"",
        ),
        (
            "name: t\nversion: 1\nconfig:\n  - { key: k, type: secret, default: hunter2 }\nflows: []\n"
                .to_owned(),
            "config[0].default",
            "a secret may not have a default",
        ),
        (
            "name: t\nversion: 1\nconfig:\n  - { key: k, type: number, default: five }\nflows: []\n"
                .to_owned(),
            "config[0].default",
            "expected a number, got string \"five\"",
        ),
        (
            "name: t\nversion: 1\nconfig:\n  - { key: k, type: cron, default: '61 * * * *' }\nflows: []\n"
                .to_owned(),
            "config[0].default",
            "invalid cron expression \"61 * * * *\"",
        ),
        (
            "name: t\nversion: 1\nconfig:\n  - { key: k, type: url, default: 'ftp://x' }\nflows: []\n"
                .to_owned(),
            "config[0].default",
            "invalid url \"ftp://x\"",
        ),
        // ---- flows and triggers ----
        (
            file(&format!(
                "  - name: f\n    trigger: {{ type: manual }}\n    steps:\n      - id: a\n        {act}\n  - name: f\n    trigger: {{ type: manual }}\n    steps:\n      - id: a\n        {act}\n"
            )),
            "flows[1].name",
            "duplicate flow name 'f' (first used at flows[0])",
        ),
        (
            file(&format!("  - name: orders/new\n    trigger: {{ type: manual }}\n    steps:\n      - id: a\n        {act}\n")),
            "flows[0].name",
            "invalid flow name \"orders/new\"",
        ),
        (
            file("  - name: f\n    trigger: { type: manual }\n    steps: []\n"),
            "flows[0].steps",
            "a flow needs at least one step",
        ),
        (
            file(&format!(
                "  - name: a\n    trigger: {{ type: webhook, preprocess: true }}\n    steps:\n      - id: a\n        {act}\n  - name: b\n    trigger: {{ type: webhook, preprocess: true }}\n    steps:\n      - id: a\n        {act}\n"
            )),
            "flows[1].trigger.preprocess",
            "only one flow may preprocess the shared webhook endpoint; flows[0] ('a') already does",
        ),
        (
            file(&format!("  - name: f\n    trigger: {{ type: webhook, timeout: 5s }}\n    steps:\n      - id: a\n        {act}\n")),
            "flows[0].trigger.timeout",
            "a timeout applies only to sync webhooks",
        ),
        (
            file(&format!("  - name: f\n    trigger: {{ type: webhook, auth: {{ hmac_sha256: {{ header: X-Sig, secret: hunter2 }} }} }}\n    steps:\n      - id: a\n        {act}\n")),
            "flows[0].trigger.auth.hmac_sha256.secret",
            "must be exactly \"{{ config.<key> }}\" naming a config variable of type secret",
        ),
        (
            file(&format!("  - name: f\n    trigger: {{ type: webhook, auth: {{ hmac_sha256: {{ header: X-Sig, secret: '{{{{ config.base_url }}}}' }} }} }}\n    steps:\n      - id: a\n        {act}\n")),
            "flows[0].trigger.auth.hmac_sha256.secret",
            "config 'base_url' has type string; the signing secret must be a config variable of type secret",
        ),
        (
            file(&format!("  - name: f\n    trigger: {{ type: webhook, auth: {{ hmac_sha256: {{ header: 'X Sig', secret: '{{{{ config.api_kye }}}}' }} }} }}\n    steps:\n      - id: a\n        {act}\n")),
            "flows[0].trigger.auth.hmac_sha256.secret",
            "references unknown config key 'api_kye'; did you mean 'api_key'?",
        ),
        (
            file(&format!("  - name: f\n    trigger: {{ type: webhook, auth: {{ hmac_sha256: {{ header: 'X Sig', secret: '{{{{ config.api_key }}}}' }} }} }}\n    steps:\n      - id: a\n        {act}\n")),
            "flows[0].trigger.auth.hmac_sha256.header",
            "invalid http header name \"X Sig\"",
        ),
        (
            file(&format!("  - name: f\n    trigger: {{ type: schedule, cron: '0 25 * * *' }}\n    steps:\n      - id: a\n        {act}\n")),
            "flows[0].trigger.cron",
            "invalid cron expression \"0 25 * * *\"",
        ),
        (
            file(&format!("  - name: f\n    trigger: {{ type: schedule, cron: '{{{{ config.count }}}}' }}\n    steps:\n      - id: a\n        {act}\n")),
            "flows[0].trigger.cron",
            "config 'count' has type number; a schedule needs a config variable of type cron",
        ),
        (
            file(&format!("  - name: f\n    trigger: {{ type: schedule, cron: '{{{{ config.sync_cron ~ \"\" }}}}' }}\n    steps:\n      - id: a\n        {act}\n")),
            "flows[0].trigger.cron",
            "write a cron expression or exactly \"{{ config.<key> }}\"",
        ),
        (
            file(&format!("  - name: f\n    trigger: {{ type: schedule, cron: '@daily', timezone: America/Chicgo }}\n    steps:\n      - id: a\n        {act}\n")),
            "flows[0].trigger.timezone",
            "unknown time zone 'America/Chicgo'; did you mean 'America/Chicago'?",
        ),
        // ---- steps ----
        (
            steps("      - id: a\n        component: acme@1.0.0\n        action: chek-inventory\n"),
            "flows[0].steps[0].action",
            "component acme@1.0.0 has no action 'chek-inventory'; did you mean 'check-inventory'?",
        ),
        (
            steps("      - id: a\n        component: acme@1.0.1\n        action: reserve\n"),
            "flows[0].steps[0].component",
            "unknown component 'acme@1.0.1'; did you mean 'acme@1.0.0'?",
        ),
        (
            steps("      - id: a\n        component: acm@2.0.0\n        action: reserve\n"),
            "flows[0].steps[0].component",
            "unknown component 'acm@2.0.0'; did you mean 'acme@2.0.0'?",
        ),
        (
            steps("      - id: a\n        component: acme\n        action: reserve\n"),
            "flows[0].steps[0].component",
            "invalid component reference \"acme\": write name@version",
        ),
        (
            steps(&format!("      - id: check-inventory\n        {act}\n")),
            "flows[0].steps[0].id",
            "invalid step id \"check-inventory\"",
        ),
        (
            steps(&format!(
                "      - id: a\n        {act}\n      - id: b\n        branch:\n          - when: '{{{{ true }}}}'\n            steps:\n              - id: a\n                {}\n",
                act.replace("\n        ", "\n                ")
            )),
            "flows[0].steps[1].branch[0].steps[0].id",
            "duplicate step id 'a' (first used at flows[0].steps[0])",
        ),
        (
            steps(&format!("      - id: a\n        {act}\n        retry: {{ attempts: 0 }}\n")),
            "flows[0].steps[0].retry.attempts",
            "attempts must be between 1 and 20 (the first attempt included), got 0",
        ),
        (
            steps(&format!("      - id: a\n        {act}\n        retry: {{ attempts: 21, initial: 1m, max: 5s }}\n")),
            "flows[0].steps[0].retry.initial",
            "initial wait 1m is longer than the max wait 5s",
        ),
        (
            steps(&format!("      - id: a\n        {act}\n        input: {{ sku: '{{{{ trigger.body. }}}}' }}\n")),
            "flows[0].steps[0].input.sku",
            "invalid template \"{{ trigger.body. }}\": syntax error",
        ),
        (
            steps(&format!(
                "      - id: a\n        {act}\n      - id: b\n        {act}\n      - id: c\n        {act}\n        input: {{ sku: '{{{{ steps.reply.sku }}}}' }}\n      - id: reply\n        respond: {{ body: ok }}\n"
            )),
            "flows[0].steps[2].input.sku",
            "references step 'reply' which does not run before this step",
        ),
        (
            steps(&format!("      - id: a\n        {act}\n        input: ['{{{{ steps.a }}}}']\n")),
            "flows[0].steps[0].input[0]",
            "references step 'a' which does not run before this step",
        ),
        (
            steps(&format!("      - id: inventory\n        {act}\n      - id: b\n        {act}\n        input: {{ 'x-y': '{{{{ steps.inventry.ok }}}}' }}\n")),
            "flows[0].steps[1].input[\"x-y\"]",
            "references unknown step 'inventry'; did you mean 'inventory'?",
        ),
        (
            steps(&format!(
                "      - id: route\n        branch:\n          - when: '{{{{ true }}}}'\n            steps:\n              - id: inner\n                {}\n      - id: after\n        {act}\n        input: '{{{{ steps.inner }}}}'\n",
                act.replace("\n        ", "\n                ")
            )),
            "flows[0].steps[1].input",
            "references step 'inner', which runs inside step 'route' and is not visible here; use steps.route instead",
        ),
        (
            steps(&format!(
                "      - id: loop\n        for_each: '{{{{ trigger.body.items }}}}'\n        steps:\n          - id: inner\n            {}\n            input: '{{{{ steps.loop }}}}'\n",
                act.replace("\n        ", "\n            ")
            )),
            "flows[0].steps[0].steps[0].input",
            "references step 'loop', which encloses this step and has not finished",
        ),
        (
            steps(&format!("      - id: a\n        {act}\n        input: {{ k: 'x {{{{ config.api_kye }}}}' }}\n")),
            "flows[0].steps[0].input.k",
            "references unknown config key 'api_kye'; did you mean 'api_key'?",
        ),
        (
            steps(&format!("      - id: a\n        {act}\n        input: '{{{{ item.id }}}}'\n")),
            "flows[0].steps[0].input",
            "'item' is only defined inside the steps of a for_each step",
        ),
        (
            steps(&format!("      - id: a\n        {act}\n        input: '{{{{ stps.x }}}}'\n")),
            "flows[0].steps[0].input",
            "unknown variable 'stps'; did you mean 'steps'?",
        ),
        (
            steps("      - id: a\n        branch:\n          - else: []\n          - when: '{{ true }}'\n            steps: []\n"),
            "flows[0].steps[0].branch[0].else",
            "'else' must be the last case of a branch",
        ),
        (
            steps("      - id: a\n        branch:\n          - when: 'yes'\n            steps: []\n"),
            "flows[0].steps[0].branch[0].when",
            "a condition must be a single {{ expression }}, got \"yes\"",
        ),
        (
            steps("      - id: a\n        for_each: 'items: {{ trigger.body.items }}'\n        steps: []\n"),
            "flows[0].steps[0].for_each",
            "for_each must be a single {{ expression }} giving a list",
        ),
        (
            steps(&format!("      - id: a\n        for_each: '{{{{ trigger.body }}}}'\n        concurrency: 100\n        steps:\n          - id: b\n            {}\n", act.replace("\n        ", "\n            "))),
            "flows[0].steps[0].concurrency",
            "concurrency must be between 1 and 64, got 100",
        ),
        (
            steps("      - id: a\n        for_each: '{{ trigger.body }}'\n        steps: []\n"),
            "flows[0].steps[0].steps",
            "a for_each needs at least one step",
        ),
        (
            file(&format!("  - name: f\n    trigger: {{ type: webhook }}\n    steps:\n      - id: a\n        {act}\n      - id: r\n        respond: {{ body: '{{{{ steps.a }}}}' }}\n")),
            "flows[0].steps[1].respond",
            "'respond' only works in a flow triggered by a sync webhook; flow 'f' has an async webhook (set mode: sync)",
        ),
        (
            file("  - name: f\n    trigger: { type: schedule, cron: '@hourly' }\n    steps:\n      - id: r\n        respond: { body: hi }\n"),
            "flows[0].steps[0].respond",
            "flow 'f' has a schedule trigger",
        ),
        (
            steps("      - id: l\n        for_each: '{{ trigger.body }}'\n        steps:\n          - id: r\n            respond: { body: '{{ item }}' }\n"),
            "flows[0].steps[0].steps[0].respond",
            "'respond' may not be inside a for_each",
        ),
        (
            steps("      - id: r\n        respond: { status: 700, headers: { 'Bad Header': x } }\n"),
            "flows[0].steps[0].respond.status",
            "http status must be between 100 and 599, got 700",
        ),
        (
            steps("      - id: r\n        respond: { headers: { 'Bad Header': x } }\n"),
            "flows[0].steps[0].respond.headers[\"Bad Header\"]",
            "invalid http header name \"Bad Header\"",
        ),
    ];
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for (text, path, needle) in &cases {
        let errors = errors_of(text);
        if !errors
            .iter()
            .any(|e| e.path == *path && e.message.contains(needle))
        {
            let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
            failures.push(format!(
                "expected `{path}: …{needle}…`\n  got {got:#?}\n  in file:\n{text}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn validation_reports_every_problem() {
    let text = steps(
        "      - id: a\n        component: acme@1.0.0\n        action: nope\n      - id: a\n        component: http@9\n        action: request\n        input: '{{ config.missing }}'\n",
    );
    let errors = errors_of(&text);
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "flows[0].steps[0].action",
            "flows[0].steps[1].id",
            "flows[0].steps[1].component",
            "flows[0].steps[1].input",
        ],
        "{errors:#?}"
    );
    let all = ValidationErrors(errors).to_string();
    assert_eq!(all.lines().count(), 4, "{all}");
    assert!(
        all.contains("unknown component 'http@9'; available versions of http: 1.0.0"),
        "{all}"
    );
}
