//! Step inputs checked against the action's input schema at upload: what
//! can be known before anything runs. A required field that is missing, a
//! literal of the wrong JSON type, and an unknown field where the schema
//! sets `additionalProperties: false` are refused with the field's path.
//! Templated strings (`{{ … }}`) are left to run time, and so is any part of
//! a schema that is not plain `type`/`properties`/`required`/`items`
//! (`$ref`, `oneOf`, `anyOf`, `allOf`, `not`, `if`, …): the check only
//! refuses what the action would certainly refuse.

use serde_json::{Map, Value};

use super::ValidationError;
use super::references::join_key;
use super::suggest;
use crate::template;

/// Keywords whose meaning this check does not judge; a schema node holding
/// one is skipped whole.
const OPAQUE: &[&str] = &[
    "$ref",
    "$dynamicRef",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "dependentSchemas",
];

/// Checks `input` (at `path`, e.g. `flows[0].steps[1].input`) against
/// `schema`, the input schema of `action` of `component` (`name@version`).
pub(crate) fn check(
    path: &str,
    input: &Value,
    schema: &Value,
    action: &str,
    component: &str,
    found: &mut Vec<ValidationError>,
) {
    let owner = format!("action '{action}' of {component}");
    // No input at all is an empty object to an object schema: name the
    // required fields rather than "got null".
    let empty = Value::Object(Map::new());
    let input = if input.is_null() && wants_object(schema) {
        &empty
    } else {
        input
    };
    node(path, input, schema, &owner, found);
}

fn wants_object(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(ts)) => {
            ts.iter().any(|t| t == "object") && !ts.iter().any(|t| t == "null")
        }
        _ => false,
    }
}

fn node(path: &str, value: &Value, schema: &Value, owner: &str, found: &mut Vec<ValidationError>) {
    if let Value::String(s) = value
        && template::is_template(s)
    {
        return;
    }
    let Value::Object(schema) = schema else {
        return;
    };
    if OPAQUE.iter().any(|k| schema.contains_key(*k)) {
        return;
    }
    if let Some(types) = schema.get("type")
        && let Some(expected) = type_names(types)
        && !expected.iter().any(|t| has_type(value, t))
    {
        found.push(ValidationError::new(
            path,
            format!(
                "{owner} expects {} here, got {}",
                expected
                    .iter()
                    .map(|t| article(t))
                    .collect::<Vec<_>>()
                    .join(" or "),
                article(kind(value))
            ),
        ));
        return;
    }
    match value {
        Value::Object(fields) => object(path, fields, schema, owner, found),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for (i, item) in items.iter().enumerate() {
                    node(&format!("{path}[{i}]"), item, item_schema, owner, found);
                }
            }
        }
        _ => {}
    }
}

fn object(
    path: &str,
    fields: &Map<String, Value>,
    schema: &Map<String, Value>,
    owner: &str,
    found: &mut Vec<ValidationError>,
) {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for key in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(key) {
                found.push(ValidationError::new(
                    join_key(path, key),
                    format!("required by {owner}"),
                ));
            }
        }
    }
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false))
        && !schema.contains_key("patternProperties")
        && !schema.contains_key("unevaluatedProperties");
    for (key, value) in fields {
        match properties.get(key) {
            Some(sub) => node(&join_key(path, key), value, sub, owner, found),
            None if closed => {
                let hint = suggest::hint(key, properties.keys().map(String::as_str));
                found.push(ValidationError::new(
                    join_key(path, key),
                    format!("unknown field of {owner}{hint}"),
                ));
            }
            None => {
                if let Some(extra) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                    node(&join_key(path, key), value, extra, owner, found);
                }
            }
        }
    }
}

/// The JSON types a `type` keyword names, if it is well-formed.
fn type_names(types: &Value) -> Option<Vec<&str>> {
    const KNOWN: &[&str] = &[
        "null", "boolean", "object", "array", "number", "integer", "string",
    ];
    let names: Vec<&str> = match types {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().map(Value::as_str).collect::<Option<_>>()?,
        _ => return None,
    };
    (!names.is_empty() && names.iter().all(|n| KNOWN.contains(n))).then_some(names)
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "integer" => match value {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        "number" => value.is_number(),
        other => kind(value) == other,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn article(name: &str) -> String {
    match name {
        "null" => "null".to_owned(),
        "array" | "object" | "integer" => format!("an {name}"),
        _ => format!("a {name}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn problems(input: Value, schema: Value) -> Vec<String> {
        let mut found = Vec::new();
        check("in", &input, &schema, "a", "c@1.0.0", &mut found);
        found.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn required_types_unknown_and_templates() {
        let schema = json!({
            "type": "object", "additionalProperties": false, "required": ["sku", "n"],
            "properties": {
                "sku": { "type": "string" }, "n": { "type": "integer" },
                "tags": { "type": "array", "items": { "type": "string" } },
                "kind": { "$ref": "#/$defs/Kind" },
            }
        });
        assert_eq!(
            problems(
                json!({ "n": 1.5, "skuu": 1, "tags": ["a", 2], "kind": 7 }),
                schema.clone()
            ),
            [
                "in.sku: required by action 'a' of c@1.0.0",
                "in.n: action 'a' of c@1.0.0 expects an integer here, got a number",
                "in.skuu: unknown field of action 'a' of c@1.0.0; did you mean 'sku'?",
                "in.tags[1]: action 'a' of c@1.0.0 expects a string here, got a number",
            ]
        );
        assert!(
            problems(
                json!({ "sku": "{{ trigger.body.sku }}", "n": "{{ config.n }}" }),
                schema.clone()
            )
            .is_empty()
        );
        assert!(problems(json!("{{ trigger.body }}"), schema.clone()).is_empty());
        assert_eq!(problems(Value::Null, schema).len(), 2);
        // Anything not plain is left alone.
        assert!(problems(json!(3), json!({ "oneOf": [{ "type": "string" }] })).is_empty());
        assert!(problems(json!({ "x": 1 }), json!(true)).is_empty());
    }
}
