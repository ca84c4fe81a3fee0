//! One queue trigger of one instance: a durable JetStream pull consumer
//! and the loop that turns its messages into executions.
//!
//! The consumer is named `<group>_<instance>_<flow>`, so every Weft node
//! of a group pulls from the same one (each message reaches one of them)
//! and it outlives restarts: messages published while the host was down
//! or the instance disabled wait in the stream. It filters the stream on
//! the instance's rendered subject; when that subject changes, the
//! consumer is replaced. A new consumer starts at the stream's first
//! stored message on the subject.
//!
//! Each message is submitted through [`Submit`] with the idempotency key
//! `nats:<Nats-Msg-Id>` (else `nats:<stream>:<sequence>`), and
//! acknowledged only after the submit returned, that is once the
//! execution is on disk: a host killed before that gets the message
//! again (after `ack_wait`), and a redelivered message finds the
//! execution its first delivery started instead of starting another. A
//! full tenant queue, an instance that is no longer active or a storage
//! failure hand the message back (`nak` with a delay) for later.
//!
//! Broker errors (down, no stream for the subject yet, the consumer
//! deleted) end one attempt; the loop tries again with backoff (200 ms
//! doubling to 10 s) until it is stopped.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use base64::Engine as _;
use futures::StreamExt as _;
use serde_json::{Map, Value, json};
use sha2::Digest as _;
use tokio::sync::watch;

use super::{Broker, Brokers};
use crate::storage::{InstanceStatus, Storage};
use crate::submit::{EngineError, NewExecution, Submit};

/// How long a message handed back waits before the broker redelivers it
/// (as a webhook's `Retry-After: 5`).
pub const REDELIVER_AFTER: Duration = Duration::from_secs(5);

/// First and longest wait between attempts to set up the consumer.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Messages asked for per pull request.
const BATCH: usize = 64;

/// Idempotency keys longer than this are hashed (the engine keeps keys
/// per execution; message ids are the publisher's choice).
const MAX_KEY: usize = 200;

/// What the consumers share.
pub struct Shared {
    /// The configured brokers.
    pub brokers: Arc<Brokers>,
    /// Instance records (is it still active?).
    pub store: Arc<dyn Storage>,
    /// Where executions start.
    pub submit: Arc<dyn Submit>,
}

/// One consumer to run: an active instance's queue flow, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The instance.
    pub instance: String,
    /// The queue flow.
    pub flow: String,
    /// The broker's name.
    pub broker: String,
    /// The subject, config filled in.
    pub subject: String,
    /// The consumer group.
    pub group: String,
}

impl Spec {
    /// The durable consumer's name.
    pub fn consumer_name(&self) -> String {
        format!("{}_{}_{}", self.group, self.instance, self.flow)
    }
}

/// Why one attempt to consume ended.
#[derive(Debug, thiserror::Error)]
enum ConsumeError {
    #[error("broker {0:?} is not configured on this server")]
    UnknownBroker(String),
    #[error("{0}")]
    Broker(String),
}

fn broker_error(what: &str, e: impl std::fmt::Display) -> ConsumeError {
    ConsumeError::Broker(format!("{what}: {e}"))
}

/// Runs `spec`'s consumer until `stop` turns `true`.
pub async fn run(shared: Arc<Shared>, spec: Spec, mut stop: watch::Receiver<bool>) {
    let mut wait = BACKOFF_FIRST;
    let mut last_error = String::new();
    loop {
        if *stop.borrow() {
            return;
        }
        match consume(&shared, &spec, &mut stop, &mut wait).await {
            Ok(()) => return,
            Err(e) => {
                let message = e.to_string();
                if message != last_error {
                    tracing::warn!(instance = %spec.instance, flow = %spec.flow, broker = %spec.broker,
                        subject = %spec.subject, error = %message, "queue trigger not consuming; retrying with backoff");
                    last_error = message;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = stop.changed() => if changed.is_err() {
                // The manager is gone: nobody can stop or want us.
                return;
            },
        }
        wait = (wait * 2).min(BACKOFF_MAX);
    }
}

/// One attempt: set up the consumer, then handle messages until stopped
/// (`Ok`) or the broker fails (`Err`).
async fn consume(
    shared: &Shared,
    spec: &Spec,
    stop: &mut watch::Receiver<bool>,
    wait: &mut Duration,
) -> Result<(), ConsumeError> {
    let broker = shared
        .brokers
        .get(&spec.broker)
        .ok_or_else(|| ConsumeError::UnknownBroker(spec.broker.clone()))?;
    let js = jetstream::new(broker.client.clone());
    let stream_name = match &broker.config.stream {
        Some(name) => name.clone(),
        None => js
            .stream_by_subject(spec.subject.clone())
            .await
            .map_err(|e| {
                broker_error(&format!("no stream captures subject {:?}", spec.subject), e)
            })?,
    };
    let stream = js
        .get_stream(&stream_name)
        .await
        .map_err(|e| broker_error(&format!("stream {stream_name:?}"), e))?;
    let name = spec.consumer_name();
    if let Ok(info) = stream.consumer_info(&name).await
        && info.config.filter_subject != spec.subject
    {
        tracing::info!(consumer = %name, old = %info.config.filter_subject, new = %spec.subject, "subject changed; replacing the consumer");
        stream
            .delete_consumer(&name)
            .await
            .map_err(|e| broker_error(&format!("deleting consumer {name:?}"), e))?;
    }
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some(name.clone()),
            description: Some(format!(
                "weft: instance {} flow {}",
                spec.instance, spec.flow
            )),
            filter_subject: spec.subject.clone(),
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: broker.config.ack_wait,
            max_ack_pending: i64::from(broker.config.max_ack_pending),
            inactive_threshold: broker.config.inactive,
            ..pull::Config::default()
        })
        .await
        .map_err(|e| broker_error(&format!("creating consumer {name:?}"), e))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(BATCH.min(broker.config.max_ack_pending as usize))
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .map_err(|e| broker_error("pulling messages", e))?;
    tracing::info!(instance = %spec.instance, flow = %spec.flow, broker = %spec.broker,
        subject = %spec.subject, stream = %stream_name, consumer = %name, "queue trigger consuming");
    *wait = BACKOFF_FIRST;
    loop {
        let next = tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            next = messages.next() => next,
        };
        match next {
            None => return Err(ConsumeError::Broker("the message stream ended".to_owned())),
            Some(Err(e)) => return Err(broker_error("pulling messages", e)),
            // Not cancelled by `stop`: a message being submitted is
            // finished and acknowledged.
            Some(Ok(message)) => handle(shared, broker, spec, message).await,
        }
        if *stop.borrow() {
            return Ok(());
        }
    }
}

