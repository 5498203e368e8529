//! API keys: format, generation and the slow salted hash.
//!
//! A key is `hh_live_<prefix>_<secret>` or `hh_test_<prefix>_<secret>`: an 8-character public
//! prefix that finds the key's row, and a 48-character secret. Only an argon2id hash of the
//! whole key, keyed with the server's pepper, is stored; the raw key is shown once.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::distr::{Alphanumeric, SampleString};
use rand::RngCore;

const PREFIX_LEN: usize = 8;
const SECRET_LEN: usize = 48;

/// Live or test key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    Live,
    Test,
}

impl KeyMode {
    /// The word in the key and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::Live => "live",
            KeyMode::Test => "test",
        }
    }
}

/// A key that has the right shape (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub mode: KeyMode,
    pub prefix: &'a str,
    pub full: &'a str,
}

/// Checks the shape `hh_(live|test)_<8 alnum>_<48 alnum>`.
pub fn parse_key(key: &str) -> Option<ParsedKey<'_>> {
    let (mode, rest) = if let Some(rest) = key.strip_prefix("hh_live_") {
        (KeyMode::Live, rest)
    } else if let Some(rest) = key.strip_prefix("hh_test_") {
        (KeyMode::Test, rest)
    } else {
        return None;
    };
    let (prefix, secret) = rest.split_once('_')?;
    let alnum = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (alnum(prefix, PREFIX_LEN) && alnum(secret, SECRET_LEN)).then_some(ParsedKey {
        mode,
        prefix,
        full: key,
    })
}

/// A new random key; returns (key, prefix).
pub fn generate_key(mode: KeyMode) -> (String, String) {
    let mut rng = rand::rng();
    let prefix = Alphanumeric.sample_string(&mut rng, PREFIX_LEN);
    let secret = Alphanumeric.sample_string(&mut rng, SECRET_LEN);
    (format!("hh_{}_{prefix}_{secret}", mode.as_str()), prefix)
}

/// Hashes and verifies keys with argon2id and the server's pepper.
#[derive(Clone)]
pub struct KeyHasher {
    pepper: Vec<u8>,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher { pepper: <redacted> }")
    }
}

impl KeyHasher {
    /// A hasher with this pepper (secret, never logged).
    pub fn new(pepper: Vec<u8>) -> Self {
        Self { pepper }
    }

    fn argon(&self) -> anyhow::Result<Argon2<'_>> {
        Argon2::new_with_secret(
            &self.pepper,
            Algorithm::Argon2id,
            Version::V0x13,
            Params::default(),
        )
        .map_err(|e| anyhow::anyhow!("argon2 set-up: {e}"))
    }

    /// The PHC string of a fresh salted hash of the key.
    pub fn hash(&self, key: &str) -> anyhow::Result<String> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        Ok(self
            .argon()?
            .hash_password(key.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("hashing: {e}"))?
            .to_string())
    }

    /// True when `key` matches the stored hash. The comparison inside argon2 is constant-time,
    /// and every candidate pays the full hash, so timing says nothing about how much matched.
    pub fn verify(&self, key: &str, phc: &str) -> anyhow::Result<bool> {
        let parsed = PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        Ok(self
            .argon()?
            .verify_password(key.as_bytes(), &parsed)
            .is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse() {
        for mode in [KeyMode::Live, KeyMode::Test] {
            let (key, prefix) = generate_key(mode);
            let parsed = parse_key(&key).unwrap();
            assert_eq!(parsed.prefix, prefix);
            assert_eq!(parsed.mode, mode);
        }
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let good = format!("hh_live_{}_{}", "a".repeat(8), "b".repeat(48));
        assert!(parse_key(&good).is_some());
        for bad in [
            String::new(),
            "hh_live_".into(),
            format!("hh_prod_{}_{}", "a".repeat(8), "b".repeat(48)),
            format!("hh_live_{}_{}", "a".repeat(7), "b".repeat(48)),
            format!("hh_live_{}_{}", "a".repeat(8), "b".repeat(47)),
            format!("hh_live_{}_{}", "a".repeat(8), "b".repeat(49)),
            format!("hh_live_{}_{}é", "a".repeat(8), "b".repeat(47)),
            format!("hh_live_{}-{}", "a".repeat(8), "b".repeat(48)),
            format!("hh_live_{}_{}_", "a".repeat(8), "b".repeat(48)),
        ] {
            assert!(parse_key(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hash_verifies_only_the_same_key_and_pepper() {
        let h = KeyHasher::new(b"pepper".to_vec());
        let (key, _) = generate_key(KeyMode::Live);
        let phc = h.hash(&key).unwrap();
        assert!(!phc.contains(&key));
        assert!(h.verify(&key, &phc).unwrap());
        let (other, _) = generate_key(KeyMode::Live);
        assert!(!h.verify(&other, &phc).unwrap());
        assert!(!KeyHasher::new(b"other".to_vec())
            .verify(&key, &phc)
            .unwrap());
    }
}
