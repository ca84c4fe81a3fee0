//! Host patterns: the one grammar shared by a component's declared hosts,
//! the operator allowlist and per-instance additions.
//!
//! | pattern               | matches                                              |
//! | --------------------- | ---------------------------------------------------- |
//! | `api.acme.example:443`| exactly that host on port 443                        |
//! | `api.acme.example`    | that host on any port                                |
//! | `*.example.com:443`   | any subdomain (any depth) of `example.com`, port 443; not `example.com` itself |
//! | `*.example.com`       | any subdomain of `example.com`, any port             |
//! | `127.0.0.1:8080`, `[::1]:8080` | that IP literal (still subject to the address checks) |
//! | `*`, `*:443`          | any host (on port 443)                                |
//!
//! A port of `*` is the same as no port. Hosts compare case-insensitively
//! and without a trailing dot.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a host pattern does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid host pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Which hosts a pattern covers.
#[derive(Clone, Debug, PartialEq, Eq)]
enum HostMatch {
    /// Every host.
    Any,
    /// Strict subdomains of this (lowercase) domain.
    Subdomains(String),
    /// Exactly this (lowercase) host name or IP literal (without brackets).
    Exact(String),
}

/// A checked host pattern, e.g. `*.example.com:443`; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPattern {
    text: String,
    host: HostMatch,
    port: Option<u16>,
}

impl HostPattern {
    /// Whether `host` (as in a URL, IPv6 with or without brackets) on
    /// `port` is covered.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = normalize_host(host);
        match &self.host {
            HostMatch::Any => true,
            HostMatch::Exact(exact) => *exact == host,
            HostMatch::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|head| !head.is_empty() && !head.ends_with('.')),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Lowercase, without IPv6 brackets or a trailing dot.
pub(crate) fn normalize_host(host: &str) -> String {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

impl FromStr for HostPattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| PatternError {
            pattern: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(fail("it is empty"));
        }
        if text.contains("://") || text.contains('/') {
            return Err(fail("write host:port, not a url"));
        }
        let (host, port) = split_port(text).map_err(fail)?;
        let port = match port {
            None | Some("*") => None,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => return Err(fail("the port must be 1 to 65535 or *")),
            },
        };
        let host = if host == "*" {
            HostMatch::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            check_name(domain).map_err(fail)?;
            HostMatch::Subdomains(format!(".{}", normalize_host(domain)))
        } else if host.starts_with('[') {
            let inner = &host[1..host.len() - 1];
            inner
                .parse::<Ipv6Addr>()
                .map_err(|_| fail("the bracketed part is not an ipv6 address"))?;
            HostMatch::Exact(normalize_host(host))
        } else {
            check_name(host).map_err(fail)?;
            HostMatch::Exact(normalize_host(host))
        };
        Ok(Self {
            text: text.to_owned(),
            host,
            port,
        })
    }
}

/// Splits `host[:port]`, keeping `[v6]` literals whole.
fn split_port(text: &str) -> Result<(&str, Option<&str>), &'static str> {
    if text.starts_with('[') {
        let end = text
            .find(']')
            .ok_or("an ipv6 literal needs a closing ']'")?;
        let (host, rest) = text.split_at(end + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => rest
                .strip_prefix(':')
                .map(|port| (host, Some(port)))
                .ok_or("expected :port after the ipv6 literal"),
        };
    }
    match text.split_once(':') {
        Some((_, port)) if port.contains(':') => {
            Err("write an ipv6 literal in brackets, e.g. [::1]:8080")
        }
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((text, None)),
    }
}

/// A host name or IPv4 literal: letters, digits, `-`, `_` and dots.
fn check_name(name: &str) -> Result<(), &'static str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Err("the host name must be 1 to 253 characters");
    }
    if name.contains('*') {
        return Err("'*' is allowed only as the whole host or as a leading '*.'");
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !name.split('.').all(label_ok) {
        return Err("the host name may hold only letters, digits, '-', '_' and dots");
    }
    Ok(())
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for HostPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> HostPattern {
        text.parse().unwrap()
    }

    #[test]
    fn exact_host_and_port() {
        let pattern = p("api.acme.example:443");
        assert!(pattern.matches("api.acme.example", 443));
        assert!(pattern.matches("API.Acme.Example.", 443));
        assert!(!pattern.matches("api.acme.example", 80));
        assert!(!pattern.matches("x.api.acme.example", 443));
    }

    #[test]
    fn no_port_means_any_port() {
        assert!(p("api.acme.example").matches("api.acme.example", 8443));
        assert!(p("api.acme.example:*").matches("api.acme.example", 1));
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let pattern = p("*.example.com");
        assert!(pattern.matches("a.example.com", 443));
        assert!(pattern.matches("a.b.example.com", 80));
        assert!(!pattern.matches("example.com", 443));
        assert!(!pattern.matches("badexample.com", 443));
        assert!(!pattern.matches("example.com.evil.test", 443));
    }

    #[test]
    fn star_matches_everything_on_its_port() {
        assert!(p("*").matches("anything.test", 1234));
        assert!(p("*:443").matches("anything.test", 443));
        assert!(!p("*:443").matches("anything.test", 80));
    }

    #[test]
    fn ip_literals() {
        assert!(p("127.0.0.1:8080").matches("127.0.0.1", 8080));
        assert!(p("[::1]:8080").matches("[::1]", 8080));
        assert!(p("[::1]").matches("::1", 1));
    }

    #[test]
    fn bad_patterns_say_why() {
        for (text, why) in [
            ("", "empty"),
            ("https://api.acme.example", "not a url"),
            ("api.acme.example:0", "port"),
            ("api.acme.example:http", "port"),
            ("a*.example.com", "'*'"),
            ("::1", "brackets"),
            ("[::1", "closing"),
            ("[nope]:1", "ipv6"),
            ("exa mple.com", "letters"),
        ] {
            let err = text.parse::<HostPattern>().unwrap_err().to_string();
            assert!(err.contains(why), "{text:?}: {err}");
            assert!(err.contains(&format!("{text:?}")), "{err}");
        }
    }
}
