//! Sending one request the policy let through: a guarded connection
//! ([`egress::connect_checked`]: address checks, TLS), one HTTP/1.1
//! exchange with timeouts, and a response body that stops at the cap.
//!
//! Shaped after `wasmtime_wasi_http::default_send_request`, with the
//! guarded connect in place of `TcpStream::connect(host)`.

use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, WasiBody};

use super::{Notes, OutboundOutcome, OutboundPolicy, OutboundStats};
use crate::egress::{self, EgressError, Timeouts};
use crate::units::{ByteSize, format_duration};

/// Everything one request needs once the hooks let it through.
pub(super) struct Exchange {
    pub policy: Arc<OutboundPolicy>,
    pub stats: Arc<OutboundStats>,
    pub component: String,
    pub notes: Notes,
    /// `scheme://host:port`, for notes.
    pub target: String,
    /// Normalised host (no brackets, lowercase).
    pub host: String,
    pub port: u16,
    pub https: bool,
    pub timeouts: Timeouts,
    /// Held until the response body is dropped.
    pub permit: OwnedSemaphorePermit,
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl Exchange {
    /// Sends `request`; the response carries a capped, timed body.
    pub async fn run(
        self,
        request: http::Request<WasiBody>,
    ) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
        let started = Instant::now();
        let method = request.method().clone();
        // The path, not the query: query strings often carry credentials.
        let path = request.uri().path().to_owned();
        let result = self.exchange(request).await;
        match &result {
            Ok((response, _)) => {
                self.stats.record(&self.component, OutboundOutcome::Allowed);
                self.notes.status(response.status().as_u16());
                self.notes.debug(format!(
                    "outbound {method} {}{path}: {} after {} ms",
                    self.target,
                    response.status().as_u16(),
                    started.elapsed().as_millis()
                ));
            }
            Err(Failure::Denied(..)) => {
                self.stats.record(&self.component, OutboundOutcome::Denied);
            }
            Err(Failure::Failed(..)) => {
                self.stats.record(&self.component, OutboundOutcome::Error);
            }
        }
        match result {
            Ok((response, io)) => Ok((self.wrap(response), io)),
            Err(Failure::Denied(error, reason)) => {
                self.notes.warn(format!(
                    "outbound request to {}{path} refused: {reason}",
                    self.target
                ));
                Err(error)
            }
            Err(Failure::Failed(error, reason)) => {
                self.notes.warn(format!(
                    "outbound {method} {}{path} failed: {reason}",
                    self.target
                ));
                Err(error)
            }
        }
    }

    async fn exchange(
        &self,
        mut request: http::Request<WasiBody>,
    ) -> Result<(http::Response<hyper::body::Incoming>, IoFuture), Failure> {
        let deadline = tokio::time::Instant::now() + self.timeouts.connect;
        let connect_timeout = || {
            Failure::Failed(
                Error::ConnectionTimeout,
                format!(
                    "no connection within the connect timeout {}",
                    format_duration(self.timeouts.connect)
                ),
            )
        };
        let stream = tokio::time::timeout_at(
            deadline,
            egress::connect_checked(self.policy.config(), &self.host, self.port, self.https),
        )
        .await
        .map_err(|_| connect_timeout())?
        .map_err(Failure::from)?;
        let (mut sender, conn) = tokio::time::timeout_at(
            deadline,
            hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
        )
        .await
        .map_err(|_| connect_timeout())?
        .map_err(|e| Failure::Failed(Error::Hyper(e), "http handshake failed".into()))?;

        // The request line carries only the path and query; the authority
        // is already in the `host` header.
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        *request.uri_mut() = http::Uri::try_from(path)
            .map_err(|_| Failure::Failed(Error::HttpRequestUriInvalid, "invalid path".into()))?;

        let first_byte = self.timeouts.first_byte;
        let send = async move {
            match tokio::time::timeout(first_byte, sender.send_request(request)).await {
                Err(_) => Err(Failure::Failed(
                    Error::HttpResponseTimeout,
                    format!(
                        "no response within the first-byte timeout {}",
                        format_duration(first_byte)
                    ),
                )),
                Ok(Err(e)) => {
                    let reason = format!("{e}");
                    Err(Failure::Failed(Error::Hyper(e), reason))
                }
                Ok(Ok(response)) => Ok(response),
            }
        };
        // Wait for the response while driving the connection, as
        // `default_send_request` does.
        let mut send = pin!(send);
        let mut conn = Some(conn);
        let response = poll_fn(|cx| match send.as_mut().poll(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => {
                let Some(fut) = conn.as_mut() else {
                    return Poll::Pending;
                };
                let done = ready!(Pin::new(fut).poll(cx));
                conn = None;
                match done {
                    Ok(()) => send.as_mut().poll(cx),
                    Err(e) => {
                        let reason = format!("{e}");
                        Poll::Ready(Err(Failure::Failed(Error::Hyper(e), reason)))
                    }
                }
            }
        })
        .await?;

        let cap = self.policy.config().max_response_body;
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(length) = declared.filter(|&n| n > cap.0) {
            return Err(Failure::Failed(
                Error::HttpResponseBodySize(Some(length)),
                format!(
                    "response body of {} exceeds the max_response_body limit {cap}",
                    ByteSize(length)
                ),
            ));
        }
        let io: IoFuture = Box::new(async move {
            match conn {
                Some(conn) => conn.await.map_err(|e| {
                    if e.is_timeout() {
                        Error::HttpResponseTimeout
                    } else {
                        Error::Hyper(e)
                    }
                }),
                None => Ok(()),
            }
        });
        Ok((response, io))
    }

