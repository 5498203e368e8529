//! Random bearer tokens (dashboard sessions, share links) and their hashes: the database holds
//! only the SHA-256 of a token, never the token.

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// Characters of a session or share token (about 238 bits).
pub const TOKEN_LEN: usize = 40;
/// Characters of a share token that name it in `humanhours share list/revoke` and in the log.
pub const SHARE_PREFIX_LEN: usize = 8;

/// A new random token of [`TOKEN_LEN`] letters and digits.
pub fn new_token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), TOKEN_LEN)
}

/// True when `s` has the shape of a token (so malformed ones cost no database lookup).
pub fn looks_like_token(s: &str) -> bool {
    s.len() == TOKEN_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Hex SHA-256 of a token: what the database stores and looks up.
pub fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}
