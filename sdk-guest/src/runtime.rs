//! What [`connector!`](crate::connector) expands to calls: schemas for
//! `describe`, typed dispatch for `run`. Not a public API.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wit::weft::connector::types::{ActionInfo, ComponentInfo, StepError};
use crate::{Context, Error};

/// The `component-info` that `describe` returns.
pub fn component_info(
    name: &str,
    version: &str,
    description: &str,
    hosts: &[&str],
    actions: Vec<ActionInfo>,
) -> ComponentInfo {
    ComponentInfo {
        name: name.to_owned(),
        version: version.to_owned(),
        description: description.to_owned(),
        actions,
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
    }
}

/// Describes one action, deriving its input and output JSON Schemas from the
/// types of `run` (which is not called).
pub fn action_info<I, O, F>(key: &str, title: &str, description: &str, run: F) -> ActionInfo
where
    I: JsonSchema,
    O: JsonSchema,
    F: Fn(I, &Context) -> Result<O, Error>,
{
    let _ = run;
    ActionInfo {
        key: key.to_owned(),
        title: title.to_owned(),
        description: description.to_owned(),
        input_schema: schema::<I>(),
        output_schema: schema::<O>(),
    }
}

/// The JSON Schema (draft 2020-12) of `T` as JSON text.
pub fn schema<T: JsonSchema>() -> String {
    schemars::schema_for!(T).as_value().to_string()
}

/// Runs one action: deserialises `input` into its input type, calls it and
/// serialises its output.
pub fn call<I, O, F>(run: F, input: &str, ctx: &Context) -> Result<String, StepError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I, &Context) -> Result<O, Error>,
{
    let input = parse::<I>(input)?;
    let output = run(input, ctx)?;
    serde_json::to_string(&output)
        .map_err(|e| StepError::Fatal(format!("cannot serialise the output: {e}")))
}

/// Deserialises `input`, naming the path of the offending field on failure:
/// `invalid input at 'items[0].qty': invalid type: ...`.
fn parse<I: DeserializeOwned>(input: &str) -> Result<I, StepError> {
    let mut de = serde_json::Deserializer::from_str(input);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = without_position(&e.into_inner());
        StepError::InvalidInput(if path == "." {
            format!("invalid input: {inner}")
        } else {
            format!("invalid input at '{path}': {inner}")
        })
    })?;
    de.end()
        .map_err(|e| StepError::InvalidInput(format!("invalid input: {e}")))?;
    Ok(value)
}

/// A deserialisation error's text. For a value of the wrong shape (a
/// missing field, a wrong type) the path says where, so serde's `at line 1
/// column 2` is dropped; syntax errors keep their position.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.is_data() => text[..at].to_owned(),
        _ => text,
    }
}

/// The error for an action this component does not have.
pub fn unknown_action(action: &str, known: &[&str]) -> StepError {
    StepError::InvalidInput(format!(
        "unknown action '{action}'; known: {}",
        known.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::Value;

    use super::*;

    #[derive(Deserialize, JsonSchema)]
    struct Order {
        #[expect(dead_code, reason = "only deserialised")]
        items: Vec<Item>,
    }

    #[derive(Deserialize, JsonSchema)]
    struct Item {
        #[expect(dead_code, reason = "only deserialised")]
        qty: u32,
    }

    fn invalid_input(result: Result<String, StepError>) -> String {
        match result {
            Err(StepError::InvalidInput(message)) => message,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn value_schema_accepts_anything() {
        let schema: Value = serde_json::from_str(&schema::<Value>()).unwrap();
        assert_eq!(schema["title"], "AnyValue");
        assert_eq!(schema.as_object().unwrap().len(), 2, "{schema}");
    }

    #[test]
    fn bad_input_names_the_field() {
        let run = |_: Order, _: &Context| Ok(());
        let message = invalid_input(call(run, r#"{"items":[{"qty":"x"}]}"#, &Context::default()));
        assert_eq!(
            message,
            "invalid input at 'items[0].qty': invalid type: string \"x\", expected u32"
        );
        let message = invalid_input(call(run, "{}", &Context::default()));
        assert_eq!(message, "invalid input: missing field `items`");
        let message = invalid_input(call(run, r#"{"items":[]} x"#, &Context::default()));
        assert_eq!(
            message,
            "invalid input: trailing characters at line 1 column 14"
        );
    }

    #[test]
    fn output_is_json() {
        let run = |input: Value, _: &Context| Ok(input);
        assert_eq!(
            call(run, r#" {"a": [1, null]} "#, &Context::default()).unwrap(),
            r#"{"a":[1,null]}"#
        );
    }

    #[test]
    fn unknown_action_lists_the_known_ones() {
        let message = invalid_input(Err(unknown_action("x", &["a", "b"])));
        assert_eq!(message, "unknown action 'x'; known: a, b");
    }
}
