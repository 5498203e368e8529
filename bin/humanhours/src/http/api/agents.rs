//! `GET /agents` and `PUT /agents/{agent_id}` (API.md §8): the HTTP edges of
//! `app::read::agents`.

use actix_web::{web, HttpRequest, HttpResponse};
use app::read::agents::{self, Agent, Agents};
use app::read::params::decodes_to_utf8;
use app::App;

use crate::http::errors::HttpError;
use crate::http::extract::{Auth, JsonBody};

/// Every agent of the org.
///
/// Each with its own and effective hourly rate, first/last seen, and its last 30 days. All
/// plans (the n8n node checks its credentials with it).
#[utoipa::path(
    get,
    path = "/api/v1/agents",
    tag = "agents",
    responses((status = 200, description = "The agents, sorted by id.", body = Agents))
)]
pub(crate) async fn list(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, HttpError> {
    Ok(HttpResponse::Ok().json(agents::list(&app.into_inner(), &caller.org).await?))
}

/// Set an agent's own hourly rate.
///
/// `null` clears it; the agent is created if it is new. Stored events keep the rate they were
/// valued with.
#[utoipa::path(
    put,
    path = "/api/v1/agents/{agent_id}",
    tag = "agents",
    params(doc::AgentPath),
    request_body(content = doc::SetRate, content_type = "application/json"),
    responses((status = 200, description = "The agent, as `GET /agents` shows it.", body = Agent))
)]
pub(crate) async fn set_rate(
    app: web::Data<App>,
    Auth(caller): Auth,
    req: HttpRequest,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    let agent_id = agents::agent_of_path(path.into_inner(), decodes_to_utf8(req.uri().path()))?;
    let body = body.object(&app).await?;
    let agent = agents::set_rate(&app.into_inner(), &caller.org, agent_id, &body).await?;
    Ok(HttpResponse::Ok().json(agent))
}

/// The shapes of the bodies above, for the OpenAPI document (the handlers read them by hand). `Serialize` is derived only so utoipa reads the serde attributes.
pub(crate) mod doc {
    use serde::Serialize;
    use utoipa::{IntoParams, ToSchema};

    use app::wire::JsonDecimal;

    /// The agent of `PUT /agents/{agent_id}`.
    #[expect(dead_code, reason = "read by the utoipa derive only, for the document")]
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct AgentPath {
        /// 1 to 128 characters, no control characters.
        #[param(
            min_length = 1,
            max_length = 128,
            pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
        )]
        pub agent_id: String,
    }

    /// `PUT /agents/{agent_id}` as sent.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct SetRate {
        /// The agent's own rate in the org currency (0 to 1,000,000); `null` clears it.
        #[schema(value_type = Option<f64>, minimum = 0, maximum = 1_000_000, required = true)]
        pub hourly_rate: Option<JsonDecimal>,
    }
}
