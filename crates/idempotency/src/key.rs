//! The `Idempotency-Key` header value.

use std::fmt;

use thiserror::Error;

/// The longest accepted key, in characters (all of them ASCII, so also in bytes).
pub const MAX_KEY_LEN: usize = 255;

/// A validated `Idempotency-Key`: 1 to [`MAX_KEY_LEN`] visible ASCII characters (0x21..=0x7E).
///
/// Spaces, control characters (including CR and LF) and non-ASCII are rejected, so a key can be
/// echoed into a header or a log line without any injection risk.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

/// Why a header value is not a valid `Idempotency-Key`. The messages are meant for clients.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The header was present but empty.
    #[error("Idempotency-Key must not be empty")]
    Empty,
    /// More than [`MAX_KEY_LEN`] characters.
    #[error("Idempotency-Key is {len} characters long; at most 255 are allowed")]
    TooLong {
        /// Length of the rejected value, in characters.
        len: usize,
    },
    /// A character outside visible ASCII (0x21..=0x7E).
    #[error(
        "Idempotency-Key has an invalid character at position {position} (0-based); \
         only visible ASCII characters are allowed, no spaces or control characters"
    )]
    InvalidChar {
        /// 0-based index, in characters, of the first invalid character.
        position: usize,
    },
}

impl IdempotencyKey {
    /// Validates a raw header value.
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        if raw.is_empty() {
            return Err(KeyError::Empty);
        }
        let len = raw.chars().count();
        if len > MAX_KEY_LEN {
            return Err(KeyError::TooLong { len });
        }
        if let Some(position) = raw.chars().position(|c| !matches!(c, '\x21'..='\x7e')) {
            return Err(KeyError::InvalidChar { position });
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key as sent by the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Result<(), KeyError>) {
        let got = IdempotencyKey::parse(raw);
        match expected {
            Ok(()) => assert_eq!(got.map(|k| k.as_str().to_owned()), Ok(raw.to_owned())),
            Err(e) => assert_eq!(got, Err(e), "input {raw:?}"),
        }
    }

    #[test]
    fn validation_table() {
        let all_visible: String = (0x21u8..=0x7e).map(char::from).collect();
        let cases: Vec<(String, Result<(), KeyError>)> = vec![
            (String::new(), Err(KeyError::Empty)),
            ("a".into(), Ok(())),
            ("order-42:retry/1".into(), Ok(())),
            ("x".repeat(255), Ok(())),
            ("x".repeat(256), Err(KeyError::TooLong { len: 256 })),
            ("a b".into(), Err(KeyError::InvalidChar { position: 1 })),
            (" ".into(), Err(KeyError::InvalidChar { position: 0 })),
            ("ab\t".into(), Err(KeyError::InvalidChar { position: 2 })),
            (
                "key\r\nSet-Cookie:x".into(),
                Err(KeyError::InvalidChar { position: 3 }),
            ),
            ("\n".into(), Err(KeyError::InvalidChar { position: 0 })),
            ("\x7f".into(), Err(KeyError::InvalidChar { position: 0 })),
            ("\0".into(), Err(KeyError::InvalidChar { position: 0 })),
            (
                "caf\u{e9}".into(),
                Err(KeyError::InvalidChar { position: 3 }),
            ),
            // Length is counted in characters, not bytes.
            (
                "\u{e9}".repeat(200),
                Err(KeyError::InvalidChar { position: 0 }),
            ),
            (all_visible, Ok(())),
        ];
        for (raw, expected) in cases {
            check(&raw, expected);
        }
    }

    #[test]
    fn every_visible_ascii_char_alone_is_valid_and_others_are_not() {
        for b in 0u8..=0x7f {
            let raw = char::from(b).to_string();
            assert_eq!(
                IdempotencyKey::parse(&raw).is_ok(),
                (0x21..=0x7e).contains(&b),
                "byte {b:#x}"
            );
        }
    }

    #[test]
    fn messages_are_readable() {
        assert_eq!(
            KeyError::TooLong { len: 300 }.to_string(),
            "Idempotency-Key is 300 characters long; at most 255 are allowed"
        );
        assert!(KeyError::InvalidChar { position: 4 }
            .to_string()
            .contains("position 4"));
    }
}
