//! What a component says about itself through `describe()`, checked and in
//! host types (schemas as JSON values).

use serde::{Deserialize, Serialize};

use super::bindings::ComponentInfo;
use super::logbook::cut;
use crate::egress::HostPattern;

/// Most actions one component may declare.
pub const MAX_ACTIONS: usize = 256;
/// Most outbound hosts one component may declare.
pub const MAX_HOSTS: usize = 64;
/// Largest JSON Schema of one action's input or output, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Deepest nesting of arrays and objects in one schema.
pub const MAX_SCHEMA_DEPTH: usize = 32;
/// Largest `describe()` answer, all its strings together, in bytes.
pub const MAX_DESCRIBE_BYTES: usize = 1024 * 1024;
/// Longest component or action description kept; longer ones are cut
/// with a marker.
pub const MAX_DESCRIPTION: usize = 4 * 1024;
/// Longest action title kept; longer ones are cut with a marker.
pub const MAX_TITLE: usize = 256;
/// Longest version string or declared host.
const MAX_NAME: usize = 255;

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
        if info.actions.len() > MAX_ACTIONS {
            return Err(format!(
                "component declares {} actions; the limit is {MAX_ACTIONS}",
                info.actions.len()
            ));
        }
        if info.hosts.len() > MAX_HOSTS {
            return Err(format!(
                "component declares {} outbound hosts; the limit is {MAX_HOSTS}",
                info.hosts.len()
            ));
        }
        let size = info_size(&info);
        if size > MAX_DESCRIBE_BYTES {
            return Err(format!(
                "describe() answered {size} bytes; the limit is {MAX_DESCRIBE_BYTES}"
            ));
        }
        if let Some(host) = info.hosts.iter().find(|h| h.len() > MAX_NAME) {
            return Err(format!(
                "declared host of {} bytes is longer than {MAX_NAME}",
                host.len()
            ));
        }
        if info.version.len() > MAX_NAME {
            return Err(format!(
                "component version of {} bytes is longer than {MAX_NAME}",
                info.version.len()
            ));
        }
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
                if text.len() > MAX_SCHEMA_BYTES {
                    return Err(format!(
                        "action {:?} has a {which} schema of {} bytes; the limit is {MAX_SCHEMA_BYTES}",
                        action.key,
                        text.len()
                    ));
                }
                let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                    format!("action {:?} has an invalid {which} schema: {e}", action.key)
                })?;
                if depth(&value) > MAX_SCHEMA_DEPTH {
                    return Err(format!(
                        "action {:?} has a {which} schema nested deeper than {MAX_SCHEMA_DEPTH} levels",
                        action.key
                    ));
                }
                Ok(value)
            };
            actions.push(ActionManifest {
                input_schema: schema(&action.input_schema, "input")?,
                output_schema: schema(&action.output_schema, "output")?,
                key: action.key,
                title: cut(action.title, MAX_TITLE),
                description: cut(action.description, MAX_DESCRIPTION),
            });
        }
        for host in &info.hosts {
            if host.contains("{{") {
                if super::outbound::config_hosts::config_key(host).is_none() {
                    return Err(format!(
                        "declared host {host:?}: a templated host is exactly {{{{ config.KEY }}}}"
                    ));
                }
                continue;
            }
            host.parse::<HostPattern>().map_err(|e| {
                format!("declared host: {e} (expected host:port, *.domain:port or *)")
            })?;
        }
        Ok(Self {
            name: info.name,
            version: info.version,
            description: cut(info.description, MAX_DESCRIPTION),
            actions,
            hosts: info.hosts,
        })
    }
}

/// All the strings of a `describe()` answer together, in bytes.
fn info_size(info: &ComponentInfo) -> usize {
    let actions: usize = info
        .actions
        .iter()
        .map(|a| {
            a.key.len()
                + a.title.len()
                + a.description.len()
                + a.input_schema.len()
                + a.output_schema.len()
        })
        .sum();
    let hosts: usize = info.hosts.iter().map(String::len).sum();
    info.name.len() + info.version.len() + info.description.len() + actions + hosts
}

/// Nesting depth of arrays and objects (a scalar is 0), without recursion.
fn depth(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, level)) = stack.pop() {
        deepest = deepest.max(level);
        match value {
            serde_json::Value::Array(items) => stack.extend(items.iter().map(|v| (v, level + 1))),
            serde_json::Value::Object(map) => stack.extend(map.values().map(|v| (v, level + 1))),
            _ => {}
        }
    }
    deepest
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
