//! Tests of the template engine: typing, bounds and errors.
use super::*;
use serde_json::json;

fn ctx() -> Value {
    json!({
        "trigger": { "body": { "sku": "A-1", "qty": 3, "ok": true, "tags": ["x", "y"] } },
        "steps": { "inventory": { "available": false, "items": [{ "id": 1 }, { "id": 2 }] } },
        "config": { "base": "https://api.example" },
    })
}

fn render(v: Value) -> Result<Value, TemplateError> {
    Templates::new().render_value(&v, &ctx())
}

#[test]
fn single_expression_keeps_json_type() {
    assert_eq!(render(json!("{{ trigger.body.qty }}")).unwrap(), json!(3));
    assert_eq!(
        render(json!(" {{ trigger.body.ok }} ")).unwrap(),
        json!(true)
    );
    assert_eq!(
        render(json!("{{ trigger.body.tags }}")).unwrap(),
        json!(["x", "y"])
    );
    assert_eq!(
        render(json!("{{ steps.inventory.items[1] }}")).unwrap(),
        json!({ "id": 2 })
    );
    assert_eq!(render(json!("{{ none }}")).unwrap(), Value::Null);
    assert_eq!(
        render(json!("{{ trigger.nope.deeper }}")).unwrap(),
        Value::Null
    );
    assert_eq!(
        render(json!("{{- trigger.body.qty + 1 -}}")).unwrap(),
        json!(4)
    );
    assert_eq!(
        render(json!("{{ trigger.body.sku }}")).unwrap(),
        json!("A-1")
    );
}

#[test]
fn mixed_text_renders_to_string() {
    assert_eq!(
        render(json!("{{ config.base }}/items/{{ trigger.body.sku }}")).unwrap(),
        json!("https://api.example/items/A-1")
    );
    assert_eq!(
        render(json!("qty={{ trigger.body.qty }}")).unwrap(),
        json!("qty=3")
    );
    assert_eq!(
        render(json!(
            "{% for t in trigger.body.tags %}{{ loop.index }}{{ t }}{% endfor %}"
        ))
        .unwrap(),
        json!("1x2y")
    );
    // Two expressions side by side are text, not one expression.
    assert_eq!(
        render(json!("{{ trigger.body.qty }}{{ trigger.body.qty }}")).unwrap(),
        json!("33")
    );
}

#[test]
fn text_prints_objects_as_json_and_null_as_nothing() {
    assert_eq!(
        render(json!(
            "items={{ trigger.body.tags }} inv={{ steps.inventory.items[0] }}"
        ))
        .unwrap(),
        json!("items=[\"x\",\"y\"] inv={\"id\":1}")
    );
    assert_eq!(
        render(json!("a{{ none }}b{{ nope }}c")).unwrap(),
        json!("abc")
    );
    assert_eq!(
        render(json!("{{ trigger.body.ok }}!")).unwrap(),
        json!("true!")
    );
}

#[test]
fn engine_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Templates>();
}

#[test]
fn nested_values_render_and_keys_stay() {
    let out = render(json!({
        "{{ key }}": ["{{ trigger.body.qty }}", { "deep": "{{ trigger.body.ok }}" }, 7, null],
        "plain": "no template here",
    }))
    .unwrap();
    assert_eq!(
        out,
        json!({ "{{ key }}": [3, { "deep": true }, 7, null], "plain": "no template here" })
    );
}

#[test]
fn truthiness() {
    let t = Templates::new();
    assert!(
        !t.eval_truthy("{{ steps.inventory.available }}", &ctx())
            .unwrap()
    );
    assert!(t.eval_truthy("{{ trigger.body.qty > 2 }}", &ctx()).unwrap());
    assert!(t.eval_truthy("trigger.body.tags", &ctx()).unwrap());
    assert!(!t.eval_truthy("{{ trigger.missing }}", &ctx()).unwrap());
}