/// Submits one message and acknowledges it once its execution is stored.
async fn handle(shared: &Shared, broker: &Broker, spec: &Spec, message: jetstream::Message) {
    let (key, trigger) = match describe(broker, &message) {
        Ok(found) => found,
        Err(e) => {
            // Not a JetStream message (no ack subject): nothing to ack.
            tracing::warn!(consumer = %spec.consumer_name(), error = %e, "ignoring a message without JetStream metadata");
            return;
        }
    };
    let active = shared
        .store
        .get_instance(&spec.instance)
        .ok()
        .flatten()
        .is_some_and(|i| i.status == InstanceStatus::Active);
    if !active {
        defer(shared, broker, &message, "deferred").await;
        return;
    }
    let submitted = shared
        .submit
        .submit(NewExecution {
            instance: spec.instance.clone(),
            flow: spec.flow.clone(),
            trigger,
            idempotency_key: Some(key.clone()),
            ..NewExecution::default()
        })
        .await;
    match submitted {
        Ok(s) => {
            if let Err(e) = message.ack().await {
                tracing::warn!(execution_id = %s.record.id, error = %e, "could not acknowledge a message; it will be redelivered and find its execution");
            }
            if s.created {
                tracing::debug!(instance = %spec.instance, flow = %spec.flow, execution_id = %s.record.id, key, "queue message started an execution");
            }
            shared.brokers.count(
                &broker.name,
                if s.created { "started" } else { "duplicate" },
            );
        }
        Err(EngineError::QueueFull { .. }) => defer(shared, broker, &message, "deferred").await,
        Err(e) => {
            tracing::error!(instance = %spec.instance, flow = %spec.flow, error = %e, "queue message not stored; it will be redelivered");
            defer(shared, broker, &message, "failed").await;
        }
    }
}

/// Hands a message back for redelivery after [`REDELIVER_AFTER`].
async fn defer(
    shared: &Shared,
    broker: &Broker,
    message: &jetstream::Message,
    outcome: &'static str,
) {
    if let Err(e) = message.ack_with(AckKind::Nak(Some(REDELIVER_AFTER))).await {
        tracing::warn!(error = %e, "could not hand a message back; the broker redelivers it after ack_wait");
    }
    shared.brokers.count(&broker.name, outcome);
}

/// The idempotency key and the trigger payload of a message.
fn describe(broker: &Broker, message: &jetstream::Message) -> Result<(String, Value), String> {
    let info = message.info().map_err(|e| e.to_string())?;
    let mut headers = Map::new();
    let mut message_id = None;
    if let Some(map) = &message.headers {
        for (name, values) in map.iter() {
            let name = name.to_string();
            let value = values
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            if name.eq_ignore_ascii_case("nats-msg-id") && !value.is_empty() {
                message_id = Some(value.clone());
            }
            headers.insert(name.to_ascii_lowercase(), Value::String(value));
        }
    }
    let key = match &message_id {
        Some(id) => format!("nats:{id}"),
        None => format!("nats:{}:{}", info.stream, info.stream_sequence),
    };
    let key = if key.len() > MAX_KEY || !key.chars().all(|c| c.is_ascii_graphic()) {
        format!(
            "nats-sha256:{}",
            hex::encode(sha2::Sha256::digest(key.as_bytes()))
        )
    } else {
        key
    };
    let payload = &message.payload;
    let (body, encoding) = match serde_json::from_slice::<Value>(payload) {
        Ok(v) if !payload.is_empty() => (v, "json"),
        _ => match std::str::from_utf8(payload) {
            Ok(text) => (Value::String(text.to_owned()), "text"),
            Err(_) => (
                Value::String(base64::engine::general_purpose::STANDARD.encode(payload)),
                "base64",
            ),
        },
    };
    let published = info.published.unix_timestamp_nanos();
    let published =
        chrono::DateTime::from_timestamp_nanos(i64::try_from(published).unwrap_or(i64::MAX))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let trigger = json!({
        "type": "queue",
        "broker": broker.name,
        "subject": message.subject.to_string(),
        "body": body,
        "body_encoding": encoding,
        "headers": headers,
        "message_id": message_id,
        "stream": info.stream,
        "sequence": info.stream_sequence,
        "delivered": info.delivered,
        "published": published,
    });
    Ok((key, trigger))
}
