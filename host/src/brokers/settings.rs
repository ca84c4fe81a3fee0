//! `[brokers.NAME]` in `weft.toml`: where a NATS server is and how Weft
//! authenticates to it. Credentials come from the environment or a file
//! the operator names, never from the settings text and never from an
//! integration.
//!
//! ```toml
//! [brokers.events]
//! url = "nats://nats-1.internal:4222, nats://nats-2.internal:4222"
//! stream = "EVENTS"                 # default: the stream whose subjects capture the trigger's
//! credentials_file = "/etc/weft/nats.creds"   # or user + password_env, or token_env
//! ack_wait = "30s"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::units::duration_serde;

/// One broker, `[brokers.NAME]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// `nats://host:port` (or `tls://`), several separated by commas.
    /// No user or password in it: use the credential keys.
    pub url: String,
    /// The JetStream stream to consume from. Default: the stream whose
    /// subjects capture the trigger's subject, looked up on the server
    /// (Weft never creates streams: their retention is the operator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// A NATS `.creds` file (JWT + nkey seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// User name; the password is read from `password_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Environment variable holding the password of `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Environment variable holding an authentication token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// How long the broker waits for Weft to acknowledge a message before
    /// it delivers it again. Default 30s: a message is acknowledged as soon
    /// as its execution is on disk (milliseconds), so this only matters
    /// after a crash, when it is how long unacknowledged messages wait.
    #[serde(default = "default_ack_wait", with = "duration_serde")]
    pub ack_wait: Duration,
    /// Messages delivered to one consumer and not yet acknowledged, at
    /// most. Default 1,000.
    #[serde(default = "default_max_ack_pending")]
    pub max_ack_pending: u32,
    /// A consumer no Weft node has pulled from for this long (its
    /// instance disabled or deleted) is removed by the broker. Default
    /// `30d`; an instance enabled again later starts a new consumer from
    /// the stream's first stored message, and its idempotency keys keep
    /// messages it already ran from running twice.
    #[serde(default = "default_inactive", with = "duration_serde")]
    pub inactive: Duration,
}

fn default_ack_wait() -> Duration {
    Duration::from_secs(30)
}

fn default_max_ack_pending() -> u32 {
    1_000
}

fn default_inactive() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

/// A `[brokers]` table that cannot work, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum BrokerConfigError {
    /// Something about the table.
    #[error("[brokers.{broker}] {message}")]
    Invalid {
        /// The broker's name.
        broker: String,
        /// What is wrong.
        message: String,
    },
}

