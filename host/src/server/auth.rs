//! Bearer tokens: who is calling ([`Caller`]), and the tokens themselves
//! (generated with 256 random bits, stored only as SHA-256, compared in
//! constant time).
//!
//! An operator token can do everything. A tenant token reads components and
//! integrations and has full access to its own tenant's instances; another
//! tenant's instance answers 404 exactly like a missing one, and
//! operator-only routes (tenants, tokens, uploads, deletes) answer 403. No
//! token or an unknown (or revoked) one answers 401.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::AppState;
use super::error::AppError;
use crate::storage::{AccessStore, StorageError, TokenRecord};

/// Environment variable with the operator token.
pub const OPERATOR_TOKEN_ENV: &str = "WEFT_OPERATOR_TOKEN";

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The operator: everything.
    Operator,
    /// A tenant: its own instances.
    Tenant(String),
}

impl Caller {
    /// 403 unless the operator.
    pub fn require_operator(&self) -> Result<(), AppError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Tenant(_) => Err(AppError::forbidden(
                "this route needs an operator token; tenant tokens cannot use it",
            )),
        }
    }

    /// Whether the caller may see resources of `tenant`.
    pub fn sees(&self, tenant: &str) -> bool {
        match self {
            Caller::Operator => true,
            Caller::Tenant(own) => own == tenant,
        }
    }

    /// The tenant a tenant token is bound to.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Caller::Operator => None,
            Caller::Tenant(t) => Some(t),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    /// Authenticates once per request: a second extractor asking (an
    /// [`super::extract::Operator`] or a visible-resource extractor next to
    /// a `Caller`) gets the caller found first.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            AppError::unauthorized("missing bearer token (Authorization: Bearer <token>)")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                AppError::unauthorized("authorization header must be 'Bearer <token>'")
            })?;
        let caller = authenticate(state.store.as_ref(), token)?
            .ok_or_else(|| AppError::unauthorized("invalid token"))?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The caller a token stands for, if any.
pub fn authenticate(store: &dyn AccessStore, token: &str) -> Result<Option<Caller>, StorageError> {
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let Some(record) = store.find_token(&hash)? else {
        return Ok(None);
    };
    // The look-up is by hash; still compare the stored hash in constant
    // time so no code path branches on partially matching secrets.
    let stored = hex::decode(&record.sha256).unwrap_or_default();
    if !bool::from(stored.ct_eq(&hash)) {
        return Ok(None);
    }
    Ok(Some(match record.tenant {
        None => Caller::Operator,
        Some(tenant) => Caller::Tenant(tenant),
    }))
}

/// A new random token: `weft_` and 43 base64url characters (256 bits).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("weft_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Longest prefix of a token kept for listing.
const PREFIX_CHARS: usize = 8;

/// The first characters of `token` shown when listing: 8 (for a generated
/// token `weft_` and 3 random characters, 18 of its 256 bits), at most a
/// quarter of a shorter token, so a listing never gives a token away.
pub fn token_prefix(token: &str) -> String {
    let n = PREFIX_CHARS.min(token.chars().count() / 4);
    token.chars().take(n).collect()
}

/// The record stored for `token` (its hash and prefix only).
pub fn token_record(token: &str, tenant: Option<String>, origin: &str) -> TokenRecord {
    TokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        tenant,
        sha256: hex::encode(Sha256::digest(token.as_bytes())),
        prefix: Some(token_prefix(token)),
        origin: origin.to_owned(),
        created_at: chrono::Utc::now(),
    }
}

/// Origin of the token registered from [`OPERATOR_TOKEN_ENV`].
pub const ENV_ORIGIN: &str = "env";

/// Makes sure an operator token exists: registers `WEFT_OPERATOR_TOKEN`
/// when given (retiring any token an earlier value registered, so changing
/// the variable replaces the token rather than adding one), else generates
/// one on first start and returns it (to be printed once; only its hash is
/// kept).
pub fn ensure_operator_token(
    store: &dyn AccessStore,
    from_env: Option<&str>,
) -> Result<Option<String>, StorageError> {
    if let Some(token) = from_env.filter(|t| !t.is_empty()) {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let current = match store.find_token(&hash)? {
            Some(record) => record,
            None => {
                let record = token_record(token, None, ENV_ORIGIN);
                store.put_token(&record)?;
                record
            }
        };
        for old in store.list_tokens()? {
            if old.origin == ENV_ORIGIN && old.id != current.id {
                store.delete_token(&old.id)?;
                tracing::info!(token_id = %old.id, "retired the previous {OPERATOR_TOKEN_ENV} token");
            }
        }
        return Ok(None);
    }
    if store.has_operator_token()? {
        return Ok(None);
    }
    let token = generate_token();
    store.put_token(&token_record(&token, None, "generated"))?;
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_never_give_a_token_away() {
        let token = generate_token();
        assert_eq!(token_prefix(&token), token[..8]);
        // A short operator-chosen token shows at most a quarter of itself.
        assert_eq!(token_prefix("0123456789abcdef"), "0123");
        assert_eq!(token_prefix("abc"), "");
        let record = token_record(&token, None, "api");
        assert_eq!(record.prefix.as_deref(), Some(&token[..8]));
        assert!(!record.sha256.contains(&token[5..]));
    }
}
