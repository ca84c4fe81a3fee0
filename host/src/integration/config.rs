//! An instance's config: checking the values and secrets a tenant gives
//! against the integration's declared variables, and the resolved result the
//! engine renders templates with ([`ResolvedConfig`]).
//!
//! Plain values and secrets come separately (the CLI's `--config k=v` and
//! `--secret k=@file`, the API's `config` and `secrets`): a `secret` variable
//! is accepted only among the secrets, every other type only among the
//! values. Because command lines carry text, values are converted where the
//! text is unambiguous: a `number` accepts a JSON number or a numeric string
//! (`"5"`, `"2.5"`), a `boolean` accepts `true`/`false` or the strings
//! `"true"`/`"false"`. `string`, `url` and `cron` need strings; `json`
//! takes any value as given (a string stays a string).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Number, Value};

use super::model::{ConfigType, Integration, Trigger};
use super::references::config_ref;
use super::schedule::parse_cron;
use super::suggest;
use super::{ValidationError, ValidationErrors};

/// An instance's config after [`validate_instance_config`]: every value
/// (secrets included, as strings, defaults applied) and which keys are
/// secrets, so the engine can redact them. `Debug` shows secrets as `***`.
#[derive(Clone, Default, PartialEq)]
pub struct ResolvedConfig {
    /// `config` in templates: key → value. Variables with neither a value
    /// nor a default are absent.
    pub values: Map<String, Value>,
    /// Keys of `secret` variables present in `values`.
    pub secret_keys: BTreeSet<String>,
}

impl ResolvedConfig {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Whether `key` is a secret.
    pub fn is_secret(&self, key: &str) -> bool {
        self.secret_keys.contains(key)
    }

