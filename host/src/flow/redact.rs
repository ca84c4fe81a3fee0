//! Replacing secret values with `***` in everything an execution records,
//! serves or logs, and blanking credential headers of stored triggers.
//!
//! A [`Redactor`] knows the instance's secret values and replaces, in any
//! text, each secret and its common encodings:
//!
//! - the secret itself in any ASCII case (`S3CRET`, `s3cret`), and its
//!   Unicode lower- and uppercase forms;
//! - its hexadecimal form (any case) and its percent-encodings (form
//!   encoding with `+` for spaces, RFC 3986 encoding, every byte encoded);
//! - its JSON string escape (for secrets holding quotes or backslashes);
//! - its base64 and base64url forms, padded or not, and — so base64 of a
//!   longer text containing the secret (`Basic base64(user:secret)`) is
//!   caught too — the part of the encoding that depends only on the secret
//!   at each of the three byte alignments.
//!
//! Encoded forms are matched only for secrets of [`MIN_ENCODED_LEN`] bytes
//! or more (shorter ones would blank unrelated text); the literal secret is
//! always matched. Forms derived in other ways (a hash, another encoding)
//! are not recognisable in outputs: step inputs are therefore recorded as
//! rendered from an already redacted context (see the executor), and only
//! outputs, logs and errors rely on this matching.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use crate::model::StepFailure;
use crate::sandbox::LogLine;

/// The placeholder shown instead of a secret.
pub const REDACTED: &str = "***";

/// Secrets shorter than this (in bytes) are matched only literally.
pub const MIN_ENCODED_LEN: usize = 4;

/// Shortest part of a base64 encoding matched on its own (shorter parts of
/// short secrets would match unrelated base64).
const MIN_BASE64_CORE: usize = 6;

/// Replaces every occurrence of any secret value, and its common
/// encodings, with `***`. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    matchers: Option<Arc<Matchers>>,
}

#[derive(Debug)]
struct Matchers {
    /// Forms matched in any ASCII case (literal, hex, percent, JSON).
    folded: AhoCorasick,
    /// Forms matched exactly (base64 and base64url).
    exact: Option<AhoCorasick>,
}

impl Redactor {
    /// A redactor for these secret values (empty values are ignored).
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Self {
        let mut folded: Vec<String> = Vec::new();
        let mut exact: Vec<String> = Vec::new();
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.is_empty() {
                continue;
            }
            folded_forms(secret, &mut folded);
            if secret.len() >= MIN_ENCODED_LEN {
                base64_forms(secret.as_bytes(), &mut exact);
            }
        }
        if folded.is_empty() {
            return Self::default();
        }
        folded.sort();
        folded.dedup();
        exact.sort();
        exact.dedup();
        let build = |patterns: &[String], fold: bool| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .ascii_case_insensitive(fold)
                .build(patterns)
                .ok()
        };
        let Some(folded) = build(&folded, true) else {
            return Self::default();
        };
        let exact = if exact.is_empty() {
            None
        } else {
            build(&exact, false)
        };
        Self {
            matchers: Some(Arc::new(Matchers { folded, exact })),
        }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.matchers.is_none()
    }

    /// `text` with secrets (and their encodings) replaced.
    pub fn text(&self, text: &str) -> String {
        let Some(m) = &self.matchers else {
            return text.to_owned();
        };
        let text = match &m.exact {
            Some(exact) if exact.is_match(text) => replace(exact, text),
            _ => text.to_owned(),
        };
        if m.folded.is_match(&text) {
            replace(&m.folded, &text)
        } else {
            text
        }
    }

    /// `value` with secrets replaced in every string and object key.
    pub fn value(&self, value: &Value) -> Value {
        if self.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.text(k), self.value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// A step failure with secrets replaced in its message and detail.
    pub fn failure(&self, failure: StepFailure) -> StepFailure {
        if self.is_empty() {
            return failure;
        }
        let detail = failure.detail.and_then(|detail| {
            let value = serde_json::to_value(&detail).ok()?;
            serde_json::from_value(self.value(&value)).ok()
        });
        StepFailure {
            message: self.text(&failure.message),
            detail,
            ..failure
        }
    }

    /// Log lines with secrets replaced.
    pub fn logs(&self, logs: Vec<LogLine>) -> Vec<LogLine> {
        if self.is_empty() {
            return logs;
        }
        logs.into_iter()
            .map(|mut line| {
                line.message = self.text(&line.message);
                line
            })
            .collect()
    }
}

fn replace(matcher: &AhoCorasick, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    matcher.replace_all_with(text, &mut out, |_, _, dst| {
        dst.push_str(REDACTED);
        true
    });
    out
}

