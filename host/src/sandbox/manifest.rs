//! What a component says about itself through `describe()`, checked and in
//! host types (schemas as JSON values).

use serde::{Deserialize, Serialize};

use super::bindings::ComponentInfo;
use super::outbound::HostPattern;

/// One action of a component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionManifest {
    /// Identifier used in integration files.
    pub key: String,
    /// Human title.
    pub title: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: serde_json::Value,
    /// JSON Schema of the output.
    pub output_schema: serde_json::Value,
}

/// A component's `describe()` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentManifest {
    /// Registry name.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// What it is for.
    pub description: String,
    /// Its actions.
    pub actions: Vec<ActionManifest>,
    /// Outbound hosts it declares (`host:port`, `*.domain:port`, `*`).
    pub hosts: Vec<String>,
}

impl ComponentManifest {
    /// `name@version`.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The action with `key`.
    pub fn action(&self, key: &str) -> Option<&ActionManifest> {
        self.actions.iter().find(|a| a.key == key)
    }

    /// Checks and converts what `describe()` returned.
    pub fn from_info(info: ComponentInfo) -> Result<Self, String> {
        if !is_slug(&info.name) {
            return Err(format!(
                "component name {:?} must be lowercase letters, digits and '-', starting with a letter",
                info.name
            ));
        }
        if !is_semver(&info.version) {
            return Err(format!(
                "component version {:?} must look like 1.2.3",
                info.version
            ));
        }
        if info.actions.is_empty() {
            return Err("component declares no actions".into());
        }
        let mut actions: Vec<ActionManifest> = Vec::with_capacity(info.actions.len());
        for action in info.actions {
            if !is_slug(&action.key) {
                return Err(format!(
                    "action key {:?} must be lowercase letters, digits and '-'",
                    action.key
                ));
            }
            if actions.iter().any(|a| a.key == action.key) {
                return Err(format!("action key {:?} is declared twice", action.key));
            }
            let schema = |text: &str, which: &str| {
                serde_json::from_str(text).map_err(|e| {
                    format!("action {:?} has an invalid {which} schema: {e}", action.key)
                })
            };
            actions.push(ActionManifest {
                input_schema: schema(&action.input_schema, "input")?,
                output_schema: schema(&action.output_schema, "output")?,
                key: action.key,
                title: action.title,
                description: action.description,
            });
        }
        for host in &info.hosts {
            host.parse::<HostPattern>().map_err(|e| {
                format!("declared host: {e} (expected host:port, *.domain:port or *)")
            })?;
        }
        Ok(Self {
            name: info.name,
            version: info.version,
            description: info.description,
            actions,
            hosts: info.hosts,
        })
    }
}

fn is_slug(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && text.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn is_semver(text: &str) -> bool {
    let core = text.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}
