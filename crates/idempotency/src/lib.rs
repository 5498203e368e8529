//! The `Idempotency-Key` rules of HumanHours (API.md §7): which header values are valid keys,
//! the canonical fingerprint of a request body, and what to do when a key comes back within
//! (or after) the 24 h window.
//!
//! This crate owns the rules only. It does no I/O: no database, network, file system, clock,
//! randomness or environment. The caller loads the stored record, passes `now` in, and acts on
//! the returned [`Decision`] inside its own transaction.

mod fingerprint;
mod key;
mod text;
mod window;

pub use fingerprint::{canonical_json, fingerprint, Fingerprint};
pub use key::{IdempotencyKey, KeyError, MAX_KEY_LEN};
pub use text::{canonical_text, fingerprint_text};
pub use window::{decide, prune_cutoff, Decision, StoredRecord, WINDOW};