    /// The response with its body behind the cap and the between-bytes
    /// timeout; the body holds the concurrency permit.
    fn wrap(self, response: http::Response<hyper::body::Incoming>) -> http::Response<WasiBody> {
        let between_bytes = self.timeouts.between_bytes;
        let cap = self.policy.config().max_response_body;
        response.map(|incoming| {
            CappedBody {
                incoming,
                idle: None,
                between_bytes,
                received: 0,
                cap,
                done: false,
                notes: self.notes,
                target: self.target,
                _permit: self.permit,
            }
            .boxed_unsync()
        })
    }
}

/// Why a request that passed the hooks did not get a response.
enum Failure {
    /// Refused by the address check after resolution.
    Denied(Error, String),
    /// Failed on the way (dns, connect, tls, timeouts, body size).
    Failed(Error, String),
}

impl From<EgressError> for Failure {
    fn from(e: EgressError) -> Self {
        let reason = e.to_string();
        match e {
            EgressError::LiteralProhibited { .. } | EgressError::ResolvedProhibited { .. } => {
                Self::Denied(Error::DestinationIpProhibited, reason)
            }
            EgressError::Dns { source, .. } => Self::Failed(
                Error::DnsError {
                    rcode: Some(source.to_string()),
                    info_code: None,
                },
                reason,
            ),
            EgressError::NoAddress { .. } => Self::Failed(Error::DestinationNotFound, reason),
            EgressError::Connect { source, .. } => Self::Failed(Error::Connect(source), reason),
            EgressError::TlsSetup(_) => Self::Failed(Error::ConfigurationError, reason),
            EgressError::ServerName { source, .. } => {
                Self::Failed(Error::InvalidDnsNameError(source), reason)
            }
            EgressError::Tls { source, .. } => Self::Failed(Error::Tls(source), reason),
        }
    }
}

/// A response body that fails past `cap` bytes or after `between_bytes`
/// without data.
struct CappedBody {
    incoming: hyper::body::Incoming,
    /// Runs while the body is polled without data; reset by every frame.
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
    between_bytes: Duration,
    received: u64,
    cap: ByteSize,
    done: bool,
    notes: Notes,
    target: String,
    _permit: OwnedSemaphorePermit,
}

impl CappedBody {
    fn fail(&mut self, error: Error, reason: String) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.done = true;
        self.notes.warn(format!(
            "outbound response from {} failed: {reason}",
            self.target
        ));
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                let error = if e.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::Hyper(e)
                };
                this.done = true;
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len() as u64);
                    if this.received > this.cap.0 {
                        let reason = format!(
                            "response body exceeds the max_response_body limit {}",
                            this.cap
                        );
                        return this.fail(Error::HttpResponseBodySize(Some(this.received)), reason);
                    }
                }
                this.idle = None;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                let between_bytes = this.between_bytes;
                let idle = this
                    .idle
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(between_bytes)));
                ready!(idle.as_mut().poll(cx));
                let reason = format!(
                    "no body data within the between-bytes timeout {}",
                    format_duration(this.between_bytes)
                );
                this.fail(Error::ConnectionReadTimeout, reason)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