/// The literal secret and the forms matched in any ASCII case.
fn folded_forms(secret: &str, out: &mut Vec<String>) {
    out.push(secret.to_owned());
    for cased in [secret.to_lowercase(), secret.to_uppercase()] {
        if cased != secret {
            out.push(cased);
        }
    }
    if secret.len() < MIN_ENCODED_LEN {
        return;
    }
    let bytes = secret.as_bytes();
    out.push(hex::encode(bytes));
    let form: String = url::form_urlencoded::byte_serialize(bytes).collect();
    let rfc3986: String = bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let every: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned();
    for encoded in [form, rfc3986, every, json] {
        if encoded != secret && !encoded.is_empty() {
            out.push(encoded);
        }
    }
}

/// Base64 and base64url forms of `secret`, whole (padded and not) and as
/// the alignment-independent cores described in the module docs.
fn base64_forms(secret: &[u8], out: &mut Vec<String>) {
    for engine in [&STANDARD, &URL_SAFE] {
        out.push(engine.encode(secret));
    }
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        out.push(engine.encode(secret));
        for offset in 0..3usize {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(secret);
            let encoded = engine.encode(&shifted);
            // Characters whose six bits all come from the secret.
            let first = (8 * offset).div_ceil(6);
            let end = (8 * (offset + secret.len())) / 6;
            if end > first && end - first >= MIN_BASE64_CORE {
                out.push(encoded[first..end].to_owned());
            }
        }
    }
}

/// Whether a request header carries a credential or a signature, so its
/// value is blanked in stored triggers: `Authorization`,
/// `Proxy-Authorization`, `Cookie`, `Set-Cookie`, the `X-Weft-Callback`
/// URL (it may hold a user and password), and any header whose name
/// contains `auth`, `cookie`, `signature`, `token`, `secret`, `password`,
/// `passwd`, `credential`, `session` or `key` (`X-Hub-Signature-256`,
/// `X-Gitlab-Token`, `X-Api-Key`, …) except `Idempotency-Key`.
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if name == "idempotency-key" {
        return false;
    }
    const MARKERS: &[&str] = &[
        "auth",
        "cookie",
        "signature",
        "token",
        "secret",
        "password",
        "passwd",
        "credential",
        "session",
        "key",
    ];
    name == "x-weft-callback" || MARKERS.iter().any(|m| name.contains(m))
}

/// A trigger payload as records show it: values of sensitive headers
/// ([`is_sensitive_header`], plus the `extra` names, e.g. a flow's HMAC
/// header) replaced by `***`, and secrets redacted everywhere. `None` when
/// that is the trigger itself: found without a copy when there is no
/// secret to redact and no header to blank (the common case).
pub fn shown_trigger(trigger: &Value, extra: &[&str], redactor: &Redactor) -> Option<Value> {
    if redactor.is_empty() && !blanks_a_header(trigger, extra) {
        return None;
    }
    let mut shown = redactor.value(trigger);
    if let Some(Value::Object(headers)) = shown.get_mut("headers") {
        blank_headers(headers, extra);
    }
    (shown != *trigger).then_some(shown)
}

/// Whether [`blank_headers`] changes any of `trigger`'s headers.
fn blanks_a_header(trigger: &Value, extra: &[&str]) -> bool {
    let Some(Value::Object(headers)) = trigger.get("headers") else {
        return false;
    };
    headers
        .iter()
        .any(|(name, value)| is_blanked(name, extra) && value.as_str() != Some(REDACTED))
}

/// Whether the header `name` is shown as `***`.
fn is_blanked(name: &str, extra: &[&str]) -> bool {
    is_sensitive_header(name) || extra.iter().any(|e| e.eq_ignore_ascii_case(name))
}

/// The redactor of one execution: the instance's `secrets` and the
/// values of `trigger`'s sensitive headers ([`header_secrets`]).
pub fn execution_redactor<'a>(
    secrets: impl IntoIterator<Item = &'a str>,
    trigger: &Value,
    extra: &[&str],
) -> Redactor {
    let mut all: Vec<String> = secrets.into_iter().map(str::to_owned).collect();
    all.extend(header_secrets(trigger, extra));
    Redactor::new(all)
}

/// Shortest sensitive header value (or credential part of one) that
/// [`header_secrets`] treats as a secret; shorter ones would blank
/// unrelated text.
pub const MIN_HEADER_SECRET: usize = 8;

/// The values of `trigger`'s sensitive headers, to redact wherever they
/// appear in an execution's records (a step echoing `Authorization`):
/// each value and, for `Scheme credentials` values, the credentials, when
/// at least [`MIN_HEADER_SECRET`] bytes long.
pub fn header_secrets(trigger: &Value, extra: &[&str]) -> Vec<String> {
    let Some(Value::Object(headers)) = trigger.get("headers") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, value) in headers {
        let Value::String(value) = value else {
            continue;
        };
        if !is_sensitive_header(name) && !extra.iter().any(|e| e.eq_ignore_ascii_case(name)) {
            continue;
        }
        let credentials = value.split_once(' ').map(|(_, c)| c.trim());
        for part in std::iter::once(value.as_str()).chain(credentials) {
            if part.len() >= MIN_HEADER_SECRET {
                out.push(part.to_owned());
            }
        }
    }
    out
}

