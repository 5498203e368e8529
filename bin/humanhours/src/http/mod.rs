//! Everything HTTP: the route list, the middleware (access log, key and rate limit), the typed
//! edges of a request, the error answer, the OpenAPI document, the `/api/v1` handlers, the MCP
//! endpoint and the dashboard pages. Handlers read a request into the arguments of an `app` use case and render
//! its typed result; they compute nothing themselves.

pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod dashboard;
pub mod errors;
pub(crate) mod extract;
pub mod mcp;
pub(crate) mod openapi;
pub mod routes;
pub mod startup;
