//! Replacing secret values with `***` in everything an execution records.

use serde_json::Value;

use super::record::StepFailure;
use crate::sandbox::LogLine;

/// The placeholder shown instead of a secret.
pub const REDACTED: &str = "***";

/// Replaces every occurrence of any secret value with `***`.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values (empty values are ignored).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    /// `text` with secrets replaced.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// `value` with secrets replaced in every string and object key.
    pub fn value(&self, value: &Value) -> Value {
        if self.secrets.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.text(k), self.value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// A step failure with secrets replaced in its message and detail.
    pub fn failure(&self, failure: StepFailure) -> StepFailure {
        if self.secrets.is_empty() {
            return failure;
        }
        let detail = failure.detail.and_then(|detail| {
            let value = serde_json::to_value(&detail).ok()?;
            serde_json::from_value(self.value(&value)).ok()
        });
        StepFailure {
            message: self.text(&failure.message),
            detail,
            ..failure
        }
    }

    /// Log lines with secrets replaced.
    pub fn logs(&self, logs: Vec<LogLine>) -> Vec<LogLine> {
        if self.secrets.is_empty() {
            return logs;
        }
        logs.into_iter()
            .map(|mut line| {
                line.message = self.text(&line.message);
                line
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_replaced_everywhere() {
        let r = Redactor::new(["s3cret", "s3cret-long", ""]);
        assert_eq!(r.text("key=s3cret-long;x=s3cret"), "key=***;x=***");
        assert_eq!(
            r.value(&json!({"a": ["Bearer s3cret", 1], "s3cret": true})),
            json!({"a": ["Bearer ***", 1], "***": true})
        );
        assert_eq!(r.text("nothing here"), "nothing here");
    }
}
