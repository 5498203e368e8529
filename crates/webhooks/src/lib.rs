//! The rules of webhook delivery (API.md §9), as functions of their inputs: no I/O, no clock,
//! no randomness of its own. Time comes in as Unix seconds or milliseconds, random numbers as
//! `u64`s the caller drew, addresses as `IpAddr`s the caller resolved.
//!
//! - [`Secret`]: `whsec_` + base64 of 24 random bytes; its key bytes sign in both schemes.
//! - [`sign`]: the `X-Humanhours-Signature` header and the Standard Webhooks headers, and the
//!   verification of both (for tests and for anyone embedding this crate in a receiver).
//! - [`schedule`]: when the next attempt is due after a failure (30 s, 2 min, 10 min, 1 h,
//!   ±10 % jitter), `Retry-After`, and how an HTTP answer counts.
//! - [`health`]: an endpoint's state after each finished delivery (active → failing →
//!   disabled; 410 disables; a success resets).
//! - [`address`]: which addresses a delivery may connect to, and the endpoint URL rules.
//! - [`EventType`]: the types an endpoint can subscribe to.
//!
//! ```
//! use webhooks::{sign, Secret};
//!
//! let secret = Secret::from_bytes([7; 24]);
//! let body = br#"{"id":"whmsg_01","type":"webhook.ping"}"#;
//! let header = sign::humanhours_header(1_767_225_600, body, &[&secret]);
//! assert!(header.starts_with("t=1767225600,v1="));
//! assert!(sign::verify_humanhours(&header, body, &secret, 1_767_225_600, 300).is_ok());
//! // A body changed on the way fails.
//! assert!(sign::verify_humanhours(&header, b"{}", &secret, 1_767_225_600, 300).is_err());
//! ```

pub mod address;
pub mod health;
pub mod schedule;
pub mod sign;

mod event_type;
mod secret;

pub use event_type::{EventType, EventTypeError, Subscriptions};
pub use secret::{Secret, SecretError, SECRET_BYTES};

/// Endpoints one org may have (API.md §9).
pub const MAX_ENDPOINTS_PER_ORG: usize = 10;

/// The most of a receiver's answer body kept with an attempt, in bytes.
pub const RESPONSE_BODY_KEPT: usize = 2048;
