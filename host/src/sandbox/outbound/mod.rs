//! Policy for the guest's outbound HTTP (`wasi:http/outgoing-handler`).
//!
//! A request leaves the sandbox only when all of these hold, checked in
//! this order before anything touches the network:
//!
//! 1. the scheme is `http` or `https` (wasi-http refuses the rest);
//! 2. its `host:port` matches a host the component declared in `describe()`
//!    (entries like `{{ config.base_url }}` resolved from the instance's
//!    config, [`config_hosts`]);
//! 3. it matches the operator allowlist (`[sandbox.outbound] allow`) or one
//!    of the instance's additions ([`StepRequest::outbound_allow`]);
//! 4. fewer than `max_concurrent_requests` requests of the step are in
//!    flight;
//! 5. every address the host is reached at — the IP literal itself, or each
//!    address DNS returns — is an ordinary public address or covered by an
//!    operator `allow_cidrs` entry ([`AddressClass`] lists what is refused).
//!
//! The host then connects to one of the *checked* addresses with
//! [`crate::egress::connect_checked`] (never a second lookup, so a name
//! cannot rebind to an internal address between check and connect; TLS
//! with the host name as SNI for `https`), and applies the connect,
//! first-byte and between-bytes timeouts and the response body cap. Redirects are never followed: the guest sees the 3xx.
//!
//! A refusal fails the guest's request with `http-request-denied` (policy)
//! or `destination-ip-prohibited` (address), and a `warn` line from source
//! `host` in the step log says what was refused and why, e.g.
//! `outbound request to http://10.0.0.5:80 refused: host "10.0.0.5" is a
//! private address`.
//!
//! [`StepRequest::outbound_allow`]: crate::sandbox::StepRequest::outbound_allow
//! [`AddressClass`]: crate::egress::AddressClass

pub mod config_hosts;
mod send;
mod stats;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use http::uri::Scheme;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

pub use stats::{OutboundCount, OutboundOutcome, OutboundStats};

use super::host_state::{LogLevel, LogLine, LogSource};
use super::manifest::ComponentManifest;
use crate::egress::{HostPattern, OutboundConfig, normalize_host};

/// Host notes kept per step at most; past it one line says how many were
/// dropped, so a guest looping over refused requests cannot flood the log.
const MAX_NOTES: usize = 100;

/// The operator's outbound policy, compiled once per sandbox.
#[derive(Debug)]
pub struct OutboundPolicy {
    config: OutboundConfig,
}

impl OutboundPolicy {
    /// Wraps checked settings.
    pub fn new(config: OutboundConfig) -> Self {
        Self { config }
    }

    /// The settings.
    pub fn config(&self) -> &OutboundConfig {
        &self.config
    }
}

/// What one component may reach: its `name@version` and declared hosts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComponentGrant {
    /// `name@version`, for log lines and metrics.
    pub reference: String,
    /// The hosts it declared in `describe()`.
    pub declared: Vec<HostPattern>,
    /// Config keys of its templated host entries (`{{ config.base_url }}`),
    /// resolved per instance by [`ComponentGrant::for_config`]; after that,
    /// the keys that named no host.
    pub config_hosts: Vec<String>,
}

impl ComponentGrant {
    /// The grant of a described component. Declared hosts were checked by
    /// [`ComponentManifest::from_info`]; one that still fails to parse
    /// grants nothing.
    pub fn from_manifest(manifest: &ComponentManifest) -> Self {
        Self {
            reference: manifest.reference(),
            declared: manifest
                .hosts
                .iter()
                .filter_map(|h| h.parse().ok())
                .collect(),
            config_hosts: manifest
                .hosts
                .iter()
                .filter_map(|h| config_hosts::config_key(h))
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The log lines the hooks and their in-flight requests add to a step.
#[derive(Clone, Debug, Default)]
pub(crate) struct Notes(
    Arc<Mutex<(Vec<LogLine>, usize)>>,
    Arc<std::sync::atomic::AtomicU16>,
);

impl Notes {
    /// Remembers the status of a response the step received.
    pub(crate) fn status(&self, status: u16) {
        self.1.store(status, std::sync::atomic::Ordering::Relaxed);
    }

    /// The status of the last response the step received, if any.
    fn last_status(&self) -> Option<u16> {
        match self.1.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            status => Some(status),
        }
    }

    fn push(&self, level: LogLevel, message: String) {
        let mut notes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if notes.0.len() < MAX_NOTES {
            notes.0.push(LogLine {
                level,
                source: LogSource::Host,
                message,
                at: Some(chrono::Utc::now()),
            });
        } else {
            notes.1 += 1;
        }
    }

    /// A `warn` line.
    pub(crate) fn warn(&self, message: String) {
        self.push(LogLevel::Warn, message);
    }

    /// A `debug` line.
    pub(crate) fn debug(&self, message: String) {
        self.push(LogLevel::Debug, message);
    }

    fn take(&self) -> Vec<LogLine> {
        let mut notes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (mut lines, dropped) = std::mem::take(&mut *notes);
        if dropped > 0 {
            lines.push(LogLine {
                level: LogLevel::Warn,
                source: LogSource::Host,
                message: format!("{dropped} more outbound request notes dropped"),
                at: Some(chrono::Utc::now()),
            });
        }
        lines
    }
}

/// Per-step hooks the wasi:http implementation calls to send a request.
pub struct OutboundHooks {
    policy: Arc<OutboundPolicy>,
    grant: Arc<ComponentGrant>,
    extra: Arc<[HostPattern]>,
    stats: Arc<OutboundStats>,
    in_flight: Arc<Semaphore>,
    notes: Notes,
}

impl std::fmt::Debug for OutboundHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundHooks")
            .field("component", &self.grant.reference)
            .finish_non_exhaustive()
    }
}

