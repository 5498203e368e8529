//! The handlers of `/api/v1` (and its `/v1` alias), one file per resource, each a thin edge over
//! the `app` use case of the same name; and the unkeyed health and metrics routes.

pub(crate) mod agents;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod org;
pub(crate) mod reports;
pub(crate) mod task_types;
pub(crate) mod track;
pub(crate) mod webhooks;
