//! Task-type keys and categories: lowercase snake_case identifiers that clients send and store.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

/// Longest accepted key or category, in characters.
pub const MAX_KEY_LEN: usize = 64;

/// Why a key or category was rejected. Messages are written for the API client that sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 64 characters (got {0})")]
    TooLong(usize),
    #[error(
        "must be lowercase snake_case (a-z, 0-9 and single underscores, starting with a letter), e.g. invoice_triage"
    )]
    NotSnakeCase,
}

/// Checks `^[a-z][a-z0-9]*(_[a-z0-9]+)*$` and the length bound, without a regex engine.
fn check_snake_case(text: &str) -> Result<(), KeyError> {
    if text.is_empty() {
        return Err(KeyError::Empty);
    }
    let chars = text.chars().count();
    if chars > MAX_KEY_LEN {
        return Err(KeyError::TooLong(chars));
    }
    let bytes = text.as_bytes();
    // Every accepted character is ASCII, so checking bytes also rejects all non-ASCII text.
    let starts_with_letter = bytes[0].is_ascii_lowercase();
    let ends_well = !text.ends_with('_');
    let no_double_underscore = !text.contains("__");
    let allowed = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    if starts_with_letter && ends_well && no_double_underscore && allowed {
        Ok(())
    } else {
        Err(KeyError::NotSnakeCase)
    }
}

/// The key of a task type, built-in or custom (`invoice_triage`): 1–64 characters of lowercase
/// snake_case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskTypeKey(String);

impl TaskTypeKey {
    /// Validates a key.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        check_snake_case(text)?;
        Ok(Self(text.to_owned()))
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The category of a task type (`support`, `legal`, …): the same rule as [`TaskTypeKey`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Category(String);

impl Category {
    /// Validates a category.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        check_snake_case(text)?;
        Ok(Self(text.to_owned()))
    }

    /// The category's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The category's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

macro_rules! string_newtype_impls {
    ($name:ident) => {
        impl FromStr for $name {
            type Err = KeyError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Sound because Eq, Ord and Hash are derived from the inner String, which agree with str's.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype_impls!(TaskTypeKey);
string_newtype_impls!(Category);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(text: &str, want: Result<(), KeyError>) {
        assert_eq!(
            TaskTypeKey::parse(text).map(|k| assert_eq!(k.as_str(), text)),
            want,
            "key {text:?}"
        );
        assert_eq!(
            Category::parse(text).map(|c| assert_eq!(c.to_string(), text)),
            want,
            "category {text:?}"
        );
    }

    #[test]
    fn key_rule_table() {
        let max = format!("a{}", "b".repeat(63));
        let over = format!("a{}", "b".repeat(64));
        let cases: &[(&str, Result<(), KeyError>)] = &[
            ("invoice_triage", Ok(())),
            ("a", Ok(())),
            ("a1", Ok(())),
            ("v2_to_v3", Ok(())),
            ("meeting_summary_30min", Ok(())),
            ("x_1_2", Ok(())),
            (&max, Ok(())),
            (&over, Err(KeyError::TooLong(65))),
            ("", Err(KeyError::Empty)),
            ("Invoice_triage", Err(KeyError::NotSnakeCase)),
            ("invoiceTriage", Err(KeyError::NotSnakeCase)),
            ("1invoice", Err(KeyError::NotSnakeCase)),
            ("_invoice", Err(KeyError::NotSnakeCase)),
            ("invoice__triage", Err(KeyError::NotSnakeCase)),
            ("invoice_", Err(KeyError::NotSnakeCase)),
            ("invoice-triage", Err(KeyError::NotSnakeCase)),
            ("invoice triage", Err(KeyError::NotSnakeCase)),
            (" invoice", Err(KeyError::NotSnakeCase)),
            ("invoice.triage", Err(KeyError::NotSnakeCase)),
            ("_", Err(KeyError::NotSnakeCase)),
            ("é", Err(KeyError::NotSnakeCase)),
            ("café", Err(KeyError::NotSnakeCase)),
        ];
        for (text, want) in cases {
            check(text, want.clone());
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // 64 two-byte characters: within the length bound, rejected for the alphabet instead.
        assert_eq!(
            TaskTypeKey::parse(&"é".repeat(64)),
            Err(KeyError::NotSnakeCase)
        );
        assert_eq!(
            TaskTypeKey::parse(&"é".repeat(65)),
            Err(KeyError::TooLong(65))
        );
    }

    #[test]
    fn messages_guide_the_client() {
        assert_eq!(
            KeyError::NotSnakeCase.to_string(),
            "must be lowercase snake_case (a-z, 0-9 and single underscores, starting with a letter), e.g. invoice_triage"
        );
        assert_eq!(
            KeyError::TooLong(65).to_string(),
            "must be at most 64 characters (got 65)"
        );
    }

    proptest! {
        #[test]
        fn generated_snake_case_is_accepted(s in "[a-z][a-z0-9]{0,10}(_[a-z0-9]{1,5}){0,8}") {
            prop_assert_eq!(TaskTypeKey::parse(&s).map(TaskTypeKey::into_string), Ok(s.clone()));
        }

        #[test]
        fn accepted_keys_obey_the_grammar(s in "[a-z0-9_A-Z -]{0,70}") {
            if let Ok(k) = TaskTypeKey::parse(&s) {
                let t = k.as_str();
                prop_assert!((1..=MAX_KEY_LEN).contains(&t.len()));
                prop_assert!(t.as_bytes()[0].is_ascii_lowercase());
                prop_assert!(!t.ends_with('_') && !t.contains("__"));
                prop_assert!(t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            }
        }
    }
}