impl BrokerConfig {
    /// The server addresses of `url`.
    pub fn addresses(&self) -> Vec<&str> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Checks what serde cannot: the name, the URLs and that at most one
    /// way of authenticating is chosen. Environment variables and files
    /// are read when the node opens ([`BrokerConfig::connect_options`]).
    pub fn check(&self, name: &str) -> Result<(), BrokerConfigError> {
        let invalid = |message: String| BrokerConfigError::Invalid {
            broker: name.to_owned(),
            message,
        };
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            return Err(invalid(
                "a broker name may use letters, digits, '-', '_' and '.'".to_owned(),
            ));
        }
        let addresses = self.addresses();
        if addresses.is_empty() {
            return Err(invalid("url is empty".to_owned()));
        }
        for address in addresses {
            let parsed = url::Url::parse(address)
                .map_err(|e| invalid(format!("url {address:?} is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "nats" | "tls") {
                return Err(invalid(format!(
                    "url {address:?}: the scheme must be nats:// or tls://"
                )));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(invalid(format!(
                    "url of broker has credentials in it ({}://…@{}); use user + password_env, \
                     token_env or credentials_file",
                    parsed.scheme(),
                    parsed.host_str().unwrap_or("")
                )));
            }
            async_nats::ServerAddr::from_url(parsed)
                .map_err(|e| invalid(format!("url {address:?}: {e}")))?;
        }
        let ways = [
            self.credentials_file.is_some(),
            self.user.is_some() || self.password_env.is_some(),
            self.token_env.is_some(),
        ];
        if ways.iter().filter(|w| **w).count() > 1 {
            return Err(invalid(
                "choose one of credentials_file, user + password_env, token_env".to_owned(),
            ));
        }
        if self.user.is_some() != self.password_env.is_some() {
            return Err(invalid(
                "user and password_env go together (the password is read from the environment)"
                    .to_owned(),
            ));
        }
        if self.ack_wait.is_zero() {
            return Err(invalid("ack_wait must be more than 0s".to_owned()));
        }
        if self.max_ack_pending == 0 {
            return Err(invalid("max_ack_pending must be at least 1".to_owned()));
        }
        if let Some(stream) = &self.stream
            && (stream.is_empty() || stream.contains(['.', '*', '>', ' ']))
        {
            return Err(invalid(format!(
                "stream {stream:?} is not a valid stream name"
            )));
        }
        Ok(())
    }

    /// The client options: credentials read now (a variable that is not
    /// set or a file that cannot be read is an error naming it), connecting
    /// in the background and reconnecting forever with backoff.
    pub async fn connect_options(
        &self,
        name: &str,
    ) -> Result<async_nats::ConnectOptions, BrokerConfigError> {
        let invalid = |message: String| BrokerConfigError::Invalid {
            broker: name.to_owned(),
            message,
        };
        let env = |key: &str, var: &str| {
            std::env::var(var).map_err(|_| {
                invalid(format!(
                    "{key} names the environment variable {var}, which is not set"
                ))
            })
        };
        let mut options = async_nats::ConnectOptions::new();
        if let Some(path) = &self.credentials_file {
            options = options.credentials_file(path).await.map_err(|e| {
                invalid(format!(
                    "cannot read credentials_file {}: {e}",
                    path.display()
                ))
            })?;
        }
        if let (Some(user), Some(var)) = (&self.user, &self.password_env) {
            options = options.user_and_password(user.clone(), env("password_env", var)?);
        }
        if let Some(var) = &self.token_env {
            options = options.token(env("token_env", var)?);
        }
        Ok(options
            .name("weft")
            .retry_on_initial_connect()
            .max_reconnects(None::<usize>)
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(Duration::from_secs(10)))
            .reconnect_delay_callback(reconnect_delay))
    }
}

/// Backoff between connection attempts: 100 ms doubling to 10 s, with
/// jitter, so a fleet does not reconnect in lockstep.
pub fn reconnect_delay(attempts: usize) -> Duration {
    let base = 100u64.saturating_mul(1 << attempts.min(7)).min(10_000);
    let jitter = rand::random_range(0..=base / 4);
    Duration::from_millis(base / 2 + jitter + base / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> BrokerConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_and_checks() {
        let b = parse("url = \"nats://127.0.0.1:4222\"\n");
        assert_eq!(b.ack_wait, Duration::from_secs(30));
        assert_eq!(b.max_ack_pending, 1000);
        b.check("events").unwrap();
        let b = parse("url = \"nats://a:4222, tls://b:4222\"\n");
        assert_eq!(b.addresses(), ["nats://a:4222", "tls://b:4222"]);
        b.check("events").unwrap();
        for (text, needle) in [
            ("url = \"http://a:4222\"", "nats:// or tls://"),
            ("url = \"nats://u:p@a:4222\"", "credentials in it"),
            ("url = \"\"", "url is empty"),
            (
                "url = \"nats://a\"\nuser = \"u\"\npassword_env = \"P\"\ntoken_env = \"T\"",
                "choose one",
            ),
            ("url = \"nats://a\"\nuser = \"u\"", "go together"),
            ("url = \"nats://a\"\nack_wait = \"0s\"", "ack_wait"),
            ("url = \"nats://a\"\nstream = \"a.b\"", "stream"),
        ] {
            let err = parse(text).check("events").unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.starts_with("[brokers.events]"), "{err}");
        }
        assert!(toml::from_str::<BrokerConfig>("url = \"nats://a\"\npassword = \"x\"").is_err());
    }

    #[test]
    fn a_missing_variable_is_named() {
        let b = parse("url = \"nats://a\"\ntoken_env = \"WEFT_TEST_SURELY_UNSET_TOKEN\"\n");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt
            .block_on(b.connect_options("events"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("WEFT_TEST_SURELY_UNSET_TOKEN"), "{err}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(reconnect_delay(0) <= Duration::from_millis(100));
        assert!(reconnect_delay(20) <= Duration::from_secs(10));
        assert!(reconnect_delay(20) >= Duration::from_secs(5));
    }
}
