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
/// reads anything of the request.
async fn require_scope(
    needed: ratelimit::Scope,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let allowed = req
        .extensions()
        .get::<std::sync::Arc<app::auth::Caller>>()
        .map(|c| c.scopes.allows(needed));
    let e = match allowed {
        Some(true) => return Ok(next.call(req).await?.map_into_left_body()),
        Some(false) => ApiError::InsufficientScope {
            scope: needed.as_str(),
        },
        None => ApiError::internal(anyhow::anyhow!("a keyed route ran without its caller")),
    };
    Ok(req.into_response(error_response(&e)).map_into_right_body())
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
