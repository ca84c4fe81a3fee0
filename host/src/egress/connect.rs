//! [`connect_checked`]: the one guarded connection of the host (see the
//! module docs of [`crate::egress`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{AddressClass, OutboundConfig};

/// A connection to a checked address: TCP, or TLS over it.
pub trait Connection: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Connection for T {}

/// Why [`connect_checked`] returned no connection.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The IP literal is in a refused range.
    #[error("host {host:?} is a {class} address")]
    LiteralProhibited {
        /// The host as given.
        host: String,
        /// The range it falls in.
        class: AddressClass,
    },
    /// Every address the name resolves to is in a refused range.
    #[error("host {host:?} resolves to {ip}, a {class} address")]
    ResolvedProhibited {
        /// The host name.
        host: String,
        /// The first refused address.
        ip: IpAddr,
        /// Its range.
        class: AddressClass,
    },
    /// The lookup failed.
    #[error("dns lookup of {host:?} failed: {source}")]
    Dns {
        /// The host name.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The lookup returned nothing.
    #[error("dns lookup of {host:?} returned no addresses")]
    NoAddress {
        /// The host name.
        host: String,
    },
    /// No checked address accepted the connection (the last error).
    #[error("connect to {address} failed: {source}")]
    Connect {
        /// The last address tried.
        address: SocketAddr,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The TLS client settings could not be built.
    #[error("{0}")]
    TlsSetup(String),
    /// The host is not a name TLS can verify.
    #[error("{host:?} is not a valid tls server name")]
    ServerName {
        /// The host.
        host: String,
        /// The parse error.
        source: rustls::pki_types::InvalidDnsNameError,
    },
    /// The TLS handshake failed.
    #[error("tls handshake failed: {source}")]
    Tls {
        /// The host.
        host: String,
        /// Why.
        source: std::io::Error,
    },
}

impl EgressError {
    /// Whether the policy refused the destination (as opposed to the
    /// network failing): nothing was or will be contacted.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::LiteralProhibited { .. } | Self::ResolvedProhibited { .. }
        )
    }
}

/// TLS client settings for every egress connection: webpki roots, the
/// ring provider, safe default protocol versions; built once per process.
pub fn tls_client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| format!("tls setup failed: {e}"))
        })
        .clone()
}

/// Connects to `host:port` under `policy`'s address rules: an IP literal
/// must pass [`OutboundConfig::check_address`]; a name is resolved, the
/// addresses that fail the check are dropped (refused if none is left),
/// and the others are tried in order. With `https`, TLS follows with
/// `host` as the server name. `host` is normalised (lowercase, IPv6
/// without brackets); whether it may be named at all (the allowlist) is
/// checked by the caller first. Time limits are the caller's.
pub async fn connect_checked(
    policy: &OutboundConfig,
    host: &str,
    port: u16,
    https: bool,
) -> Result<Box<dyn Connection>, EgressError> {
    let literal = host.parse::<IpAddr>().ok();
    let addresses = match literal {
        Some(ip) => {
            policy
                .check_address(ip)
                .map_err(|class| EgressError::LiteralProhibited {
                    host: host.to_owned(),
                    class,
                })?;
            vec![SocketAddr::new(ip, port)]
        }
        None => resolve(policy, host, port).await?,
    };
    let tcp = connect(&addresses).await?;
    if !https {
        return Ok(Box::new(tcp));
    }
    use rustls::pki_types::ServerName;
    let config = tls_client_config().map_err(EgressError::TlsSetup)?;
    let name = match literal {
        Some(ip) => ServerName::from(ip),
        None => {
            ServerName::try_from(host.to_owned()).map_err(|source| EgressError::ServerName {
                host: host.to_owned(),
                source,
            })?
        }
    };
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|source| EgressError::Tls {
            host: host.to_owned(),
            source,
        })?;
    Ok(Box::new(tls))
}

/// Every address DNS returns for `host` that passes the address checks.
async fn resolve(
    policy: &OutboundConfig,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, EgressError> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| EgressError::Dns {
            host: host.to_owned(),
            source,
        })?
        .collect();
    let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = found
        .iter()
        .partition(|addr| policy.check_address(addr.ip()).is_ok());
    if !allowed.is_empty() {
        return Ok(allowed);
    }
    let Some(first) = refused.first() else {
        return Err(EgressError::NoAddress {
            host: host.to_owned(),
        });
    };
    Err(match policy.check_address(first.ip()) {
        Err(class) => EgressError::ResolvedProhibited {
            host: host.to_owned(),
            ip: first.ip(),
            class,
        },
        // Not reached: `first` failed the same check.
        Ok(()) => EgressError::NoAddress {
            host: host.to_owned(),
        },
    })
}

/// Tries each checked address in order; the first that accepts wins.
async fn connect(addresses: &[SocketAddr]) -> Result<TcpStream, EgressError> {
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(source) => {
                last = Some(EgressError::Connect {
                    address: *address,
                    source,
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| EgressError::NoAddress {
        host: "(no address)".to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refusals happen before any connection. Only loopback literals here
    /// (a bug would connect over loopback, nowhere else); the other ranges
    /// are the classifier's tests in `address`.
    #[tokio::test]
    async fn literals_in_refused_ranges_are_never_contacted() {
        let policy = OutboundConfig::default();
        for host in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let error = connect_checked(&policy, host, 80, false)
                .await
                .err()
                .unwrap_or_else(|| panic!("{host} was let through"));
            assert!(error.is_refusal(), "{host}: {error}");
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("host {host:?} is a ")),
                "{error}"
            );
        }
    }

    #[tokio::test]
    async fn a_name_resolving_only_to_loopback_is_refused() {
        let policy = OutboundConfig::default();
        let error = connect_checked(&policy, "localhost", 80, false)
            .await
            .err()
            .expect("localhost was let through");
        assert!(error.is_refusal(), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("host \"localhost\" resolves to "),
            "{error}"
        );
    }
}
