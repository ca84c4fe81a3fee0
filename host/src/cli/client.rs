//! The HTTP client of the server commands: `--server`/`WEFT_SERVER`,
//! `--token`/`WEFT_TOKEN`, and errors shown as the server's own message
//! (with its detail lines).

use std::fmt;

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where the server is and who we are.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteOptions {
    /// The weft server's base URL.
    #[arg(
        long,
        global = true,
        env = "WEFT_SERVER",
        hide_env_values = true,
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// API token (operator or tenant).
    #[arg(long, global = true, env = "WEFT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// An error answer of the server.
#[derive(Debug)]
pub struct ServerError {
    /// HTTP status.
    pub status: StatusCode,
    /// The server's message.
    pub message: String,
    /// Detail lines (validation problems).
    pub details: Vec<String>,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status.as_u16())?;
        let repeated = self.details.len() == 1 && self.message.ends_with(&self.details[0]);
        for line in self.details.iter().filter(|_| !repeated) {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

/// A request body.
pub enum Body {
    /// No body.
    None,
    /// JSON.
    Json(Value),
    /// Raw bytes with a content type.
    Raw(reqwest::Body, &'static str),
}

/// Talks to one server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client for `options`.
    pub fn new(options: &RemoteOptions) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("weft-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("failed to set up the http client")?;
        Ok(Self {
            base: options.server.trim_end_matches('/').to_owned(),
            token: options.token.clone(),
            http,
        })
    }

    /// `GET path`, decoded.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send(Method::GET, path, Body::None).await
    }

    /// `POST path` with a JSON body, decoded.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: Value) -> anyhow::Result<T> {
        self.send(Method::POST, path, Body::Json(body)).await
    }

    /// `GET path` answered as a stream (server-sent events): the response
    /// once its status is 2xx; otherwise a [`ServerError`].
    pub async fn open_stream(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the weft server at {}: {}; start it with `weft serve` or point --server/WEFT_SERVER at it",
                self.base,
                root_cause(&e)
            )
        })?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.unwrap_or_default();
            return Err(server_error(status, &bytes).into());
        }
        Ok(response)
    }

    /// Sends a request; a non-2xx answer becomes a [`ServerError`]. An
    /// empty 2xx body decodes as JSON `null`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Raw(bytes, content_type) => request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes),
        };
        let response = request.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the weft server at {}: {}; start it with `weft serve` or point --server/WEFT_SERVER at it",
                self.base,
                root_cause(&e)
            )
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("failed to read the answer to {method} {path}"))?;
        if !status.is_success() {
            return Err(server_error(status, &bytes).into());
        }
        let text = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes
        };
        serde_json::from_slice(text)
            .with_context(|| format!("unexpected answer to {method} {path}"))
    }
}

fn server_error(status: StatusCode, bytes: &[u8]) -> ServerError {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(bytes).trim().to_owned();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("request failed")
                    .to_lowercase()
            } else {
                text
            }
        });
    let details = parsed
        .as_ref()
        .and_then(|v| v.get("details"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if status == StatusCode::UNAUTHORIZED && message.contains("missing bearer token") {
        return ServerError {
            status,
            message: format!("{message}; set WEFT_TOKEN or pass --token"),
            details,
        };
    }
    ServerError {
        status,
        message,
        details,
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Percent-encodes one path segment.
pub fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
