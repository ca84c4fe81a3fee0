//! What templates may refer to, checked at upload: every template parses;
//! `steps.<id>` names a step that has finished before the template runs;
//! `config.<key>` names a declared variable; `item` and `index` appear only
//! inside a `for_each`; `error` only in a flow's `on_failure`; no other
//! top-level names are used.
//!
//! Visibility follows execution order: a step sees the steps before it in
//! its own list and, for nested lists, the steps before the enclosing step in
//! every enclosing list. Steps nested inside an earlier `branch` or
//! `for_each` are not visible outside it (refer to the enclosing step's
//! output instead), and a step never sees itself, its enclosing steps or
//! anything after it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::ValidationError;
use super::suggest;
use crate::template;

/// Where a step id is declared in its flow.
#[derive(Debug)]
pub(crate) struct StepSite {
    /// The steps that enclose it, outermost first.
    pub ancestors: Vec<String>,
}

/// What a template in one place of a flow may see.
pub(crate) struct Scope<'a> {
    /// Declared config keys.
    pub config_keys: &'a [&'a str],
    /// Every step id of the flow.
    pub sites: &'a BTreeMap<String, StepSite>,
    /// Ids of the steps that have finished before this point.
    pub visible: &'a [String],
    /// Ids of the steps enclosing this point, outermost first.
    pub ancestors: &'a [String],
    /// Inside a `for_each`'s steps.
    pub in_for_each: bool,
    /// In a flow's `on_failure`, where `error` is defined.
    pub with_error: bool,
}

/// Whether `s` is `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// If `s` is exactly `{{ config.<key> }}`, the key.
pub(crate) fn config_ref(s: &str) -> Option<&str> {
    let key = template::single_expression(s)?.strip_prefix("config.")?;
    is_identifier(key).then_some(key)
}

/// Appends `.key` (or `["key"]` when it is not an identifier) to `path`.
pub(crate) fn join_key(path: &str, key: &str) -> String {
    if is_identifier(key) {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_owned()))
    }
}

/// Checks every string leaf of `value` that contains template syntax.
pub(crate) fn check_value(
    path: &str,
    value: &Value,
    scope: &Scope<'_>,
    errors: &mut Vec<ValidationError>,
) {
    match value {
        Value::String(s) => check_template(path, s, scope, errors),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_value(&format!("{path}[{i}]"), item, scope, errors);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                check_value(&join_key(path, k), v, scope, errors);
            }
        }
        _ => {}
    }
}

/// Checks one string: if it contains template syntax, that it parses and
/// that every name it reads is defined at this point.
pub(crate) fn check_template(
    path: &str,
    text: &str,
    scope: &Scope<'_>,
    errors: &mut Vec<ValidationError>,
) {
    if !template::is_template(text) {
        return;
    }
    let names = match template::check(text) {
        Ok(names) => names,
        Err(e) => {
            errors.push(ValidationError::new(path, e.to_string()));
            return;
        }
    };
    let mut reported = BTreeSet::new();
    for name in &names {
        let mut parts = name.split('.');
        let root = parts.next().unwrap_or_default();
        let second = parts.next();
        if let Some(message) = check_name(root, second, scope)
            && reported.insert(message.clone())
        {
            errors.push(ValidationError::new(path, message));
        }
    }
}

/// Why `root.second` is not defined here, if it is not.
fn check_name(root: &str, second: Option<&str>, scope: &Scope<'_>) -> Option<String> {
    match root {
        "trigger" | "instance" | "execution" => None,
        "error" if scope.with_error => None,
        "item" | "index" if scope.in_for_each => None,
        "item" | "index" => Some(format!(
            "'{root}' is only defined inside the steps of a for_each step"
        )),
        "config" => {
            let key = second?;
            if scope.config_keys.contains(&key) {
                return None;
            }
            let hint = suggest::hint(key, scope.config_keys.iter().copied());
            Some(format!("references unknown config key '{key}'{hint}"))
        }
        "steps" => check_step(second?, scope),
        other => {
            let roots = ["trigger", "steps", "config", "instance", "execution"];
            let hint = suggest::closest(other, roots.iter().copied().chain(["item", "index"]))
                .map(|best| format!("did you mean '{best}'? "))
                .unwrap_or_default();
            let item = if scope.in_for_each {
                ", item, index"
            } else {
                " (and item, index inside for_each)"
            };
            Some(format!(
                "unknown variable '{other}'; {hint}templates can use trigger, steps, config, \
                 instance, execution{item}"
            ))
        }
    }
}

fn check_step(id: &str, scope: &Scope<'_>) -> Option<String> {
    if scope.visible.iter().any(|v| v == id) {
        return None;
    }
    let Some(site) = scope.sites.get(id) else {
        let hint = suggest::hint(id, scope.visible.iter().map(String::as_str));
        return Some(format!("references unknown step '{id}'{hint}"));
    };
    if scope.ancestors.iter().any(|a| a == id) {
        return Some(format!(
            "references step '{id}', which encloses this step and has not finished when it runs"
        ));
    }
    // Nested inside a step that does not enclose us: not visible from here.
    if let Some(parent) = site.ancestors.iter().find(|a| !scope.ancestors.contains(a)) {
        let hint = if scope.visible.contains(parent) {
            format!("; use steps.{parent} instead")
        } else {
            String::new()
        };
        return Some(format!(
            "references step '{id}', which runs inside step '{parent}' and is not visible \
             here{hint}"
        ));
    }
    Some(format!(
        "references step '{id}' which does not run before this step"
    ))
}
