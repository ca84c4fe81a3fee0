//! Secrets at rest: XChaCha20-Poly1305 under a 32-byte master key.
//!
//! The key comes from `WEFT_MASTER_KEY` (base64 of 32 bytes) or, without
//! it, from `<data-dir>/master.key` (base64 text), created with mode 0600 on
//! first start. Each secret gets a fresh random 24-byte nonce, and the
//! ciphertext is bound to where it belongs (instance id and config key, as
//! associated data), so a sealed value copied to another instance or key
//! does not open.

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

use crate::model::SealedSecret;

/// Environment variable holding the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "WEFT_MASTER_KEY";

/// Name of the key file inside the data dir.
pub const MASTER_KEY_FILE: &str = "master.key";

/// A failure to load the key or to seal/open a secret.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key is not base64 of 32 bytes.
    #[error("invalid master key from {source_name}: expected base64 of 32 bytes")]
    BadKey {
        /// `WEFT_MASTER_KEY` or the key file path.
        source_name: String,
    },
    /// The key file could not be read or created.
    #[error("failed to use master key file {path}: {message}")]
    KeyFile {
        /// The path.
        path: String,
        /// Why.
        message: String,
    },
    /// A sealed secret did not open (wrong key or tampered data).
    #[error("secret {key:?} could not be decrypted: wrong master key or corrupted data")]
    Open {
        /// The config key of the secret.
        key: String,
    },
}

/// Seals and opens secrets with the master key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// A box with the given key.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// The operator's key: `WEFT_MASTER_KEY` when set, else the data dir's
    /// key file, created (mode 0600) with a random key if absent.
    pub fn load(data_dir: &Path) -> Result<Self, CryptoError> {
        if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
            return decode_key(&text, MASTER_KEY_ENV).map(Self::new);
        }
        let path = data_dir.join(MASTER_KEY_FILE);
        let file_error = |e: std::io::Error| CryptoError::KeyFile {
            path: path.display().to_string(),
            message: e.to_string().to_lowercase(),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => decode_key(&text, &path.display().to_string()).map(Self::new),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                write_key_file(&path, &STANDARD.encode(key)).map_err(file_error)?;
                tracing::info!(path = %path.display(), "created a new master key");
                Ok(Self::new(key))
            }
            Err(e) => Err(file_error(e)),
        }
    }

    /// Encrypts `value`, bound to `context` (e.g. `instance-id/key`).
    pub fn seal(&self, context: &str, value: &str) -> SealedSecret {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: value.as_bytes(),
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and nonce length cannot fail.
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        SealedSecret {
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Decrypts a secret sealed with the same `context`; `key` names it in
    /// the error.
    pub fn open(
        &self,
        context: &str,
        key: &str,
        sealed: &SealedSecret,
    ) -> Result<String, CryptoError> {
        let fail = || CryptoError::Open {
            key: key.to_owned(),
        };
        if sealed.nonce.len() != 24 {
            return Err(fail());
        }
        let payload = Payload {
            msg: &sealed.ciphertext,
            aad: context.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(&sealed.nonce), payload)
            .map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }
}

fn decode_key(text: &str, source_name: &str) -> Result<[u8; 32], CryptoError> {
    let bad = || CryptoError::BadKey {
        source_name: source_name.to_owned(),
    };
    let bytes = STANDARD.decode(text.trim()).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

fn write_key_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_bound_to_context() {
        let sbox = SecretBox::new([7; 32]);
        let sealed = sbox.seal("i1/api_key", "hunter2");
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            sbox.open("i1/api_key", "api_key", &sealed).unwrap(),
            "hunter2"
        );
        assert!(sbox.open("i2/api_key", "api_key", &sealed).is_err());
        assert!(
            SecretBox::new([8; 32])
                .open("i1/api_key", "api_key", &sealed)
                .is_err()
        );
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("weft-key-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(MASTER_KEY_FILE);
        let first = SecretBox::load(&dir).unwrap().seal("c", "v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            SecretBox::load(&dir)
                .unwrap()
                .open("c", "k", &first)
                .unwrap(),
            "v"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
