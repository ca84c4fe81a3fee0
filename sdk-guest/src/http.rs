//! A small blocking HTTP client over the world's `wasi:http/outgoing-handler`
//! import.
//!
//! ```no_run
//! use weft_sdk::http;
//!
//! # fn main() -> Result<(), weft_sdk::Error> {
//! let order: serde_json::Value = http::post("https://api.acme.example/orders")
//!     .bearer_auth("secret")
//!     .header("idempotency-key", "step-42")
//!     .json(&serde_json::json!({ "sku": "A-1", "qty": 2 }))
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! # let _ = order;
//! # Ok(())
//! # }
//! ```
//!
//! A method chosen at run time parses from its name:
//!
//! ```no_run
//! use weft_sdk::http::{Method, Request};
//!
//! # fn main() -> Result<(), weft_sdk::Error> {
//! let method: Method = "delete".parse()?;
//! let response = Request::new(method, "https://api.acme.example/orders/7").send()?;
//! if !response.is_success() {
//!     weft_sdk::warn!("delete answered {}", response.status());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The host only lets a request through to a host the component declares in
//! `hosts` *and* the operator allows, and never to a private, loopback or
//! link-local address the operator did not open up; redirects are not
//! followed (you get the 3xx). A failure names the wasi:http error code, and
//! a refusal says where to look:
//! `GET http://10.0.0.5/ failed: destination-ip-prohibited (refused by the
//! host's outbound policy; the step log says why)`. Every [`HttpError`]
//! converts into [`Error`] with `?`: a request the host refuses or the SDK
//! cannot build, or a 4xx answer, becomes [`Error::Fatal`] (retrying will
//! not help); every other failure [`Error::Upstream`] (the host may retry).

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::wit::wasi::http::outgoing_handler;
use crate::wit::wasi::http::types::{
    self as wasi, ErrorCode, Fields, IncomingBody, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::wit::wasi::io::streams::StreamError;

/// Bytes written per `blocking-write-and-flush` call (the most WASI allows).
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per `blocking-read` call.
const READ_CHUNK: u64 = 64 * 1024;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`: read a resource.
    Get,
    /// `HEAD`: `GET` without the body.
    Head,
    /// `POST`: create or submit.
    Post,
    /// `PUT`: replace a resource.
    Put,
    /// `PATCH`: update part of a resource.
    Patch,
    /// `DELETE`: remove a resource.
    Delete,
    /// `OPTIONS`: ask what a resource supports.
    Options,
}

impl Method {
    fn wasi(self) -> wasi::Method {
        match self {
            Self::Get => wasi::Method::Get,
            Self::Head => wasi::Method::Head,
            Self::Post => wasi::Method::Post,
            Self::Put => wasi::Method::Put,
            Self::Patch => wasi::Method::Patch,
            Self::Delete => wasi::Method::Delete,
            Self::Options => wasi::Method::Options,
        }
    }

    /// Whether a request of this method is expected to carry a body, so an
    /// empty one is still announced with `content-length: 0` (some servers
    /// answer 411 without it).
    fn carries_body(self) -> bool {
        matches!(self, Self::Post | Self::Put | Self::Patch)
    }
}

impl std::str::FromStr for Method {
    type Err = HttpError;

    /// `GET`, `post`, ... (case-insensitive).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name.to_ascii_uppercase().as_str() {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            _ => {
                return Err(HttpError::refused(format!(
                    "unsupported http method {name:?}; expected GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"
                )));
            }
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
        })
    }
}

/// A `GET` request to `url`.
pub fn get(url: impl Into<String>) -> Request {
    Request::new(Method::Get, url)
}

/// A `POST` request to `url`.
pub fn post(url: impl Into<String>) -> Request {
    Request::new(Method::Post, url)
}

/// A `PUT` request to `url`.
pub fn put(url: impl Into<String>) -> Request {
    Request::new(Method::Put, url)
}

/// A `PATCH` request to `url`.
pub fn patch(url: impl Into<String>) -> Request {
    Request::new(Method::Patch, url)
}

/// A `DELETE` request to `url`.
pub fn delete(url: impl Into<String>) -> Request {
    Request::new(Method::Delete, url)
}

/// Why a request failed. Converts into [`Error`] with `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    message: String,
    status: Option<u16>,
    retryable: bool,
}

impl HttpError {
    fn refused(message: String) -> Self {
        Self {
            message,
            status: None,
            retryable: false,
        }
    }

    fn upstream(message: String) -> Self {
        Self {
            message,
            status: None,
            retryable: true,
        }
    }

