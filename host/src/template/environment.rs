//! The one sandboxed [`minijinja`] environment templates render with: its
//! settings (fuel, recursion limit, chainable undefined, no escaping, no
//! loader) and its extra filters, built once per process for each
//! [`TemplateLimits`] in use, so that the expressions compiled against it
//! can be kept (see [`super::Templates`]).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use base64::Engine as _;
use minijinja::value::ValueKind;
use minijinja::{AutoEscape, Environment, ErrorKind, Output, State, UndefinedBehavior};
use serde_json::Value;

use super::TemplateLimits;

/// The sandboxed environment for `limits`, built at the first use of those
/// limits and kept for the life of the process (one per distinct
/// [`TemplateLimits`] the configuration uses: a handful at most).
pub(super) fn environment(limits: TemplateLimits) -> &'static Environment<'static> {
    static ENVIRONMENTS: LazyLock<Mutex<HashMap<TemplateLimits, &'static Environment<'static>>>> =
        LazyLock::new(Mutex::default);
    let mut environments = ENVIRONMENTS.lock().unwrap_or_else(|e| e.into_inner());
    environments.entry(limits).or_insert_with(|| {
        let mut env = Environment::new();
        env.set_fuel(Some(limits.fuel));
        env.set_recursion_limit(limits.recursion_limit);
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_keep_trailing_newline(true);
        env.set_formatter(format_emitted);
        env.add_filter("b64encode", b64encode);
        env.add_filter("b64decode", b64decode);
        env.add_filter("fromjson", fromjson);
        Box::leak(Box::new(env))
    })
}

/// How `{{ … }}` inside text prints a value: objects and arrays as JSON,
/// booleans as `true`/`false`, `none` and undefined as nothing, everything
/// else as Jinja prints it.
fn format_emitted(
    out: &mut Output<'_>,
    _state: &State<'_, '_>,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    let failed = |_| minijinja::Error::from(ErrorKind::WriteFailure);
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => Ok(()),
        ValueKind::Bool => out
            .write_str(if value.is_true() { "true" } else { "false" })
            .map_err(failed),
        ValueKind::Map | ValueKind::Seq => match serde_json::to_string(value) {
            Ok(json) => out.write_str(&json).map_err(failed),
            Err(_) => write!(out, "{value}").map_err(failed),
        },
        _ => write!(out, "{value}").map_err(failed),
    }
}

fn b64encode(value: String) -> String {
    base64::engine::general_purpose::STANDARD.encode(value)
}

fn b64decode(value: String) -> Result<String, minijinja::Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| {
            minijinja::Error::new(ErrorKind::InvalidOperation, format!("invalid base64: {e}"))
        })?;
    String::from_utf8(bytes).map_err(|_| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "decoded base64 is not utf-8 text",
        )
    })
}

fn fromjson(value: String) -> Result<minijinja::Value, minijinja::Error> {
    let parsed: Value = serde_json::from_str(&value).map_err(|e| {
        minijinja::Error::new(ErrorKind::InvalidOperation, format!("invalid json: {e}"))
    })?;
    Ok(minijinja::Value::from_serialize(&parsed))
}
