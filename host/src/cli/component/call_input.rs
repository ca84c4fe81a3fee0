//! Checks `weft component call`'s action and input against what the
//! component describes, before anything runs, so an author's slip gets a
//! precise answer: the nearest action for a misspelt one, every missing
//! required field at once, "expected an object" for a non-object input, and
//! a refusal of a missing `--input` when the action needs fields.
//!
//! Only the top level of the input schema is checked (its `type` and
//! `required`); deeper problems are the component's to report.

use serde_json::Value;

use crate::integration::hint;
use crate::sandbox::ComponentManifest;

/// The input text to run `action` with, or why the call cannot work.
/// `input` is `--input` as given (already read and checked to be JSON), or
/// `None` when it was omitted (then `{}` is used if the action allows it).
pub fn check(
    manifest: &ComponentManifest,
    action: &str,
    input: Option<&str>,
) -> Result<String, String> {
    let Some(found) = manifest.action(action) else {
        let keys: Vec<&str> = manifest.actions.iter().map(|a| a.key.as_str()).collect();
        return Err(format!(
            "component {} has no action '{action}'{}",
            manifest.reference(),
            hint(action, keys.iter().copied())
        ));
    };
    let schema = &found.input_schema;
    let required = required_fields(schema);
    let Some(text) = input else {
        if required.is_empty() {
            return Ok("{}".to_owned());
        }
        return Err(format!(
            "action '{action}' needs input: give --input with the required {} {}",
            plural(required.len()),
            quoted(&required)
        ));
    };
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("--input is not valid json: {e}"))?;
    let wants_object = schema.get("type").and_then(Value::as_str) == Some("object");
    match value.as_object() {
        None if wants_object => Err(format!(
            "invalid input for action '{action}': expected an object, got {}",
            kind(&value)
        )),
        None => Ok(text.to_owned()),
        Some(object) => {
            let missing: Vec<&str> = required
                .into_iter()
                .filter(|field| !object.contains_key(*field))
                .collect();
            if missing.is_empty() {
                Ok(text.to_owned())
            } else {
                Err(format!(
                    "invalid input for action '{action}': missing required {} {}",
                    plural(missing.len()),
                    quoted(&missing)
                ))
            }
        }
    }
}

fn required_fields(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|fields| fields.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "field" } else { "fields" }
}

fn quoted(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("'{f}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The JSON type of `value`, with an article: "an array", "a string".
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sandbox::ActionManifest;

    fn manifest() -> ComponentManifest {
        let action = |key: &str, schema: Value| ActionManifest {
            key: key.to_owned(),
            title: key.to_owned(),
            description: String::new(),
            input_schema: schema,
            output_schema: json!({}),
        };
        ComponentManifest {
            name: "acme".into(),
            version: "1.0.0".into(),
            description: String::new(),
            actions: vec![
                action(
                    "create-order",
                    json!({"type": "object", "required": ["sku", "qty"]}),
                ),
                action("ping", json!({"type": "object"})),
            ],
            hosts: vec![],
        }
    }

    #[test]
    fn misspelt_actions_get_the_nearest() {
        let err = check(&manifest(), "create-ordr", Some("{}")).unwrap_err();
        assert_eq!(
            err,
            "component acme@1.0.0 has no action 'create-ordr'; did you mean 'create-order'?"
        );
    }

    #[test]
    fn every_missing_field_is_named() {
        let err = check(&manifest(), "create-order", Some("{}")).unwrap_err();
        assert_eq!(
            err,
            "invalid input for action 'create-order': missing required fields 'sku', 'qty'"
        );
        let err = check(&manifest(), "create-order", Some(r#"{"sku":"a"}"#)).unwrap_err();
        assert!(err.ends_with("missing required field 'qty'"), "{err}");
    }

    #[test]
    fn non_objects_and_missing_input_are_refused() {
        let err = check(&manifest(), "create-order", Some("[1]")).unwrap_err();
        assert!(err.ends_with("expected an object, got an array"), "{err}");
        let err = check(&manifest(), "create-order", None).unwrap_err();
        assert_eq!(
            err,
            "action 'create-order' needs input: give --input with the required fields 'sku', 'qty'"
        );
        assert_eq!(check(&manifest(), "ping", None).unwrap(), "{}");
    }
}
