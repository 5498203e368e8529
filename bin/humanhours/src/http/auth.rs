//! The middleware on every `/api/v1` and `/v1` route: the bearer key, verified by
//! [`app::auth::authenticate`], then the per-key rate limit. Every answer of these routes,
//! errors included, carries the `RateLimit-Policy` and `RateLimit` headers once the key is
//! known. The verified [`Caller`] is left in the request's extensions for the
//! [`crate::http::extract::Auth`] extractor. Each route then checks the scope it needs
//! ([`scope`], named beside the route in `routes.rs`).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use app::auth::authenticate;
use app::App;
use ratelimit::RateDecision;

use crate::http::errors::{error_response, ApiError};
use crate::http::extract::client_addr;

fn bearer(req: &ServiceRequest) -> Result<String, ApiError> {
    let mut all = req.headers().get_all(AUTHORIZATION);
    let value = all.next().ok_or(ApiError::MissingAuthorization)?;
    if all.next().is_some() {
        return Err(ApiError::RepeatedAuthorization);
    }
    let value = value.to_str().map_err(|_| ApiError::InvalidApiKey)?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(ApiError::MissingAuthorization)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::MissingAuthorization);
    }
    Ok(token.trim().to_owned())
}

fn set_rate_headers(headers: &mut actix_web::http::header::HeaderMap, decision: &RateDecision) {
    let pairs = [
        ("ratelimit-policy", decision.policy_header()),
        ("ratelimit", decision.ratelimit_header()),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}

/// The middleware: authenticate, rate-limit, run the handler, add the rate-limit headers.
pub(crate) async fn require_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<App>>().cloned() else {
        let e = ApiError::internal(anyhow::anyhow!("application state missing"));
        return Ok(req.into_response(error_response(&e)).map_into_right_body());
    };
    let state = state.into_inner();
    let caller = match bearer(&req) {
        Ok(token) => {
            let client = client_addr(&state, req.headers(), req.peer_addr());
            authenticate(&state, token, client).await
        }
        Err(e) => Err(e),
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(e) => return Ok(req.into_response(error_response(&e)).map_into_right_body()),
    };
    let per_second = state.config.plan_limits.per_second(caller.org.plan);
    let decision = state.limiter.check(&caller.key_prefix, per_second);
    if let Some(retry_after) = decision.retry_after_seconds() {
        let mut resp = req.into_response(error_response(&ApiError::RateLimited { retry_after }));
        set_rate_headers(resp.headers_mut(), &decision);
        return Ok(resp.map_into_right_body());
    }
    req.extensions_mut().insert(caller);
    let mut resp = next.call(req).await?;
    set_rate_headers(resp.headers_mut(), &decision);
    Ok(resp.map_into_left_body())
}

/// Refuses a caller whose key lacks `needed` (403 `insufficient_scope`), before the handler
/// reads anything of the request. On a read route it then enters the workspace the query names
/// (`?workspace=`, [`enter_workspace`]).
async fn require_scope(
    needed: ratelimit::Scope,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let caller = req
        .extensions()
        .get::<std::sync::Arc<app::auth::Caller>>()
        .cloned();
    let e = match caller {
        Some(c) if c.scopes.allows(needed) => match needed {
            ratelimit::Scope::Read => match enter_workspace(&mut req, &c).await {
                Ok(()) => return Ok(next.call(req).await?.map_into_left_body()),
                Err(e) => e,
            },
            // Writes go to the key's own org: a workspace is written with its own key, so the
            // parameter is refused rather than ignored (the write would land in the anchor).
            _ => match app::read::params::take_workspace(req.query_string()) {
                Ok(None) => return Ok(next.call(req).await?.map_into_left_body()),
                Ok(Some(_)) => ApiError::field(
                    "workspace",
                    "is taken by read routes only; a workspace's events and settings are \
                     written with a key of the workspace",
                ),
                Err(e) => e,
            },
        },
        Some(_) => ApiError::InsufficientScope {
            scope: needed.as_str(),
        },
        None => ApiError::internal(anyhow::anyhow!("a keyed route ran without its caller")),
    };
    Ok(req.into_response(error_response(&e)).map_into_right_body())
}

/// `?workspace=<org id>` on a read route (API.md §12): an agency anchor's key reads one of its
/// workspaces. The caller is swapped for the workspace ([`app::auth::as_workspace`]) and the
/// parameter taken out of the query, so the route answers exactly as it would to the
/// workspace's own key.
async fn enter_workspace(
    req: &mut ServiceRequest,
    caller: &std::sync::Arc<app::auth::Caller>,
) -> Result<(), ApiError> {
    let Some((workspace, rest)) = app::read::params::take_workspace(req.query_string())? else {
        return Ok(());
    };
    let state = req
        .app_data::<web::Data<App>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?
        .into_inner();
    let entered = app::auth::as_workspace(&state, caller, &workspace).await?;
    let path = req.path().to_owned();
    let uri = match rest.is_empty() {
        true => path,
        false => format!("{path}?{rest}"),
    };
    req.head_mut().uri = uri.parse().map_err(ApiError::internal)?;
    req.extensions_mut().insert(entered);
    Ok(())
}

/// The per-route scope checks: `api_routes!` wraps each keyed route in the one named beside it.
pub(crate) mod scope {
    use actix_web::body::{EitherBody, MessageBody};
    use actix_web::dev::{ServiceRequest, ServiceResponse};
    use actix_web::middleware::Next;
    use ratelimit::Scope;

    /// Track, batch, validate.
    pub(crate) async fn track(
        req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
        super::require_scope(Scope::Track, req, next).await
    }

    /// Summary, reports, agent and task-type lists, the org's settings.
    pub(crate) async fn read(
        req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
        super::require_scope(Scope::Read, req, next).await
    }

    /// Writes to agents and task types, webhooks, keys, the org's settings.
    pub(crate) async fn admin(
        req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
        super::require_scope(Scope::Admin, req, next).await
    }
}
