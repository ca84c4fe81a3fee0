//! `weft.toml`: the operator's settings, every one optional with a
//! documented default.
//!
//! ```toml
//! [sandbox.limits]
//! fuel = 1000000000
//! timeout = "30s"
//! memory = "64MiB"
//!
//! [sandbox.pool]
//! instances = 128      # steps running at once
//! per_tenant = 32      # of those, one tenant's at most
//!
//! [engine]
//! max_queued_per_tenant = 1000
//!
//! [storage]
//! cache_capacity = "4MiB"    # sled's page cache
//!
//! [server]
//! public_url = "https://weft.example.com"   # default: http://<listen address>
//! builtins = "target/components"             # default: none
//! max_body = "16MiB"
//! request_timeout = "60s"
//! hook_max_body = "6MiB"
//!
//! [storage]
//! url = "postgres://weft@db.internal/weft"   # default: sled under --data-dir
//! [sandbox.outbound]
//! allow = ["api.acme.example:443", "*.example.com"]
//! allow_cidrs = ["10.1.2.0/24"]
//! max_response_body = "10MiB"
//!
//! [brokers.events]                           # queue triggers (see crate::brokers)
//! url = "nats://127.0.0.1:4222"
//! token_env = "NATS_TOKEN"
//! ```

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::brokers::BrokerConfig;
use crate::sandbox::SandboxConfig;
use crate::units::{ByteSize, duration_serde};

/// Everything `weft.toml` can set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Step limits and the instance pool.
    pub sandbox: SandboxConfig,
    /// The HTTP server (`weft serve`).
    pub server: ServerConfig,
    /// Workers, per-tenant caps and retention of the flow engine.
    pub engine: EngineConfig,
    /// Message brokers queue triggers consume from, by name
    /// (`[brokers.NAME]`).
    pub brokers: std::collections::BTreeMap<String, BrokerConfig>,
    /// Where the control plane is stored, and sled's memory bound.
    pub storage: StorageConfig,
}

/// The `[storage]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `postgres://user:password@host:port/db` to share one PostgreSQL
    /// database between nodes; `--store` / `WEFT_STORE` override it.
    /// Default: none, the embedded sled store under `--data-dir`.
    pub url: Option<String>,
    /// The most memory sled's page cache keeps (sled's `cache_capacity`).
    /// Default 4 MiB (sled's own default is 1 GiB): the hot set of a
    /// server is its instances, integrations and the executions running
    /// now, a few MiB; older executions are read back from disk (and the
    /// OS page cache) when the API asks for them, so a long-running server
    /// stays near its start-up size instead of growing with what it stored.
    pub cache_capacity: ByteSize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: None,
            // The same as `storage::DEFAULT_CACHE_CAPACITY`.
            cache_capacity: ByteSize::mib(4),
        }
    }
}

/// The `[engine]` table of `weft.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Executions running at once. Default 128 (as many as
    /// `[sandbox.pool] instances`: a worker mostly waits, for a step's
    /// I/O or for its step record's fsync, which concurrent executions
    /// share).
    pub workers: usize,
    /// Executions one tenant may run at once, so one tenant's flood cannot
    /// take every worker. Default 32, a quarter of the workers (the same
    /// share as `[sandbox.pool] per_tenant`): 32 callers of one tenant's
    /// sync webhook run at once instead of queueing behind 4.
    pub per_tenant: usize,
    /// Finished executions older than this are deleted. Default 14 days.
    #[serde(with = "duration_serde")]
    pub retention: Duration,
    /// Most items one `for_each` may iterate over. Default 10,000.
    pub for_each_max_items: usize,
    /// Most `for_each` items one execution may start over all its loops
    /// (nested ones included). Default 100,000.
    pub for_each_max_total: usize,
    /// Executions one tenant may have waiting for a worker (at least 1),
    /// in each lane: sync executions (a caller waits) are counted apart
    /// from async ones, so an async backlog never refuses a sync webhook.
    /// A submit that finds the queue full waits up to 250 ms for room;
    /// past it, webhooks, manual runs and replays answer 429 with
    /// `Retry-After` and store nothing, so a flood of large webhooks
    /// cannot fill the disk. Deploy and teardown flows are exempt. Default
    /// 1,000: at 6 MiB per webhook body, about 6 GiB per tenant and lane at most,
    /// and an acknowledged execution starts within 1,000 ÷ the tenant's
    /// finish rate (under 1 s at the ~1,300/s `make bench` measures).
    pub max_queued_per_tenant: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            workers: 128,
            per_tenant: 32,
            retention: Duration::from_secs(14 * 24 * 3600),
            for_each_max_items: 10_000,
            for_each_max_total: 100_000,
            max_queued_per_tenant: 1_000,
        }
    }
}

/// The `[server]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Base of the URLs the server hands out (webhook URLs). Default:
    /// `http://<listen address>`; set it when a proxy or another host name
    /// fronts the server.
    pub public_url: Option<String>,
    /// Directory of built-in components registered at start (every `*.wasm`
    /// except `hostile-*` and `fixture-*` test fixtures); `--builtins`
    /// overrides it.
    /// Default: none.
    pub builtins: Option<std::path::PathBuf>,
    /// Largest request body (component uploads are the big ones). Default
    /// 16 MiB: ample for connector components, which are typically under
    /// 5 MiB; larger bodies answer 413.
    pub max_body: ByteSize,
    /// Longest time a request may take before it answers 408. Default 60s:
    /// an upload compiles the component, which takes seconds for large ones.
    #[serde(with = "duration_serde")]
    pub request_timeout: std::time::Duration,
    /// Largest webhook body (`/hooks/…`); larger ones answer 413. Default
    /// 6 MiB, the common ceiling of webhook senders and serverless hosts.
    pub hook_max_body: ByteSize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            builtins: None,
            max_body: ByteSize::mib(16),
            request_timeout: std::time::Duration::from_secs(60),
            hook_max_body: ByteSize::mib(6),
        }
    }
}

