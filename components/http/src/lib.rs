//! `http@1.0.0`, Weft's built-in HTTP connector: action `request` sends one
//! request and returns `{status, headers, body}`, the body parsed as JSON
//! when the response says it is JSON, else as text.
//!
//! It declares every host (`*`), so the operator's allowlist
//! (`[sandbox.outbound] allow` in `weft.toml`, plus an instance's
//! additions) alone decides what it may reach; the host's address checks
//! (no private, loopback or link-local addresses unless allowed) apply as
//! for any component. Redirects are not followed: a 3xx is a response.
//!
//! A status outside `expected_status` (default: anything below 400) fails
//! the step: `upstream` (retryable) for 5xx and 429, `fatal` otherwise.

use std::collections::BTreeMap;

use weft_sdk::http::{Method, Request};
use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

/// Characters of the response body quoted in an unexpected-status error.
const EXCERPT: usize = 300;

weft_sdk::types! {
    /// Input of `request`.
    #[serde(deny_unknown_fields)]
    pub struct HttpRequest {
        /// GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS (default GET).
        #[serde(default = "default_method")]
        pub method: String,
        /// Absolute http:// or https:// URL.
        pub url: String,
        /// Request headers.
        #[serde(default)]
        pub headers: BTreeMap<String, String>,
        /// Query parameters appended to the URL (percent-encoded); an array
        /// value repeats the parameter.
        #[serde(default)]
        pub query: BTreeMap<String, Value>,
        /// A JSON body (sets content-type: application/json).
        #[serde(default)]
        pub json: Option<Value>,
        /// A text body (sets content-type: text/plain unless a header does).
        #[serde(default)]
        pub text: Option<String>,
        /// Statuses that count as success (default: any status below 400).
        #[serde(default)]
        pub expected_status: Option<Vec<u16>>,
    }

    /// Output of `request`.
    pub struct HttpResponse {
        /// The response status.
        pub status: u16,
        /// Response headers by lowercase name; repeated headers joined with ", ".
        pub headers: BTreeMap<String, String>,
        /// The body: parsed JSON for a JSON response, else text; null when empty.
        pub body: Value,
    }
}

fn default_method() -> String {
    "GET".into()
}

fn request(input: HttpRequest, _: &Context) -> Result<HttpResponse, Error> {
    let method: Method = input
        .method
        .parse()
        .map_err(|e: weft_sdk::http::HttpError| Error::invalid_input(e.to_string()))?;
    let line = format!("{method} {}", input.url);
    let mut req = Request::new(method, input.url);
    for (name, value) in &input.query {
        for item in query_values(name, value)? {
            req = req.query(name, &item);
        }
    }
    let has_content_type = input
        .headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("content-type"));
    for (name, value) in &input.headers {
        req = req.header(name, value);
    }
    // A content-type header of the caller's wins over the body's default.
    req = match (input.json, input.text) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_input(
                "give either json or text as the body, not both",
            ));
        }
        (Some(json), None) if has_content_type => req.body(json.to_string()),
        (Some(json), None) => req.json(&json),
        (None, Some(text)) if has_content_type => req.body(text),
        (None, Some(text)) => req.text(text),
        (None, None) => req,
    };
    let response = req.send()?;
    let status = response.status();
    let expected = match &input.expected_status {
        Some(list) => list.contains(&status),
        None => status < 400,
    };
    if !expected {
        let text = String::from_utf8_lossy(response.bytes());
        let excerpt: String = text.chars().take(EXCERPT).collect();
        let wanted = match &input.expected_status {
            Some(list) => format!("{list:?}"),
            None => "a status below 400".into(),
        };
        let message = format!("{line} returned HTTP {status}, expected {wanted}: {excerpt}");
        return Err(if status >= 500 || status == 429 {
            Error::upstream(message)
        } else {
            Error::fatal(message)
        });
    }
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in response.headers() {
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    let body = parse_body(response.header("content-type"), response.bytes());
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// A query value as the strings to send: scalars once, arrays per item.
fn query_values(name: &str, value: &Value) -> Result<Vec<String>, Error> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(Error::invalid_input(format!(
            "query.{name} must be a string, number, boolean or an array of them"
        ))),
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

/// JSON when the content type says so and it parses, else lossy text;
/// `null` for an empty body.
fn parse_body(content_type: Option<&str>, bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    let is_json = content_type.is_some_and(|ct| {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        mime == "application/json" || mime.ends_with("+json")
    });
    if is_json && let Ok(value) = weft_sdk::serde_json::from_slice(bytes) {
        return value;
    }
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

weft_sdk::connector! {
    name: "http",
    version: env!("CARGO_PKG_VERSION"),
    description: "Sends one HTTP request to any host the operator allows and returns the status, headers and parsed body",
    hosts: ["*"],
    actions: [
        {
            key: "request",
            title: "HTTP request",
            description: "Sends {method, url, headers?, query?, json? | text?, expected_status?}; returns {status, headers, body}",
            run: request,
        },
    ],
}
