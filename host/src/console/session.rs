//! Console sessions: signing in with an API token trades it for a random
//! session id in an `HttpOnly; SameSite=Strict` cookie, so the token never
//! reaches a URL, the page's script or the browser's storage.
//!
//! Sessions live in this process's memory only (a restart signs everyone
//! out; behind a load balancer over several nodes, pin console users to
//! one node). Each holds the token it was opened with: every data call of
//! the console is forwarded to the API with that token (see
//! [`super::proxy`]), so a revoked token stops the session at its next
//! request, and a tenant token sees exactly what the API shows it. Each
//! session also has a CSRF token the page sends in [`CSRF_HEADER`] on
//! every state-changing request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::Serialize;
use subtle::ConstantTimeEq as _;

use crate::server::auth::Caller;

/// The session cookie's name.
pub const COOKIE: &str = "weft_console";

/// The request header carrying the session's CSRF token.
pub const CSRF_HEADER: &str = "x-weft-csrf";

/// How long a session lasts after sign-in, whatever it does: a working
/// day; then the console asks for the token again.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// Most sessions kept at once; signing in past it drops the oldest, so
/// sign-ins (each needing a valid token) cannot grow memory without bound.
pub const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Clone)]
pub struct Session {
    /// The API token it forwards with.
    pub token: String,
    /// Who the token stood for at sign-in.
    pub caller: Caller,
    /// What [`CSRF_HEADER`] must carry.
    pub csrf: String,
    expires: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

/// What the page learns about its session (never the API token).
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// `operator` or `tenant`.
    pub role: &'static str,
    /// The tenant, for a tenant token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The CSRF token for [`CSRF_HEADER`].
    pub csrf: String,
}

impl Session {
    /// The page's view.
    pub fn view(&self) -> SessionView {
        SessionView {
            role: match self.caller {
                Caller::Operator => "operator",
                Caller::Tenant(_) => "tenant",
            },
            tenant: self.caller.tenant().map(str::to_owned),
            csrf: self.csrf.clone(),
        }
    }

    /// Whether `headers` carry this session's CSRF token (compared in
    /// constant time).
    pub fn csrf_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(CSRF_HEADER)
            .is_some_and(|v| bool::from(v.as_bytes().ct_eq(self.csrf.as_bytes())))
    }
}

/// The open sessions, by id.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session for `token` (already authenticated as `caller`);
    /// returns its id and the session.
    pub fn open(&self, token: String, caller: Caller) -> (String, Session) {
        let id = random_id();
        let session = Session {
            token,
            caller,
            csrf: random_id(),
            expires: Instant::now() + LIFETIME,
        };
        let mut open = self.lock();
        let now = Instant::now();
        open.retain(|_, s| s.expires > now);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            open.remove(&oldest);
        }
        open.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session the request's cookie names, if any.
    pub fn find(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie_value(headers, COOKIE)?;
        let mut open = self.lock();
        let session = open.get(id)?;
        if session.expires <= Instant::now() {
            open.remove(id);
            return None;
        }
        Some((id.to_owned(), session.clone()))
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    /// How many sessions are open (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The `Set-Cookie` value opening a session (`secure` adds `Secure`, for a
/// console served over HTTPS).
pub fn set_cookie(id: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        LIFETIME.as_secs()
    );
    HeaderValue::from_str(&value).expect("a session id is base64url")
}

/// The `Set-Cookie` value removing the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    HeaderValue::from_str(&value).expect("a fixed cookie is a header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_gone_when_closed() {
        let sessions = Sessions::default();
        let (id, session) = sessions.open("tok".into(), Caller::Tenant("acme".into()));
        assert_eq!(session.view().role, "tenant");
        let headers = with_cookie(&format!("other=1; {COOKIE}={id}"));
        let (found, _) = sessions.find(&headers).expect("found");
        assert_eq!(found, id);
        assert!(
            sessions
                .find(&with_cookie(&format!("{COOKIE}=nope")))
                .is_none()
        );
        sessions.close(&id);
        assert!(sessions.find(&headers).is_none());
    }

    #[test]
    fn the_csrf_token_must_match_exactly() {
        let sessions = Sessions::default();
        let (_, session) = sessions.open("tok".into(), Caller::Operator);
        let mut headers = HeaderMap::new();
        assert!(!session.csrf_ok(&headers));
        headers.insert(CSRF_HEADER, HeaderValue::from_static("wrong"));
        assert!(!session.csrf_ok(&headers));
        headers.insert(CSRF_HEADER, HeaderValue::from_str(&session.csrf).unwrap());
        assert!(session.csrf_ok(&headers));
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let value = set_cookie("abc", false);
        let text = value.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(!text.contains("Secure"));
        assert!(
            set_cookie("abc", true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
        assert!(clear_cookie(false).to_str().unwrap().contains("Max-Age=0"));
    }
}
