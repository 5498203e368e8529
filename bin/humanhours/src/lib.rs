//! The HumanHours server and CLI: the actix-web edges (`http`) and the operator commands
//! (`cli`) over the use cases of the `app` crate.
//!
//! This crate owns the HTTP wire (routes, extractors, the error answer, headers, the OpenAPI
//! document, the dashboard's pages), the command line and configuration, and the process
//! (logging, start-up). Use cases live in `app`, rules in the domain crates, SQL in `store`.
//! It is a library as well as a binary so the integration tests can start the real server on
//! port 0.

pub mod cli;
pub mod digest;
pub mod http;
pub mod outbound;

pub use app::{clock, App, ServerConfig};
pub use cli::config;
