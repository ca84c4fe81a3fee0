//! `[sandbox.outbound]` of `weft.toml`: the operator's allowlist, the
//! address ranges it opens up, and the time and size caps of every request.
//!
//! ```toml
//! [sandbox.outbound]
//! allow = ["api.acme.example:443", "*.example.com"]
//! allow_cidrs = ["127.0.0.1/32"]
//! connect_timeout = "10s"
//! first_byte_timeout = "30s"
//! between_bytes_timeout = "30s"
//! max_response_body = "10MiB"
//! max_concurrent_requests = 8
//! ```

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use wasmtime_wasi_http::RequestOptions;

use super::address::{self, AddressClass};
use super::pattern::HostPattern;
use crate::units::{ByteSize, duration_serde};

/// The operator's outbound HTTP settings. Every field is optional; the
/// defaults allow nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Hosts components may reach, on top of declaring them (see
    /// [`HostPattern`]: `host:port`, `host` for any port, `*.domain[:port]`,
    /// `*`). Default: none, so no component reaches anything until the
    /// operator says so.
    pub allow: Vec<HostPattern>,
    /// Address ranges that are otherwise refused (loopback, private,
    /// link-local, ...) but that this operator allows, e.g. `127.0.0.1/32`
    /// or `10.1.2.0/24` for an internal API. A bare address means just it.
    /// Default: none.
    #[serde(with = "cidr_list")]
    pub allow_cidrs: Vec<IpNet>,
    /// Time to resolve the host and establish the connection (TCP and
    /// TLS). Default 10s.
    #[serde(with = "duration_serde")]
    pub connect_timeout: Duration,
    /// Time from sending the request to the response's status and headers.
    /// Default 30s (the step deadline, also 30s by default, bounds it too).
    #[serde(with = "duration_serde")]
    pub first_byte_timeout: Duration,
    /// Longest pause between two chunks of the response body. Default 30s.
    #[serde(with = "duration_serde")]
    pub between_bytes_timeout: Duration,
    /// Largest response body; past it the guest's read fails with
    /// `http-response-body-size`. Default 10 MiB — the guest holds the body
    /// in its own linear memory, capped at 64 MiB by default.
    pub max_response_body: ByteSize,
    /// Requests one step may have in flight at once; more fail with
    /// `connection-limit-reached`. Default 8.
    pub max_concurrent_requests: u32,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            allow_cidrs: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(30),
            between_bytes_timeout: Duration::from_secs(30),
            max_response_body: ByteSize::mib(10),
            max_concurrent_requests: 8,
        }
    }
}

/// The timeouts of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

impl OutboundConfig {
    /// `Ok` for an address the guest may reach: an ordinary public one or
    /// one an `allow_cidrs` entry covers; else the range it falls in.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), AddressClass> {
        match address::classify(ip) {
            Some(class) if !address::allowed_by(&self.allow_cidrs, ip) => Err(class),
            _ => Ok(()),
        }
    }

    /// The operator's timeouts, shortened by the guest's request options
    /// (a guest can ask for less time, never for more).
    pub(crate) fn timeouts(&self, options: Option<RequestOptions>) -> Timeouts {
        let options = options.unwrap_or_default();
        let pick = |operator: Duration, guest: Option<Duration>| {
            guest.map_or(operator, |g| g.min(operator))
        };
        Timeouts {
            connect: pick(self.connect_timeout, options.connect_timeout),
            first_byte: pick(self.first_byte_timeout, options.first_byte_timeout),
            between_bytes: pick(self.between_bytes_timeout, options.between_bytes_timeout),
        }
    }
}

/// `allow_cidrs` as strings: `10.0.0.0/8`, or a bare address for just it.
mod cidr_list {
    use super::*;

    pub fn serialize<S: Serializer>(cidrs: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(cidrs.iter().map(ToString::to_string))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| parse(text).map_err(serde::de::Error::custom))
            .collect()
    }

    pub fn parse(text: &str) -> Result<IpNet, String> {
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(net);
        }
        text.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
            format!(
                "invalid cidr {text:?}: expected an address range such as 10.0.0.0/8 or fd00::/8"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let text = r#"
            allow = ["api.acme.example:443", "*.example.com"]
            allow_cidrs = ["127.0.0.1/32", "10.1.2.3"]
            connect_timeout = "2s"
            first_byte_timeout = "3s"
            between_bytes_timeout = "4s"
            max_response_body = "1MiB"
            max_concurrent_requests = 2
        "#;
        let config: OutboundConfig = toml::from_str(text).unwrap();
        assert_eq!(config.allow.len(), 2);
        assert_eq!(config.allow_cidrs[1].to_string(), "10.1.2.3/32");
        assert_eq!(config.connect_timeout, Duration::from_secs(2));
        assert_eq!(config.max_response_body, ByteSize::mib(1));
        assert_eq!(config.max_concurrent_requests, 2);
    }

    #[test]
    fn defaults_allow_nothing() {
        let config = OutboundConfig::default();
        assert!(config.allow.is_empty());
        assert_eq!(
            config.check_address("127.0.0.1".parse().unwrap()),
            Err(AddressClass::Loopback)
        );
        assert_eq!(
            config.check_address("93.184.216.34".parse().unwrap()),
            Ok(())
        );
    }

    #[test]
    fn bad_entries_are_quoted() {
        let err = toml::from_str::<OutboundConfig>("allow_cidrs = [\"10.0.0.0/33\"]").unwrap_err();
        assert!(err.to_string().contains("\"10.0.0.0/33\""), "{err}");
        let err = toml::from_str::<OutboundConfig>("allow = [\"http://x\"]").unwrap_err();
        assert!(err.to_string().contains("not a url"), "{err}");
    }

    #[test]
    fn guest_may_only_shorten_timeouts() {
        let config = OutboundConfig::default();
        let t = config.timeouts(Some(RequestOptions {
            connect_timeout: Some(Duration::from_secs(1)),
            first_byte_timeout: Some(Duration::from_secs(3600)),
            between_bytes_timeout: None,
        }));
        assert_eq!(t.connect, Duration::from_secs(1));
        assert_eq!(t.first_byte, Duration::from_secs(30));
        assert_eq!(t.between_bytes, Duration::from_secs(30));
    }
}
