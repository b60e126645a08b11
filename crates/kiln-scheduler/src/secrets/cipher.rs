//! Encryption at rest of parameter and secret values: XChaCha20-Poly1305 (random 24-byte
//! nonces, so no nonce is ever reused) under Kiln's secrets key, with the value's account,
//! service and name as associated data, so that a ciphertext copied to another row does not
//! decrypt (docs/secrets.md, "Encryption at rest").

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Marks the format of a stored value: this header, the nonce, the ciphertext with its tag.
const FORMAT: &[u8] = b"kv1";
const NONCE_BYTES: usize = 24;
/// The key's length in bytes.
pub const KEY_BYTES: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("the secrets key must be {KEY_BYTES} bytes in base64 (e.g. `openssl rand -base64 32`)")]
    InvalidKey,
    #[error("the value cannot be encrypted")]
    Encrypt,
    /// Another key encrypted it (a replica configured with another `secrets_key`), or the
    /// stored bytes were changed.
    #[error("the stored value cannot be decrypted with this Kiln's secrets key")]
    Decrypt,
}

pub struct Cipher {
    aead: XChaCha20Poly1305,
}

impl Cipher {
    pub fn new(key: &[u8; KEY_BYTES]) -> Self {
        Cipher {
            aead: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A cipher from a key in base64, as `secrets_key` and the key file hold it.
    pub fn from_base64(text: &str) -> Result<Self, CipherError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| CipherError::InvalidKey)?;
        let key: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| CipherError::InvalidKey)?;
        Ok(Self::new(&key))
    }

    /// A new random key, in base64.
    pub fn generate_key() -> String {
        STANDARD.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// `plaintext` encrypted, bound to `context` (account, service, name…).
    pub fn seal(&self, context: &[&str], plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(context);
        let sealed = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError::Encrypt)?;
        let mut out = Vec::with_capacity(FORMAT.len() + NONCE_BYTES + sealed.len());
        out.extend_from_slice(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plaintext of what [`Cipher::seal`] made with the same `context`.
    pub fn open(&self, context: &[&str], stored: &[u8]) -> Result<Vec<u8>, CipherError> {
        let body = stored.strip_prefix(FORMAT).ok_or(CipherError::Decrypt)?;
        if body.len() < NONCE_BYTES {
            return Err(CipherError::Decrypt);
        }
        let (nonce, sealed) = body.split_at(NONCE_BYTES);
        let aad = associated_data(context);
        self.aead
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError::Decrypt)
    }
}

/// The context's parts, each preceded by its length, so that no two contexts read alike.
fn associated_data(context: &[&str]) -> Vec<u8> {
    let mut aad = Vec::new();
    for part in context {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_only_with_their_key_and_context() {
        let cipher = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        let sealed = cipher.seal(&["111", "ssm", "/a"], b"hunter2").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            cipher.open(&["111", "ssm", "/a"], &sealed).unwrap(),
            b"hunter2"
        );
        assert_eq!(
            cipher.open(&["222", "ssm", "/a"], &sealed),
            Err(CipherError::Decrypt),
            "another account's row"
        );
        assert_eq!(
            cipher.open(&["111", "ssm/", "a"], &sealed),
            Err(CipherError::Decrypt)
        );
        let other = Cipher::new(&[9; KEY_BYTES]);
        assert_eq!(
            other.open(&["111", "ssm", "/a"], &sealed),
            Err(CipherError::Decrypt)
        );
        assert_ne!(
            sealed,
            cipher.seal(&["111", "ssm", "/a"], b"hunter2").unwrap()
        );
        assert_eq!(cipher.open(&[], b"kv1short"), Err(CipherError::Decrypt));
    }

    #[test]
    fn keys_are_32_bytes_of_base64() {
        assert!(Cipher::from_base64("c2hvcnQ=").is_err());
        assert!(Cipher::from_base64("not base64!").is_err());
        assert!(Cipher::from_base64(&format!("{}\n", Cipher::generate_key())).is_ok());
    }
}
