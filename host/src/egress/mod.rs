//! Egress: every connection the host opens on someone else's behalf (a
//! component's outbound HTTP, a webhook's `X-Weft-Callback`) goes through
//! here, under the operator's `[sandbox.outbound]` policy.
//!
//! - [`OutboundConfig`]: the allowlist of hosts ([`HostPattern`]), the
//!   address ranges `allow_cidrs` opens up, and the time and size caps;
//! - [`AddressClass`]: the ranges refused unless `allow_cidrs` covers them
//!   (loopback, private, link-local and cloud metadata, …);
//! - [`connect_checked`]: resolve a host, keep only the addresses the
//!   policy allows (refused if none is), connect to one of *those* (never
//!   a second lookup, so a name cannot rebind to an internal address
//!   between check and connect), and speak TLS with the host name as SNI
//!   for `https`.
//!
//! Which hosts a caller may name (declared hosts, instance additions) and
//! the HTTP exchange on the connection are the callers' business.

mod address;
mod config;
mod connect;
mod pattern;

pub use address::AddressClass;
pub use config::OutboundConfig;
pub(crate) use config::Timeouts;
pub use connect::{Connection, EgressError, connect_checked, tls_client_config};
pub(crate) use pattern::normalize_host;
pub use pattern::{HostPattern, PatternError};
