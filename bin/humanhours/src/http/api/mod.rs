//! The handlers of `/api/v1` (and its `/v1` alias), one file per resource, each a thin edge over
//! the `app` use case of the same name; and the unkeyed health and metrics routes.

pub mod agents;
pub mod health;
pub mod reports;
pub mod task_types;
pub mod track;
