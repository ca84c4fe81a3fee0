//! `X-Weft-Callback`: when an execution that carries a callback URL ends,
//! its result `{execution_id, status, output, error}` is POSTed there as
//! JSON, and what happened is recorded as the execution's
//! `callback_outcome`.
//!
//! The URL is policed like a component's outbound request: its `host:port`
//! must match the operator's `[sandbox.outbound] allow`, and every address
//! it resolves to is checked like one: the connection
//! ([`crate::egress::connect_checked`]) goes only to a public address or
//! one `allow_cidrs` covers (so a caller cannot make the host POST to
//! loopback, private or metadata addresses), with no second lookup. A
//! refused URL is never contacted; its outcome says why (`refused: …`).
//!
//! Delivery makes up to [`ATTEMPTS`] attempts, waiting [`FIRST_BACKOFF`]
//! then twice as long before each retry; any 2xx answer is a delivery.
//! Delivery is best effort across restarts: a host killed between the end
//! of an execution and its delivery does not deliver it later.
//!
//! The URL may carry a user, a password or a token in its query: logs,
//! outcomes and the API show it as [`loggable_url`] (scheme, host and path).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;
use wasmtime_wasi_http::io::TokioIo;

use crate::egress::{self, OutboundConfig};
use crate::model::ExecutionRecord;
use crate::storage::Storage;
use crate::submit::FinishListener;

/// Delivery attempts per callback.
pub const ATTEMPTS: u32 = 3;
/// Wait before the first retry (doubled for each later one).
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Time one attempt may take, connection and answer included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Delivers callbacks of ended executions (install with
/// the `on_finish` listeners of [`crate::flow::FlowEngine::new`]).
#[derive(Clone)]
pub struct Callbacks {
    store: Arc<dyn Storage>,
    policy: Arc<OutboundConfig>,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks").finish_non_exhaustive()
    }
}

impl FinishListener for Callbacks {
    fn finished(&self, record: &ExecutionRecord) {
        let Some(url) = record.callback.clone() else {
            return;
        };
        if record.callback_outcome.is_some() {
            return;
        }
        let this = self.clone();
        let id = record.id.clone();
        let body = json!({
            "execution_id": record.id,
            "status": record.status.as_str(),
            "output": record.output,
            "error": record.error,
        })
        .to_string();
        tokio::spawn(async move {
            let outcome = this.deliver(&id, &url, body).await;
            let url = loggable_url(&url);
            tracing::info!(execution_id = %id, %url, %outcome, "callback");
            let stored = this.store.update_execution(&id, &mut |r| {
                r.callback_outcome = Some(outcome.clone());
            });
            if let Err(e) = stored {
                tracing::error!(execution_id = %id, error = %e, "cannot record the callback outcome");
            }
        });
    }
}

impl Callbacks {
    /// Callbacks policed by `policy`, outcomes recorded in `store`.
    pub fn new(store: Arc<dyn Storage>, policy: OutboundConfig) -> Self {
        Self {
            store,
            policy: Arc::new(policy),
        }
    }

    /// Delivers `body` to `url`; returns the outcome as recorded.
    pub async fn deliver(&self, id: &str, url: &str, body: String) -> String {
        let target = match self.check(url) {
            Ok(target) => target,
            Err(reason) => return format!("refused: {reason}"),
        };
        let mut last = String::new();
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            let sent = tokio::time::timeout(ATTEMPT_TIMEOUT, self.send(&target, id, &body)).await;
            match sent {
                Ok(Ok(status)) if (200..300).contains(&status) => {
                    return format!("delivered: HTTP {status} (attempt {attempt} of {ATTEMPTS})");
                }
                Ok(Ok(status)) => last = format!("HTTP {status}"),
                Ok(Err(Failure::Refused(reason))) => return format!("refused: {reason}"),
                Ok(Err(Failure::Failed(e))) => last = e,
                Err(_) => last = format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs()),
            }
        }
        format!("failed after {ATTEMPTS} attempts: {last}")
    }

    /// The URL's target if the operator's policy lets it through.
    fn check(&self, url: &str) -> Result<Target, String> {
        let parsed = url::Url::parse(url)
            .map_err(|e| format!("invalid url {:?}: {e}", loggable_url(url)))?;
        let https = match parsed.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(format!("scheme {other:?} is not http or https")),
        };
        let host = match parsed.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => return Err(format!("url {:?} has no host", loggable_url(url))),
        };
        let port = parsed.port_or_known_default().unwrap_or(80);
        if !self.policy.allow.iter().any(|p| p.matches(&host, port)) {
            return Err(format!(
                "host \"{host}:{port}\" is not allowed by the operator ([sandbox.outbound] allow)"
            ));
        }
        let path = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        Ok(Target {
            https,
            authority: match parsed.port() {
                Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or(&host)),
                None => parsed.host_str().unwrap_or(&host).to_owned(),
            },
            host,
            port,
            path,
        })
    }

    async fn send(&self, target: &Target, id: &str, body: &str) -> Result<u16, Failure> {
        let stream = egress::connect_checked(&self.policy, &target.host, target.port, target.https)
            .await
            .map_err(|e| match e.is_refusal() {
                true => Failure::Refused(format!("{e} (not in [sandbox.outbound] allow_cidrs)")),
                false => Failure::Failed(e.to_string()),
            })?;
        let request = http::Request::post(&target.path)
            .header(http::header::HOST, &target.authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "weft-callback")
            .header("x-weft-execution-id", id)
            .body(Full::new(Bytes::from(body.to_owned())))
            .map_err(|e| Failure::Failed(format!("cannot build the request: {e}")))?;
        exchange(TokioIo::new(stream), request)
            .await
            .map_err(Failure::Failed)
    }
}

/// Why one delivery attempt got no answer.
enum Failure {
    /// The destination's address is refused: never retried.
    Refused(String),
    /// The network or the receiver failed: retried.
    Failed(String),
}

/// `url` as logs and records may show it: scheme, host, port and path,
/// without user, password, query or fragment (`https://hooks.example/cb`).
/// Text that is not a URL shows as `<invalid url>`.
pub fn loggable_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => {
            let host = match parsed.host() {
                Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
                Some(host) => host.to_string(),
                None => String::new(),
            };
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{host}{port}{}", parsed.scheme(), parsed.path())
        }
        Err(_) => "<invalid url>".to_owned(),
    }
}

/// A checked callback destination.
struct Target {
    https: bool,
    host: String,
    port: u16,
    authority: String,
    path: String,
}

async fn exchange<S>(io: TokioIo<S>, request: http::Request<Full<Bytes>>) -> Result<u16, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("http handshake failed: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::loggable_url;

    #[test]
    fn loggable_urls_drop_credentials_and_query() {
        assert_eq!(
            loggable_url("https://u:p4ss@hooks.example:8443/cb/x?token=t#f"),
            "https://hooks.example:8443/cb/x"
        );
        assert_eq!(loggable_url("http://[::1]/"), "http://[::1]/");
        assert_eq!(loggable_url("not a url p4ss"), "<invalid url>");
    }
}
