//! Message-queue triggers: flows with `trigger: {type: queue, broker,
//! subject, group}` consume a subject of a NATS JetStream broker the
//! operator names in `weft.toml` (`[brokers.NAME]`, [`settings`]).
//!
//! - [`Brokers`] holds one client per configured broker. It connects in
//!   the background and reconnects forever with backoff; its state is
//!   `weft_broker_connected{broker}` in `/metrics` and a line of `/readyz`.
//! - [`QueueTriggers`] ([`manager`]) keeps one durable pull consumer per
//!   active instance and queue flow, started and stopped as instances
//!   change (it is an [`InstanceListener`](crate::instances::InstanceListener)).
//! - [`consumer`] is the loop of one of them: every message becomes an
//!   execution through the submit port ([`crate::submit::Submit`]) with the
//!   message's id as idempotency key, and is acknowledged only once that
//!   execution is on disk.

pub mod consumer;
pub mod manager;
pub mod settings;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

pub use manager::QueueTriggers;
pub use settings::{BrokerConfig, BrokerConfigError};

use crate::metrics::Metrics;

/// Label of the broker metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BrokerLabel {
    /// The broker's name in `weft.toml`.
    pub broker: String,
}

/// Label of `weft_queue_messages_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// The broker's name.
    pub broker: String,
    /// `started` (a new execution), `duplicate` (a redelivery of a message
    /// that has one), `deferred` (the tenant's queue was full, or the
    /// instance was no longer active: handed back to be redelivered
    /// later), `failed` (not stored; redelivered later).
    pub outcome: &'static str,
}

/// One configured broker.
#[derive(Debug)]
pub struct Broker {
    /// Its name in `weft.toml`.
    pub name: String,
    /// Its settings.
    pub config: BrokerConfig,
    /// The client (connected or connecting).
    pub client: async_nats::Client,
    /// When the last connection was lost or not yet made (Unix ms; 0 while
    /// connected).
    down_since: Arc<AtomicI64>,
}

/// How a broker is doing, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerStatus {
    /// The broker's name.
    pub name: String,
    /// Whether the client is connected now.
    pub connected: bool,
    /// How long it has been down (ms), when it is.
    pub down_for_ms: Option<u64>,
}

/// The configured brokers, by name.
#[derive(Debug, Default)]
pub struct Brokers {
    brokers: BTreeMap<String, Arc<Broker>>,
    messages: Family<MessageLabels, Counter>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Brokers {
    /// A client per broker of `configs`, connecting in the background
    /// (this does not wait for any broker to answer). Fails only on
    /// settings that cannot work: a credentials file that cannot be read,
    /// an environment variable that is not set.
    pub async fn connect(
        configs: &BTreeMap<String, BrokerConfig>,
        metrics: &Metrics,
    ) -> Result<Self, BrokerConfigError> {
        let connected: Family<BrokerLabel, Gauge> = Family::default();
        let messages: Family<MessageLabels, Counter> = Family::default();
        metrics.register(
            "broker_connected",
            "1 while the broker's client is connected, else 0",
            connected.clone(),
        );
        metrics.register(
            "queue_messages",
            "Queue-trigger messages handled, by broker and outcome",
            messages.clone(),
        );
        let mut brokers = BTreeMap::new();
        for (name, config) in configs {
            config.check(name)?;
            let gauge = connected
                .get_or_create(&BrokerLabel {
                    broker: name.clone(),
                })
                .clone();
            gauge.set(0);
            let down_since = Arc::new(AtomicI64::new(now_ms()));
            let (events_gauge, events_down, broker) =
                (gauge.clone(), down_since.clone(), name.clone());
            let options = config
                .connect_options(name)
                .await?
                .event_callback(move |event| {
                    let (gauge, down, broker) =
                        (events_gauge.clone(), events_down.clone(), broker.clone());
                    async move {
                        match event {
                            async_nats::Event::Connected => {
                                gauge.set(1);
                                down.store(0, Ordering::Relaxed);
                                tracing::info!(broker, "broker connected");
                            }
                            async_nats::Event::Disconnected | async_nats::Event::Closed => {
                                gauge.set(0);
                                let _ = down.compare_exchange(
                                    0,
                                    now_ms(),
                                    Ordering::Relaxed,
                                    Ordering::Relaxed,
                                );
                                tracing::warn!(
                                    broker,
                                    "broker disconnected; reconnecting with backoff"
                                );
                            }
                            other => tracing::debug!(broker, event = %other, "broker event"),
                        }
                    }
                });
            let addresses = config.addresses();
            let client = options.connect(addresses.as_slice()).await.map_err(|e| {
                BrokerConfigError::Invalid {
                    broker: name.clone(),
                    message: format!("cannot set up the client: {e}"),
                }
            })?;
            brokers.insert(
                name.clone(),
                Arc::new(Broker {
                    name: name.clone(),
                    config: config.clone(),
                    client,
                    down_since,
                }),
            );
        }
        Ok(Self { brokers, messages })
    }

    /// The broker named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Broker>> {
        self.brokers.get(name)
    }

    /// The names of every configured broker (for upload validation).
    pub fn names(&self) -> std::collections::BTreeSet<String> {
        self.brokers.keys().cloned().collect()
    }

    /// Whether any broker is configured.
    pub fn is_empty(&self) -> bool {
        self.brokers.is_empty()
    }

    /// Each broker's connection state.
    pub fn status(&self) -> Vec<BrokerStatus> {
        self.brokers
            .values()
            .map(|b| {
                let connected =
                    b.client.connection_state() == async_nats::connection::State::Connected;
                let since = b.down_since.load(Ordering::Relaxed);
                BrokerStatus {
                    name: b.name.clone(),
                    connected,
                    down_for_ms: (!connected && since > 0)
                        .then(|| u64::try_from(now_ms() - since).unwrap_or(0)),
                }
            })
            .collect()
    }

    /// Counts a handled message.
    pub(crate) fn count(&self, broker: &str, outcome: &'static str) {
        self.messages
            .get_or_create(&MessageLabels {
                broker: broker.to_owned(),
                outcome,
            })
            .inc();
    }
}
