//! The HumanHours server and CLI: actix-web routes and operator commands over the pure domain
//! crates (`roi-engine`, `catalogue`, `idempotency`, `ratelimit`) and the `store`.
//!
//! This crate owns the wire format (JSON shapes, error envelope, headers), authentication,
//! configuration and process concerns (clock, ids, logging). Rules live in the domain crates;
//! SQL lives in `store`. It is a library as well as a binary so the integration tests can start
//! the real server on port 0.

pub mod admin;
pub mod auth;
pub mod background;
pub mod buckets;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod dashboard;
pub mod errors;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod pricing;
pub mod routes;
pub mod seed;
pub mod startup;
pub mod state;
pub mod wire;