fn blank_headers(headers: &mut Map<String, Value>, extra: &[&str]) {
    for (name, value) in headers.iter_mut() {
        if is_blanked(name, extra) {
            *value = Value::String(REDACTED.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "s3cr3t-Value-7f2c9a41e8";

    #[test]
    fn secrets_are_replaced_everywhere() {
        let r = Redactor::new(["s3cret", "s3cret-long", ""]);
        assert_eq!(r.text("key=s3cret-long;x=s3cret"), "key=***;x=***");
        assert_eq!(
            r.value(&json!({"a": ["Bearer s3cret", 1], "s3cret": true})),
            json!({"a": ["Bearer ***", 1], "***": true})
        );
        assert_eq!(r.text("nothing here"), "nothing here");
        assert!(Redactor::new([""]).is_empty());
    }

    #[test]
    fn encodings_and_case_changes_are_replaced() {
        let r = Redactor::new([SECRET]);
        let forms = [
            SECRET.to_uppercase(),
            SECRET.to_lowercase(),
            hex::encode(SECRET),
            hex::encode_upper(SECRET),
            STANDARD.encode(SECRET),
            URL_SAFE_NO_PAD.encode(SECRET),
            url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
            SECRET.bytes().map(|b| format!("%{b:02x}")).collect(),
        ];
        for form in forms {
            let shown = r.text(&format!("before {form} after"));
            assert_eq!(shown, "before *** after", "{form}");
        }
    }

    #[test]
    fn base64_of_a_text_containing_the_secret_is_caught() {
        let r = Redactor::new([SECRET]);
        for prefix in ["", "u:", "ab:", "user:"] {
            for suffix in ["", "!", ":x", "-tail"] {
                let encoded = STANDARD.encode(format!("{prefix}{SECRET}{suffix}"));
                let shown = r.text(&format!("Basic {encoded}"));
                assert!(shown.contains(REDACTED), "{prefix}|{suffix}: {shown}");
                // What is left cannot be decoded back into the secret.
                assert!(shown.len() < encoded.len(), "{shown}");
            }
        }
    }

    #[test]
    fn short_secrets_are_matched_only_literally() {
        let r = Redactor::new(["ab"]);
        assert_eq!(r.text("ab AB 6162"), "*** *** 6162");
    }

    #[test]
    fn credential_headers_are_blanked() {
        let trigger = json!({
            "headers": {
                "authorization": "Bearer abc",
                "cookie": "sid=1",
                "x-hub-signature-256": "sha256=00",
                "x-acme-sig": "00",
                "x-api-key": "k",
                "x-gitlab-token": "t",
                "idempotency-key": "k1",
                "content-type": "application/json",
            },
            "body": { "token": SECRET },
        });
        let shown = shown_trigger(&trigger, &["X-Acme-Sig"], &Redactor::new([SECRET]));
        assert_eq!(
            shown.unwrap(),
            json!({
                "headers": {
                    "authorization": "***",
                    "cookie": "***",
                    "x-hub-signature-256": "***",
                    "x-acme-sig": "***",
                    "x-api-key": "***",
                    "x-gitlab-token": "***",
                    "idempotency-key": "k1",
                    "content-type": "application/json",
                },
                "body": { "token": "***" },
            })
        );
    }

    #[test]
    fn a_trigger_shown_as_is_is_none_with_or_without_secrets() {
        let none = Redactor::new(Vec::<String>::new());
        let plain = json!({"headers": {"content-type": "application/json"}, "body": {"a": 1}});
        assert_eq!(shown_trigger(&plain, &[], &none), None);
        // Secrets that do not occur leave it as it is.
        assert_eq!(shown_trigger(&plain, &[], &Redactor::new([SECRET])), None);
        // A sensitive header is blanked even when too short to be a secret,
        // and an extra (signature) header by any case of its name.
        let short = json!({"headers": {"authorization": "Bearer x"}});
        assert_eq!(
            shown_trigger(&short, &[], &none),
            Some(json!({"headers": {"authorization": "***"}}))
        );
        let signed = json!({"headers": {"x-acme-sig": "00"}});
        assert_eq!(
            shown_trigger(&signed, &["X-Acme-Sig"], &none),
            Some(json!({"headers": {"x-acme-sig": "***"}}))
        );
        // Already blanked: nothing left to change.
        let blanked = json!({"headers": {"authorization": "***"}});
        assert_eq!(shown_trigger(&blanked, &[], &none), None);
    }
}
