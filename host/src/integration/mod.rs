//! Integration files: the model ([`Integration`] and friends), parsing
//! ([`parse`]), upload-time validation against the known components
//! ([`validate`]), per-instance config checks ([`validate_instance_config`])
//! and schedule helpers ([`schedule_for`], [`next_after`]).
//!
//! Every problem is reported as a [`ValidationError`] with the exact path of
//! the offending value, displayed `path: message`:
//!
//! ```text
//! flows[1].steps[0].action: component acme@1.0.0 has no action 'chek-inventory'; did you mean 'check-inventory'?
//! ```
//!
//! ```
//! use weft::integration::{parse, validate, Catalog};
//!
//! let file = r#"
//! name: hello
//! version: 1
//! flows:
//!   - name: ping
//!     trigger: { type: webhook, mode: sync }
//!     steps:
//!       - id: greet
//!         component: echo@1.0.0
//!         action: echo
//!         input: { text: "hi {{ trigger.body.name }}" }
//! "#;
//! let integration = parse(file).unwrap();
//! let mut catalog = Catalog::default();
//! catalog.insert("echo", "1.0.0", ["echo"], Vec::<String>::new());
//! validate(&integration, &catalog).unwrap();
//! ```

mod catalog;
mod codec;
mod config;
mod flow_options;
mod input_schema;
mod model;
mod references;
mod schedule;
mod subject;
mod suggest;
mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_broken;

use std::fmt;

pub use catalog::{Catalog, CatalogComponent};
pub use config::{ResolvedConfig, validate_instance_config};
pub use flow_options::{Concurrency, ConcurrencyMode};
pub use model::{
    ActionStep, Backoff, BranchCase, CatchUp, ConfigType, ConfigVar, Flow, ForEachStep,
    HmacSha256Auth, HumanDuration, Integration, OnError, OnFailure, QueueTrigger, RespondStep,
    RetryPolicy, ScheduleTrigger, Step, StepKind, Trigger, WebhookAuth, WebhookMode,
    WebhookTrigger, split_component_ref,
};
pub(crate) use references::config_ref;
pub use schedule::{ScheduleError, next_after, parse_cron, parse_timezone, schedule_for};
pub use subject::{MAX_SUBJECT, SubjectError, SubjectInstance, SubjectTemplate, check_subject};
pub use suggest::{closest, distance, hint};
pub use validate::validate;

/// One problem, with the path of the value it is about (`flows[1].steps[0]
/// .action`; empty for the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Where: `flows[1].steps[0].retry.attempts`, `config.api_key`, or empty.
    pub path: String,
    /// What is wrong, lowercase, quoting the offending value.
    pub message: String,
}

impl ValidationError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ValidationError {}

/// Every problem found, in file order; never empty. Displays one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    /// The problems.
    pub fn errors(&self) -> &[ValidationError] {
        &self.0
    }

    /// `Ok(())` when `errors` is empty.
    pub fn check(errors: Vec<ValidationError>) -> Result<(), ValidationErrors> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(errors))
        }
    }
}

impl From<ValidationError> for ValidationErrors {
    fn from(e: ValidationError) -> Self {
        ValidationErrors(vec![e])
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Parses an integration file: JSON when its first non-blank character is
/// `{`, YAML otherwise. Only the shape is checked here (unknown keys, types,
/// which keys go together); run [`validate`] for the rest. The one error
/// carries the exact path and, where the parser knows it, the line and
/// column.
pub fn parse(text: &str) -> Result<Integration, ValidationErrors> {
    if text.trim().is_empty() {
        return Err(ValidationError::new("", "integration file is empty").into());
    }
    if text.trim_start().starts_with('{') {
        let mut de = serde_json::Deserializer::from_str(text);
        let integration = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
        de.end()
            .map_err(|e| ValidationError::new("", e.to_string()))?;
        Ok(integration)
    } else {
        let de = serde_yaml::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(path_error)
    }
}

/// Turns a path-tracked parse error into a [`ValidationError`], dropping the
/// path serde_yaml repeats at the start of its own message.
fn path_error<E: fmt::Display>(e: serde_path_to_error::Error<E>) -> ValidationErrors {
    let path = match e.path().to_string() {
        p if p == "." => String::new(),
        p => p,
    };
    let mut message = e.inner().to_string();
    // serde_yaml starts with its own path, which is ours or its parent.
    if let Some((prefix, rest)) = message.split_once(": ")
        && !prefix.is_empty()
        && !prefix.contains(' ')
        && path.starts_with(prefix)
    {
        message = rest.to_owned();
    }
    ValidationError::new(path, message).into()
}
