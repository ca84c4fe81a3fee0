//! What a flow sees as `trigger`: for a webhook, the request's method,
//! headers (lowercase names), query and body, built from the raw HTTP
//! request; for a manual run, the given body alone.
//!
//! The body is JSON when the content type says so (`application/json` or
//! any `+json` type; an empty body is `null`); malformed JSON is refused
//! with the parse error. Any other body is text when it is UTF-8, else
//! `{"base64": …, "content_type": …}`.

use axum::http::{HeaderMap, Method, header};
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Why a request cannot become a trigger payload (answers 400).
#[derive(Debug, thiserror::Error)]
#[error("malformed JSON body: {0}")]
pub struct BodyError(String);

/// Whether `content_type` names JSON (`application/json`, `…+json`).
pub fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The request body as a JSON value, see the module docs.
pub fn body_value(content_type: Option<&str>, body: &[u8]) -> Result<Value, BodyError> {
    if is_json(content_type) {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(body).map_err(|e| BodyError(e.to_string()));
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    match std::str::from_utf8(body) {
        Ok(text) => Ok(Value::String(text.to_owned())),
        Err(_) => Ok(json!({
            "base64": base64::engine::general_purpose::STANDARD.encode(body),
            "content_type": content_type.unwrap_or("application/octet-stream"),
        })),
    }
}

/// Headers by lowercase name; repeated headers joined with `", "`;
/// non-UTF-8 values lossily converted.
pub fn headers_value(headers: &HeaderMap) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                out.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    out
}

/// Query parameters; a repeated parameter becomes an array.
pub fn query_value(query: Option<&str>) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let value = Value::String(value.into_owned());
        match out.get_mut(key.as_ref()) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                out.insert(key.into_owned(), value);
            }
        }
    }
    out
}

/// The whole `trigger` object of a webhook execution.
pub fn trigger_value(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Value, BodyError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    Ok(json!({
        "type": "webhook",
        "method": method.as_str(),
        "headers": headers_value(headers),
        "query": query_value(query),
        "body": body_value(content_type, body)?,
    }))
}

/// What a manual run (`POST /v1/instances/{id}/flows/{flow}/run`, `weft
/// run`) sees as `trigger`: `body` as given, no headers or query, method
/// `POST`.
pub fn manual_trigger(body: Value) -> Value {
    json!({ "body": body, "headers": {}, "query": {}, "method": "POST" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_by_content_type() {
        assert_eq!(
            body_value(Some("application/json; charset=utf-8"), br#"{"a":1}"#).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            body_value(Some("application/vnd.api+json"), b"[1]").unwrap(),
            json!([1])
        );
        assert_eq!(
            body_value(Some("application/json"), b"").unwrap(),
            Value::Null
        );
        let err = body_value(Some("application/json"), b"{oops").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("malformed JSON body: key must be a string"),
            "{err}"
        );
        assert_eq!(body_value(Some("text/plain"), b"hi").unwrap(), json!("hi"));
        assert_eq!(body_value(None, b"{not json").unwrap(), json!("{not json"));
        assert_eq!(
            body_value(Some("image/png"), &[0xff, 0x00]).unwrap(),
            json!({"base64": "/wA=", "content_type": "image/png"})
        );
    }

    #[test]
    fn repeated_query_parameters_become_arrays() {
        let q = query_value(Some("a=1&b=x%20y&a=2&a=3"));
        assert_eq!(Value::Object(q), json!({"a": ["1", "2", "3"], "b": "x y"}));
    }

    #[test]
    fn header_names_are_lowercase() {
        let mut h = HeaderMap::new();
        h.insert("X-Thing", "1".parse().unwrap());
        h.append("x-thing", "2".parse().unwrap());
        assert_eq!(Value::Object(headers_value(&h)), json!({"x-thing": "1, 2"}));
    }
}