impl Config {
    /// Reads `path`, or returns the defaults when `path` is `None`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read config file {}", path.display()))?;
        let config: Self = toml::from_str(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        config
            .check()
            .with_context(|| format!("invalid config file {}", path.display()))?;
        Ok(config)
    }

    /// Checks what no single field's type can: the instance pool reserves
    /// `[sandbox.pool] instances` × the per-component `[sandbox.limits]`
    /// counts of core instances, memories and tables, and each product must
    /// fit the pooling allocator's 32-bit counters.
    pub fn check(&self) -> Result<(), ConfigError> {
        let pool = &self.sandbox.pool;
        let limits = &self.sandbox.limits;
        if pool.instances == 0 {
            return Err(ConfigError::new(
                "[sandbox.pool] instances must be at least 1".to_owned(),
            ));
        }
        for (key, per_component) in [
            ("instances", limits.instances),
            ("memories", limits.memories),
            ("tables", limits.tables),
        ] {
            if pool.instances.checked_mul(per_component).is_none() {
                return Err(ConfigError::new(format!(
                    "[sandbox.pool] instances ({}) × [sandbox.limits] {key} ({per_component}) = {} exceeds {}; lower one of them",
                    pool.instances,
                    u64::from(pool.instances) * u64::from(per_component),
                    u32::MAX
                )));
            }
        }
        for (name, broker) in &self.brokers {
            broker
                .check(name)
                .map_err(|e| ConfigError::new(e.to_string()))?;
        }
        Ok(())
    }
}

/// A setting combination `weft.toml` cannot have.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn new(message: String) -> Self {
        Self(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_with_units() {
        let config: Config =
            toml::from_str("[sandbox.limits]\nfuel = 5\ntimeout = \"2s\"\nmemory = \"8MiB\"\n")
                .unwrap();
        assert_eq!(config.sandbox.limits.fuel, 5);
        assert_eq!(config.sandbox.limits.timeout.as_secs(), 2);
        assert_eq!(config.sandbox.limits.memory.0, 8 << 20);
    }

    #[test]
    fn outbound_policy_parses() {
        let config: Config = toml::from_str(
            "[sandbox.outbound]\nallow = [\"*.example.com:443\"]\nallow_cidrs = [\"127.0.0.1/32\"]\n",
        )
        .unwrap();
        assert_eq!(
            config.sandbox.outbound.allow[0].as_str(),
            "*.example.com:443"
        );
        assert_eq!(config.sandbox.outbound.max_concurrent_requests, 8);
    }

    #[test]
    fn pool_products_that_overflow_u32_are_refused() {
        let parse = |text: &str| toml::from_str::<Config>(text).unwrap();
        // 2^26 slots × 64 core instances = 2^32: one past u32::MAX.
        let err = parse("[sandbox.pool]\ninstances = 67108864\n[sandbox.limits]\ninstances = 64\n")
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[sandbox.pool] instances (67108864) × [sandbox.limits] instances (64) = 4294967296 exceeds 4294967295"),
            "{err}"
        );
        let err = parse("[sandbox.pool]\ninstances = 4294967295\n")
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("[sandbox.limits] instances (32)"), "{err}");
        let err = parse("[sandbox.pool]\ninstances = 0\n")
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("at least 1"), "{err}");
        // The largest pool that fits is accepted, as are the defaults.
        parse("[sandbox.pool]\ninstances = 67108863\n[sandbox.limits]\ninstances = 64\n")
            .check()
            .unwrap();
        Config::default().check().unwrap();
    }

    #[test]
    fn load_refuses_an_overflowing_pool() {
        let path = std::env::temp_dir().join(format!("weft-pool-{}.toml", std::process::id()));
        std::fs::write(&path, "[sandbox.pool]\ninstances = 4294967295\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        let _ = std::fs::remove_file(&path);
        let text = format!("{err:#}");
        assert!(text.contains("invalid config file"), "{text}");
        assert!(text.contains("exceeds 4294967295"), "{text}");
    }

    #[test]
    fn tenant_shares_parse() {
        let config: Config =
            toml::from_str("[sandbox.pool]\nper_tenant = 4\n[engine]\nmax_queued_per_tenant = 3\n")
                .unwrap();
        assert_eq!(config.sandbox.pool.per_tenant, 4);
        assert_eq!(config.sandbox.pool.instances, 128);
        assert_eq!(config.engine.max_queued_per_tenant, 3);
        let defaults = Config::default();
        assert_eq!(defaults.sandbox.pool.per_tenant, 32);
        assert_eq!(defaults.engine.max_queued_per_tenant, 1_000);
    }

    #[test]
    fn storage_cache_is_bounded_by_default_and_settable() {
        assert_eq!(Config::default().storage.cache_capacity, ByteSize::mib(4));
        let config: Config = toml::from_str("[storage]\ncache_capacity = \"8MiB\"\n").unwrap();
        assert_eq!(config.storage.cache_capacity, ByteSize::mib(8));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<Config>("[sandbox.limits]\nfule = 5\n").unwrap_err();
        assert!(err.to_string().contains("fule"), "{err}");
    }
}
