//! Endpoint secrets: `whsec_` + base64 (standard alphabet, padded) of 24 random bytes, the
//! format Standard Webhooks libraries read. The HMAC key of both schemes is the decoded bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

const PREFIX: &str = "whsec_";

/// Random bytes in a new secret.
pub const SECRET_BYTES: usize = 24;

/// A signing secret. Its `Debug` shows only the prefix, so a logged value leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
}

/// A stored or supplied secret that is not `whsec_` + base64 of at least 16 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is 'whsec_' followed by base64 of 16 to 64 bytes")]
pub struct SecretError;

impl Secret {
    /// A secret from random bytes the caller drew.
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> Self {
        Self {
            key: bytes.to_vec(),
        }
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let b64 = s.strip_prefix(PREFIX).ok_or(SecretError)?;
        let key = STANDARD.decode(b64).map_err(|_| SecretError)?;
        if !(16..=64).contains(&key.len()) {
            return Err(SecretError);
        }
        Ok(Self { key })
    }

    /// The HMAC key: the decoded bytes after `whsec_`.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The text form, `whsec_<base64>` (shown once to the user, stored for signing).
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.key))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(whsec_…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_has_the_documented_shape() {
        let s = Secret::from_bytes([0xAB; SECRET_BYTES]);
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(text.len(), 6 + 32, "24 bytes are 32 base64 characters");
        assert_eq!(Secret::parse(&text), Ok(s.clone()));
        assert_eq!(s.key(), &[0xAB; 24]);
        assert_eq!(format!("{s:?}"), "Secret(whsec_…)");
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "",
            "whsec_",
            "sk_abc",
            "whsec_not base64!",
            "whsec_AAAA",
            &format!("whsec_{}", STANDARD.encode([1u8; 65])),
        ] {
            assert_eq!(Secret::parse(bad), Err(SecretError), "{bad}");
        }
    }
}