impl OutboundHooks {
    /// Hooks for one step of the component `grant`, with the instance's
    /// extra allowed hosts.
    pub fn new(
        policy: Arc<OutboundPolicy>,
        grant: Arc<ComponentGrant>,
        extra: Arc<[HostPattern]>,
        stats: Arc<OutboundStats>,
    ) -> Self {
        let permits = (policy.config.max_concurrent_requests as usize).max(1);
        Self {
            policy,
            grant,
            extra,
            stats,
            in_flight: Arc::new(Semaphore::new(permits)),
            notes: Notes::default(),
        }
    }

    /// The host's log lines about this step's requests, oldest first.
    pub fn take_notes(&mut self) -> Vec<LogLine> {
        self.notes.take()
    }

    /// The status of the last HTTP response this step received, if any.
    pub fn last_status(&self) -> Option<u16> {
        self.notes.last_status()
    }

    /// Steps 2 and 3 of the module docs.
    fn check_hosts(&self, host: &str, port: u16) -> Result<(), String> {
        let shown = format!("{host}:{port}");
        if !self.grant.declared.iter().any(|p| p.matches(host, port)) {
            let component = match self.grant.reference.as_str() {
                "" => "this component",
                reference => reference,
            };
            let unresolved: String = self
                .grant
                .config_hosts
                .iter()
                .map(|key| {
                    format!("; {{{{ config.{key} }}}} names no host in this instance's config")
                })
                .collect();
            return Err(format!(
                "host {shown:?} not declared by component {component} (it declares {}{unresolved})",
                list(&self.grant.declared)
            ));
        }
        let operator = &self.policy.config.allow;
        if !operator
            .iter()
            .chain(self.extra.iter())
            .any(|p| p.matches(host, port))
        {
            return Err(format!("host {shown:?} not in the operator allowlist"));
        }
        Ok(())
    }

    fn deny(&self, target: &str, reason: &str) {
        self.notes
            .warn(format!("outbound request to {target} refused: {reason}"));
        self.stats
            .record(&self.grant.reference, OutboundOutcome::Denied);
    }
}

fn list(patterns: &[HostPattern]) -> String {
    if patterns.is_empty() {
        return "no hosts".into();
    }
    let quoted: Vec<String> = patterns
        .iter()
        .map(|p| format!("{:?}", p.as_str()))
        .collect();
    quoted.join(", ")
}

type ResponseFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

fn fail(error: wasmtime_wasi_http::Error) -> ResponseFuture {
    Box::new(async move { Err(error) })
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> ResponseFuture {
        use wasmtime_wasi_http::Error;

        let uri = request.uri();
        // Never the path or query in notes: they may carry credentials.
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or(""),
            uri.host().unwrap_or("")
        );
        let https = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            other => {
                let scheme = other.map_or("", |s| s.as_str()).to_owned();
                self.deny(&origin, &format!("scheme {scheme:?} is not http or https"));
                return fail(Error::HttpRequestDenied);
            }
        };
        let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
            self.deny(&origin, "the url has no host");
            return fail(Error::HttpRequestUriInvalid);
        };
        let host = normalize_host(host);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let shown_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let target = format!(
            "{}://{shown_host}:{port}",
            if https { "https" } else { "http" }
        );

        if let Err(reason) = self.check_hosts(&host, port) {
            self.deny(&target, &reason);
            return fail(Error::HttpRequestDenied);
        }
        let literal = host.parse::<IpAddr>().ok();
        if let Some(ip) = literal
            && let Err(class) = self.policy.config.check_address(ip)
        {
            self.deny(&target, &format!("host {host:?} is a {class} address"));
            return fail(Error::DestinationIpProhibited);
        }
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            let max = self.policy.config.max_concurrent_requests;
            self.deny(
                &target,
                &format!(
                    "{max} requests of this step are already in flight (max_concurrent_requests)"
                ),
            );
            return fail(Error::ConnectionLimitReached);
        };
        let exchange = send::Exchange {
            policy: self.policy.clone(),
            stats: self.stats.clone(),
            component: self.grant.reference.clone(),
            notes: self.notes.clone(),
            target,
            host,
            port,
            https,
            timeouts: self.policy.config.timeouts(options),
            permit,
        };
        Box::new(exchange.run(request))
    }
}
