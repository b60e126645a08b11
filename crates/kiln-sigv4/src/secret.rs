//! Secret access keys and SigV4 signing-key derivation.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// A secret access key: wiped from memory on drop, never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<String>);

impl SecretKey {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret text, for storing it (encrypted) or signing with it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl From<String> for SecretKey {
    fn from(secret: String) -> Self {
        Self::new(secret)
    }
}

/// The key derived as `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request")`.
pub(crate) struct SigningKey(Zeroizing<[u8; 32]>);

impl SigningKey {
    pub(crate) fn derive(secret: &SecretKey, day: &str, region: &str, service: &str) -> Self {
        let mut seed = Zeroizing::new(Vec::with_capacity(4 + secret.0.len()));
        seed.extend_from_slice(b"AWS4");
        seed.extend_from_slice(secret.0.as_bytes());
        let date_key = hmac(&seed, day.as_bytes());
        let region_key = hmac(&*date_key, region.as_bytes());
        let service_key = hmac(&*region_key, service.as_bytes());
        Self(hmac(&*service_key, b"aws4_request"))
    }

    pub(crate) fn sign(&self, string_to_sign: &[u8]) -> Zeroizing<[u8; 32]> {
        hmac(&*self.0, string_to_sign)
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Zeroizing<[u8; 32]> {
    // HMAC accepts keys of any length, so this constructor cannot fail.
    let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        assert_eq!(format!("{secret:?}"), "SecretKey(<redacted>)");
    }

    /// The worked example from the AWS SigV4 documentation ("Derive a signing key").
    #[test]
    fn derives_the_documented_signing_key() {
        let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let key = SigningKey::derive(&secret, "20120215", "us-east-1", "iam");
        assert_eq!(
            hex::encode(*key.0),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
