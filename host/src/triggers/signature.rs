//! `auth: {hmac_sha256: {header, secret}}` of webhook triggers: the
//! header carries the hex HMAC-SHA256 of the raw body under the instance's
//! secret, optionally prefixed `sha256=` (as GitHub sends it). The
//! comparison is constant-time (`hmac`'s `verify_slice`).
//!
//! A secret shorter than [`MIN_SECRET_BYTES`] is refused when an instance
//! is created or updated, and never used to accept a request: with an
//! empty key anyone can compute the "signature".

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use crate::instances::MIN_SECRET_BYTES;

/// Why a signature was refused (answers 401; the message names the header,
/// never the expected value).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is absent.
    #[error("missing signature header {0:?}")]
    Missing(String),
    /// The header is not hex.
    #[error("signature header {0:?} is not a hex HMAC-SHA256")]
    Malformed(String),
    /// The signature does not match.
    #[error("signature in header {0:?} does not match the body")]
    Mismatch(String),
    /// The instance's secret is too short to prove anything (stored before
    /// the length check existed); no request is accepted with it.
    #[error(
        "signature in header {0:?} cannot be checked: the instance's signing secret is shorter than 16 bytes"
    )]
    WeakSecret(String),
}

/// The hex signature of `body` under `secret` (what a sender computes).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks `given` (the header value, if any) against `body` and `secret`.
pub fn verify(
    header: &str,
    given: Option<&[u8]>,
    secret: &[u8],
    body: &[u8],
) -> Result<(), SignatureError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SignatureError::WeakSecret(header.to_owned()));
    }
    let given = given.ok_or_else(|| SignatureError::Missing(header.to_owned()))?;
    let text = std::str::from_utf8(given)
        .map_err(|_| SignatureError::Malformed(header.to_owned()))?
        .trim();
    let hex_part = text.strip_prefix("sha256=").unwrap_or(text);
    let expected =
        hex::decode(hex_part).map_err(|_| SignatureError::Malformed(header.to_owned()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch(header.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_bad_and_missing_signatures() {
        let key = b"sixteen-byte-key";
        let sig = sign(key, b"body");
        assert_eq!(verify("x-sig", Some(sig.as_bytes()), key, b"body"), Ok(()));
        let github = format!("sha256={sig}");
        assert_eq!(
            verify("x-sig", Some(github.as_bytes()), key, b"body"),
            Ok(())
        );
        assert_eq!(
            verify("x-sig", Some(sig.as_bytes()), key, b"other"),
            Err(SignatureError::Mismatch("x-sig".into()))
        );
        assert_eq!(
            verify("x-sig", None, key, b"body"),
            Err(SignatureError::Missing("x-sig".into()))
        );
        assert_eq!(
            verify("x-sig", Some(b"zz"), key, b"body"),
            Err(SignatureError::Malformed("x-sig".into()))
        );
        // A truncated signature is a mismatch, not a prefix match.
        assert!(verify("x-sig", Some(&sig.as_bytes()[..10]), key, b"body").is_err());
    }

    #[test]
    fn short_secrets_accept_nothing() {
        // HMAC under "" is computable by anyone: it must not pass.
        for key in [&b""[..], b"fifteen-bytes!!"] {
            let forged = sign(key, b"body");
            assert_eq!(
                verify("x-sig", Some(forged.as_bytes()), key, b"body"),
                Err(SignatureError::WeakSecret("x-sig".into())),
                "{key:?}"
            );
        }
    }
}
