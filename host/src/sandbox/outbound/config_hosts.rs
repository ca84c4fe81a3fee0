//! Declared hosts that are templates over instance config: a component
//! whose base URL is per-tenant declares `"{{ config.base_url }}"` instead
//! of `*`. Each step resolves such entries from its instance's config (a
//! URL, or `host[:port]`); the operator's allowlist and the address checks
//! still apply. A key the instance does not have, or a value that is not a
//! plain host (a wildcard, an empty string), grants nothing.

use serde_json::{Map, Value};

use super::ComponentGrant;
use crate::egress::HostPattern;

/// The config key of a templated host entry (`{{ config.base_url }}` →
/// `base_url`), if `entry` is one.
pub fn config_key(entry: &str) -> Option<&str> {
    let inner = entry.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let key = inner.strip_prefix("config.")?;
    let identifier = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    identifier.then_some(key)
}

/// The host pattern a config value names: `http(s)://host[:port][/…]`
/// (the port defaults from the scheme) or `host[:port]`. Wildcards are
/// refused: config names one host.
pub fn resolve(value: &str) -> Option<HostPattern> {
    let value = value.trim();
    if value.is_empty() || value.contains('*') {
        return None;
    }
    let text = if let Some((scheme, _)) = value.split_once("://") {
        let uri: http::Uri = value.parse().ok()?;
        let default = match scheme.to_ascii_lowercase().as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let host = uri.host()?;
        format!("{host}:{}", uri.port_u16().unwrap_or(default))
    } else {
        value.to_owned()
    };
    text.parse().ok()
}

impl ComponentGrant {
    /// This grant for one instance: the templated entries resolved from its
    /// config (`values`: non-secret string values by key).
    pub fn for_config(
        self: &std::sync::Arc<Self>,
        values: &Map<String, Value>,
    ) -> std::sync::Arc<Self> {
        if self.config_hosts.is_empty() {
            return self.clone();
        }
        let mut grant = (**self).clone();
        grant.config_hosts.clear();
        for key in &self.config_hosts {
            match values.get(key).and_then(Value::as_str).and_then(resolve) {
                Some(pattern) => grant.declared.push(pattern),
                None => grant.config_hosts.push(key.clone()),
            }
        }
        std::sync::Arc::new(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values() {
        assert_eq!(config_key("{{ config.base_url }}"), Some("base_url"));
        assert_eq!(config_key("{{config.x}}"), Some("x"));
        assert_eq!(config_key("{{ trigger.x }}"), None);
        assert_eq!(config_key("api.acme.example:443"), None);
        let shown = |v: &str| resolve(v).map(|p| p.to_string());
        assert_eq!(
            shown("http://127.0.0.1:8081/api"),
            Some("127.0.0.1:8081".into())
        );
        assert_eq!(
            shown("https://api.acme.example"),
            Some("api.acme.example:443".into())
        );
        assert_eq!(
            shown("api.acme.example:8443"),
            Some("api.acme.example:8443".into())
        );
        assert_eq!(shown("*"), None);
        assert_eq!(shown("https://*.acme.example"), None);
        assert_eq!(shown(""), None);
        assert_eq!(shown("ftp://x.example"), None);
    }
}