#[test]
fn filters() {
    assert_eq!(
        render(json!("{{ 'hi' | b64encode }}")).unwrap(),
        json!("aGk=")
    );
    assert_eq!(
        render(json!("{{ 'aGk=' | b64decode }}")).unwrap(),
        json!("hi")
    );
    assert_eq!(
        render(json!("{{ '{\"a\": [1]}' | fromjson }}")).unwrap(),
        json!({ "a": [1] })
    );
    assert_eq!(
        render(json!("{{ trigger.body.tags | tojson }}")).unwrap(),
        json!("[\"x\",\"y\"]")
    );
}

#[test]
fn huge_loop_runs_out_of_fuel() {
    let err = render(json!(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    ))
    .unwrap_err();
    assert!(matches!(err, TemplateError::OutOfFuel { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("template evaluation exceeded its fuel limit"),
        "{err}"
    );
}

#[test]
fn output_bomb_is_refused() {
    let err = render(json!("x{{ 'a' * 2000000 }}")).unwrap_err();
    assert!(matches!(err, TemplateError::OutputTooLarge { .. }), "{err}");
    assert!(
        err.to_string().contains("template output exceeds 1 MiB"),
        "{err}"
    );
    let err = render(json!("{{ 'a' * 2000000 }}")).unwrap_err();
    assert!(
        err.to_string().contains("template output exceeds 1 MiB"),
        "{err}"
    );
    let small = Templates::with_limits(TemplateLimits {
        max_output_bytes: 10,
        ..TemplateLimits::default()
    });
    let err = small
        .render_string("{% for i in range(100) %}{{ i }}{% endfor %}", &ctx())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "template output exceeds 10 bytes in \"{% for i in range(100) %}{{ i }}{% endfor %}\""
    );
}

#[test]
fn deep_recursion_is_refused() {
    let err = render(json!(
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"
    ))
    .unwrap_err();
    assert!(matches!(err, TemplateError::Render { .. }), "{err}");
}

#[test]
fn syntax_errors_quote_the_template() {
    let err = render(json!("{{ trigger.body. }}")).unwrap_err();
    assert!(matches!(err, TemplateError::Syntax { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("invalid template \"{{ trigger.body. }}\": syntax error"),
        "{msg}"
    );
    let err = render(json!("a {% if x %} b")).unwrap_err();
    assert!(err.to_string().contains("\"a {% if x %} b\""), "{err}");
    let long = format!("{{{{ {} + }}}}", "x".repeat(100));
    let msg = Templates::new().check(&long).unwrap_err().to_string();
    assert!(msg.contains('…'), "{msg}");
}

#[test]
fn no_loader_no_includes() {
    let err = render(json!("{% include 'etc/passwd' %}")).unwrap_err();
    assert!(matches!(err, TemplateError::Render { .. }), "{err}");
}

#[test]
fn check_lists_dotted_names() {
    let names = check(
        "{{ steps.a.out }} {{ config.k }} {% for x in item.list %}{{ x.y }}{{ loop.index }}{% endfor %} {{ range(3) }} {{ steps['b'] }}",
    )
    .unwrap();
    assert_eq!(names, ["config.k", "item.list", "steps", "steps.a.out"]);
    assert_eq!(check("plain").unwrap(), Vec::<String>::new());
    assert_eq!(
        check("{{ instance.webhooks['order-request'] }}").unwrap(),
        ["instance.webhooks"]
    );
}

#[test]
fn single_expression_detection() {
    assert_eq!(single_expression(" {{ a.b }} "), Some("a.b"));
    assert_eq!(single_expression("{{a}}"), Some("a"));
    assert_eq!(single_expression("{{ a }} {{ b }}"), None);
    assert_eq!(single_expression("x {{ a }}"), None);
    assert_eq!(single_expression("{{ }}"), None);
    assert_eq!(single_expression("{% if a %}{% endif %}"), None);
}

/// A plain path is looked up on the JSON itself; whatever it finds must be
/// what minijinja gives for the same value (`(path)` is not a plain path,
/// so it always goes through minijinja).
#[test]
fn plain_paths_give_what_minijinja_gives() {
    let t = Templates::new();
    let ctx = json!({
        "trigger": { "body": {
            "n": 3, "neg": -7, "big": 18446744073709551615u64, "f": 12.5, "whole": 2.0,
            "s": "é ✓ \"q\"", "none": null, "list": [1, { "a": [] }], "o": { "b": { "c": {} } }
        } },
        "steps": { "one": { "items": [{ "id": 1 }] } },
    });
    for path in [
        "trigger",
        "trigger.body",
        "trigger.body.n",
        "trigger.body.neg",
        "trigger.body.big",
        "trigger.body.f",
        "trigger.body.whole",
        "trigger.body.s",
        "trigger.body.none",
        "trigger.body.list",
        "trigger.body.o.b",
        "steps.one",
        // Not found on the JSON: minijinja decides (undefined is null).
        "trigger.body.missing",
        "trigger.body.list.first",
        "trigger.body.s.upper",
        "nothing.at.all",
    ] {
        let fast = t.render_value(&json!(format!("{{{{ {path} }}}}")), &ctx);
        let slow = t.render_value(&json!(format!("{{{{ ({path}) }}}}")), &ctx);
        assert_eq!(fast.unwrap(), slow.unwrap(), "{path}");
    }
    assert!(!is_path("trigger. body"));
    assert!(!is_path("steps.one[0]"));
    assert!(!is_path("steps.one|tojson"));
    assert!(!is_path("items.0"));
    assert!(!is_path(""));
}

/// The output cap holds for a value found by a plain path too.
#[test]
fn a_plain_path_to_a_large_value_is_refused() {
    let small = Templates::with_limits(TemplateLimits {
        max_output_bytes: 10,
        ..TemplateLimits::default()
    });
    let ctx = json!({ "trigger": { "body": { "long": "0123456789abc", "short": "ok" } } });
    let err = small
        .render_value(&json!("{{ trigger.body.long }}"), &ctx)
        .unwrap_err();
    assert!(matches!(err, TemplateError::OutputTooLarge { .. }), "{err}");
    assert_eq!(
        small
            .render_value(&json!("{{ trigger.body.short }}"), &ctx)
            .unwrap(),
        json!("ok")
    );
}

/// Of two context entries with one name the later counts, in lookups as in
/// minijinja.
#[test]
fn the_later_of_two_entries_with_one_name_counts() {
    let t = Templates::new();
    let ctx = Context::object([
        ("item", Context::json(&json!({ "v": 1 }))),
        ("item", Context::json(&json!({ "v": 2 }))),
    ]);
    for template in ["{{ item.v }}", "{{ (item.v) }}"] {
        assert_eq!(
            t.render_value_in(&json!(template), &ctx).unwrap(),
            json!(2),
            "{template}"
        );
    }
}

#[test]
fn the_json_size_bound_is_never_below_the_json() {
    let values = [
        json!(null),
        json!(-2.2250738585072014e-308),
        json!(i64::MIN),
        json!("\u{1}\u{7f}é\"\\ plain"),
        json!({"a": [1, 2.5, {"\n": false}], "": "", "k": {"deep": [[], {}]}}),
    ];
    for value in values {
        let exact = serde_json::to_string(&value).unwrap().len();
        let bound = super::json_size_bound(&value, usize::MAX).unwrap();
        assert!(bound >= exact, "{value}: bound {bound} < {exact}");
    }
    assert_eq!(super::json_size_bound(&json!("x".repeat(100)), 100), None);
}

#[test]
fn a_looked_up_value_is_measured_exactly_when_the_bound_does_not_clear_it() {
    let small = Templates::with_limits(TemplateLimits {
        max_output_bytes: 10,
        ..TemplateLimits::default()
    });
    let ctx = json!({"short": "ab", "long": "abcdefghijkl"});
    // Bound 14 > 10, JSON 4 bytes: measured, and let through.
    assert_eq!(
        small.render_value(&json!("{{ short }}"), &ctx).unwrap(),
        json!("ab")
    );
    let err = small.render_value(&json!("{{ long }}"), &ctx).unwrap_err();
    assert!(err.to_string().contains("exceeds 10 bytes"), "{err}");
}