    /// The response status, if the error is an unsuccessful status.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Whether retrying the request may help (a transport failure, a 5xx,
    /// 408 or 429); `false` for a refused or malformed request or another 4xx.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for Error {
    fn from(error: HttpError) -> Self {
        if error.retryable {
            Error::Upstream(error.message)
        } else {
            Error::Fatal(error.message)
        }
    }
}

/// An outgoing request; build it with [`get`], [`post`], ... and [`Request::send`] it.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// A builder failure (e.g. an unserialisable JSON body), reported by `send`.
    error: Option<HttpError>,
}

impl Request {
    /// A request with no headers and an empty body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            error: None,
        }
    }

    /// Appends a header (repeating a name sends it several times).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Appends `name=value` to the URL's query, percent-encoding both.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        self.url = format!("{}{separator}{}={}", self.url, encode(name), encode(value));
        self
    }

    /// Sets `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Sets the raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a text body and `Content-Type: text/plain; charset=utf-8`.
    pub fn text(self, text: impl Into<String>) -> Self {
        self.header("content-type", "text/plain; charset=utf-8")
            .body(text.into())
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => self.header("content-type", "application/json").body(body),
            Err(e) => {
                self.error = Some(HttpError::refused(format!(
                    "{} {}: cannot serialise the JSON body: {e}",
                    self.method, self.url
                )));
                self
            }
        }
    }

    /// Sends the request and reads the whole response, blocking until done.
    ///
    /// Any status is a successful response here; see [`Response::error_for_status`].
    pub fn send(self) -> Result<Response, HttpError> {
        let line = format!("{} {}", self.method, self.url);
        if let Some(error) = self.error {
            return Err(error);
        }
        let refused = |what: String| HttpError::refused(format!("{line}: {what}"));
        let failed = |what: String| HttpError::upstream(format!("{line} failed: {what}"));

        let target = Target::parse(&self.url).map_err(refused)?;
        let headers = Fields::new();
        // The whole body is known up front, so say how long it is: servers
        // that do not read chunked bodies (Python's http.server, many API
        // gateways) would otherwise see an empty one. Empty bodies of
        // methods without body semantics send no header at all.
        let has_length = self
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
        if !has_length && (!self.body.is_empty() || self.method.carries_body()) {
            headers
                .append("content-length", self.body.len().to_string().as_bytes())
                .map_err(|e| refused(format!("invalid content-length: {}", words(&e))))?;
        }
        for (name, value) in &self.headers {
            headers
                .append(name, value.as_bytes())
                .map_err(|e| refused(format!("invalid header '{name}': {}", words(&e))))?;
        }
        let request = OutgoingRequest::new(headers);
        request
            .set_method(&self.method.wasi())
            .and_then(|()| request.set_scheme(Some(&target.scheme)))
            .and_then(|()| request.set_authority(Some(&target.authority)))
            .and_then(|()| request.set_path_with_query(Some(&target.path_with_query)))
            .map_err(|()| refused("invalid url".to_owned()))?;
        let body = request
            .body()
            .map_err(|()| failed("request body unavailable".to_owned()))?;

        let pending = outgoing_handler::handle(request, None).map_err(|e| code_error(&line, &e))?;
        // A refused request's body is closed at once; if writing it fails,
        // the response's error code (e.g. http-request-denied) is the
        // better explanation.
        let sent = (|| {
            {
                let stream = body
                    .write()
                    .map_err(|()| failed("request body unavailable".to_owned()))?;
                for chunk in self.body.chunks(WRITE_CHUNK) {
                    stream
                        .blocking_write_and_flush(chunk)
                        .map_err(|e| failed(stream_text(e)))?;
                }
            }
            OutgoingBody::finish(body, None).map_err(|e| code_error(&line, &e))
        })();

        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(code_error(&line, &code)),
            Some(Err(())) | None => return Err(failed("no response".to_owned())),
        };
        sent?;
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| failed("response body unavailable".to_owned()))?;
        let mut body = Vec::new();
        {
            let stream = incoming
                .stream()
                .map_err(|()| failed("response body unavailable".to_owned()))?;
            loop {
                match stream.blocking_read(READ_CHUNK) {
                    Ok(chunk) => body.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(failed(stream_text(e))),
                }
            }
        }
        drop(IncomingBody::finish(incoming));
        Ok(Response {
            line,
            status,
            headers,
            body,
        })
    }
}