    /// The secret strings, for scrubbing them out of logs and records.
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.secret_keys
            .iter()
            .filter_map(|k| self.values.get(k).and_then(Value::as_str))
    }

    /// The values with every secret replaced by `"***"`, for showing.
    pub fn redacted(&self) -> Map<String, Value> {
        self.values
            .iter()
            .map(|(k, v)| {
                let v = if self.is_secret(k) {
                    Value::String("***".to_owned())
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// The values as the `config` object of a template context.
    pub fn to_context(&self) -> Value {
        Value::Object(self.values.clone())
    }
}

impl fmt::Debug for ResolvedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedConfig")
            .field("values", &self.redacted())
            .field("secret_keys", &self.secret_keys)
            .finish()
    }
}

/// Checks an instance's `values` and `secrets` against `integration`'s
/// config variables and returns them with defaults applied. Reports every
/// problem: unknown keys (with a suggestion), missing required ones, values
/// of the wrong type, secrets given as values and the reverse, invalid cron
/// expressions, and config a schedule or webhook signature needs but which
/// has no value. Paths are `config.<key>` for values and `secrets.<key>` for
/// secrets.
pub fn validate_instance_config(
    integration: &Integration,
    values: &Map<String, Value>,
    secrets: &BTreeMap<String, String>,
) -> Result<ResolvedConfig, ValidationErrors> {
    let mut errors = Vec::new();
    let keys = || integration.config.iter().map(|c| c.key.as_str());
    for key in values.keys() {
        match integration.config_var(key) {
            None => errors.push(ValidationError::new(
                format!("config.{key}"),
                format!("unknown config key '{key}'{}", suggest::hint(key, keys())),
            )),
            Some(var) if var.ty == ConfigType::Secret => errors.push(ValidationError::new(
                format!("config.{key}"),
                format!("'{key}' is a secret; give it as a secret, not as plain config"),
            )),
            Some(_) => {}
        }
    }
    for key in secrets.keys() {
        match integration.config_var(key) {
            None => errors.push(ValidationError::new(
                format!("secrets.{key}"),
                format!("unknown secret '{key}'{}", suggest::hint(key, keys())),
            )),
            Some(var) if var.ty != ConfigType::Secret => errors.push(ValidationError::new(
                format!("secrets.{key}"),
                format!(
                    "'{key}' is not a secret (type {}); give it as plain config",
                    var.ty
                ),
            )),
            Some(_) => {}
        }
    }

    let mut resolved = ResolvedConfig::default();
    for var in &integration.config {
        let key = &var.key;
        if var.ty == ConfigType::Secret {
            match secrets.get(key) {
                Some(secret) => {
                    resolved
                        .values
                        .insert(key.clone(), Value::String(secret.clone()));
                    resolved.secret_keys.insert(key.clone());
                }
                None if var.required => errors.push(ValidationError::new(
                    format!("secrets.{key}"),
                    format!("missing required secret '{key}'"),
                )),
                None => {}
            }
            continue;
        }
        let given = values.get(key);
        let value = match given.or(var.default.as_ref()) {
            Some(v) => v,
            None if var.required => {
                errors.push(ValidationError::new(
                    format!("config.{key}"),
                    format!("missing required config '{key}'"),
                ));
                continue;
            }
            None => continue,
        };
        match check_value(var.ty, value, given.is_some()) {
            Ok(v) => {
                resolved.values.insert(key.clone(), v);
            }
            Err(e) => errors.push(ValidationError::new(format!("config.{key}"), e)),
        }
    }

    // Config the triggers need to exist at all.
    for flow in &integration.flows {
        let needed = match &flow.trigger {
            Trigger::Schedule(s) => config_ref(&s.cron).map(|k| (k, "the schedule")),
            Trigger::Webhook(w) => w
                .auth
                .as_ref()
                .and_then(|a| config_ref(&a.hmac_sha256.secret))
                .map(|k| (k, "the webhook signature check")),
            _ => None,
        };
        if let Some((key, what)) = needed
            && !resolved.values.contains_key(key)
            && integration.config_var(key).is_some()
            && !errors.iter().any(|e| e.path.ends_with(&format!(".{key}")))
        {
            let root = match integration.config_var(key).map(|v| v.ty) {
                Some(ConfigType::Secret) => "secrets",
                _ => "config",
            };
            errors.push(ValidationError::new(
                format!("{root}.{key}"),
                format!(
                    "'{key}' has no value but {what} of flow '{}' needs it",
                    flow.name
                ),
            ));
        }
    }
    ValidationErrors::check(errors)?;
    Ok(resolved)
}

/// Checks `value` against `ty`. With `lenient` (values given by a user, not
/// defaults written in the file) numeric and boolean strings are converted.
/// Returns the value to use.
pub(crate) fn check_value(ty: ConfigType, value: &Value, lenient: bool) -> Result<Value, String> {
    let wrong = |expected: &str| format!("expected {expected}, got {}", describe(value));
    match (ty, value) {
        (ConfigType::Json, v) => Ok(v.clone()),
        (ConfigType::String | ConfigType::Secret, Value::String(_)) => Ok(value.clone()),
        (ConfigType::String | ConfigType::Secret, _) => Err(wrong("a string")),
        (ConfigType::Number, Value::Number(_)) => Ok(value.clone()),
        (ConfigType::Number, Value::String(s)) if lenient => {
            parse_number(s).ok_or_else(|| wrong("a number"))
        }
        (ConfigType::Number, _) => Err(wrong("a number")),
        (ConfigType::Boolean, Value::Bool(_)) => Ok(value.clone()),
        (ConfigType::Boolean, Value::String(s)) if lenient && (s == "true" || s == "false") => {
            Ok(Value::Bool(s == "true"))
        }
        (ConfigType::Boolean, _) => Err(wrong("true or false")),
        (ConfigType::Cron, Value::String(s)) => {
            parse_cron(s).map(|_| value.clone()).map_err(|e| e.0)
        }
        (ConfigType::Cron, _) => Err(wrong("a cron expression string")),
        (ConfigType::Url, Value::String(s)) => check_url(s).map(|()| value.clone()),
        (ConfigType::Url, _) => Err(wrong("a url string")),
    }
}

fn parse_number(s: &str) -> Option<Value> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::Number(i.into()));
    }
    if let Ok(u) = s.parse::<u64>() {
        return Some(Value::Number(u.into()));
    }
    s.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

/// An absolute `http(s)://host…` URL without whitespace.
fn check_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("invalid url \"{s}\": expected an http:// or https:// url"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || s.chars().any(char::is_whitespace) {
        return Err(format!(
            "invalid url \"{s}\": expected an http:// or https:// url with a host"
        ));
    }
    Ok(())
}

/// `string "abc"`, `number 5`, `boolean true`, `null`, `an array`, `an object`.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 60 => {
            let cut: String = s.chars().take(60).collect();
            format!("string \"{cut}…\"")
        }
        Value::String(s) => format!("string \"{s}\""),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}