/// A complete response: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct Response {
    /// `METHOD url`, for error messages.
    line: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// The status code, e.g. `200`.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Every header as `(lowercase name, value)`, in the order received.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The raw body.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<String, HttpError> {
        String::from_utf8(self.body.clone()).map_err(|e| {
            HttpError::upstream(format!("{}: response body is not UTF-8: {e}", self.line))
        })
    }

    /// The body deserialised from JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            HttpError::upstream(format!(
                "{}: response body is not the expected JSON: {e}",
                self.line
            ))
        })
    }

    /// `Ok(self)` for a 1xx-3xx status, else an error quoting the status
    /// and the start of the body; retryable for 5xx, 408 and 429.
    pub fn error_for_status(self) -> Result<Self, HttpError> {
        if self.status < 400 {
            return Ok(self);
        }
        let body = String::from_utf8_lossy(&self.body);
        let excerpt: String = body.chars().take(200).collect();
        Err(HttpError {
            message: format!("{} returned HTTP {}: {excerpt}", self.line, self.status),
            status: Some(self.status),
            retryable: self.status >= 500 || matches!(self.status, 408 | 429),
        })
    }
}

/// The parts of an absolute `http(s)://` URL that wasi:http wants.
struct Target {
    scheme: Scheme,
    authority: String,
    path_with_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, String> {
        let invalid = |why: &str| format!("invalid url: {why}");
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("expected http:// or https://"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(invalid(&format!("unsupported scheme '{scheme}'"))),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.is_empty() {
            return Err(invalid("no host"));
        }
        if authority.contains('@') {
            return Err(invalid(
                "credentials in urls are not supported; send a header",
            ));
        }
        let path_with_query = if tail.starts_with('/') {
            tail.to_owned()
        } else {
            format!("/{tail}")
        };
        Ok(Self {
            scheme,
            authority: authority.to_owned(),
            path_with_query,
        })
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The error for a wasi:http error code: `GET url failed:
/// http-request-denied (...)`. Refusals by the host's policy are not
/// retryable.
fn code_error(line: &str, code: &ErrorCode) -> HttpError {
    HttpError {
        message: format!("{line} failed: {}", code_text(code)),
        status: None,
        retryable: !matches!(
            code,
            ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited
        ),
    }
}

/// A wasi:http error code by its WIT name, e.g. `http-request-denied`,
/// with a hint where the name alone does not say what to do.
fn code_text(code: &ErrorCode) -> String {
    let hint = match code {
        ErrorCode::InternalError(Some(detail)) => return format!("internal-error: {detail}"),
        ErrorCode::DnsError(e) => match &e.rcode {
            Some(rcode) => return format!("dns-error: {rcode}"),
            None => "",
        },
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
            " (refused by the host's outbound policy; the step log says why)"
        }
        ErrorCode::HttpResponseBodySize(_) => " (the response is larger than the host allows)",
        ErrorCode::ConnectionLimitReached => " (too many requests of this step in flight)",
        _ => "",
    };
    format!("{}{hint}", words(code))
}

/// A stream failure as text, preferring the wasi:http error code it carries.
fn stream_text(error: StreamError) -> String {
    match error {
        StreamError::Closed => "stream closed".to_owned(),
        StreamError::LastOperationFailed(e) => match wasi::http_error_code(&e) {
            Some(code) => code_text(&code),
            None => io_error_text(&e.to_debug_string()),
        },
    }
}

/// Host messages of body-read failures and the wasi:http codes they stand
/// for. wasmtime-wasi-http 48 hands a failed response-body read to the guest
/// as a plain I/O error carrying the host's message (`http-error-code` finds
/// no code in it), so the SDK recognises the messages of the codes a body
/// read can end with.
const BODY_ERRORS: &[(&str, ErrorCode)] = &[
    (
        "HTTP response body size exceeds limit",
        ErrorCode::HttpResponseBodySize(None),
    ),
    ("connection read timeout", ErrorCode::ConnectionReadTimeout),
    ("HTTP response timeout", ErrorCode::HttpResponseTimeout),
    (
        "incomplete HTTP response",
        ErrorCode::HttpResponseIncomplete,
    ),
    ("connection terminated", ErrorCode::ConnectionTerminated),
];

/// An I/O error's text: the wasi:http code it stands for when recognised,
/// else its first line (the rest is a host backtrace).
fn io_error_text(debug: &str) -> String {
    let line = debug.lines().next().unwrap_or_default().trim();
    match BODY_ERRORS.iter().find(|(text, _)| line.starts_with(text)) {
        Some((_, code)) => format!("{}: {line}", code_text(code)),
        None => line.to_owned(),
    }
}

/// Turns a generated variant's `Debug` name into its WIT name:
/// `ErrorCode::HttpRequestDenied` → `http-request-denied`.
fn words(value: &impl fmt::Debug) -> String {
    let debug = format!("{value:?}");
    let name = debug.split('(').next().unwrap_or_default();
    let name = name.rsplit("::").next().unwrap_or_default();
    let mut text = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() && !text.is_empty() {
            text.push('-');
        }
        text.push(c.to_ascii_lowercase());
    }
    text
}
