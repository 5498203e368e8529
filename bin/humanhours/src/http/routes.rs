//! The route list. Every API route is mounted twice, under `/api/v1` (what the SDK and the n8n node
//! call) and `/v1` (what the docs print), with the same handlers and middleware.
//!
//! The routes are listed once, in [`api_routes!`] below: the same list mounts them and feeds
//! the OpenAPI document (`crate::openapi`), and a test checks that the document holds exactly
//! these operations, so a route cannot be mounted without being documented.

use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::http::api::{agents, events, health, keys, org, reports, task_types, track, webhooks};
use crate::http::auth::require_key;
use crate::http::errors::{ApiError, HttpError};
use crate::http::openapi;

/// The prefixes every keyed route is served under; the first is the documented one.
pub const PREFIXES: [&str; 2] = ["/api/v1", "/v1"];

/// Generates, from one list: `PUBLIC_ROUTES` and `API_ROUTES` (method, path), the mounting of
/// the keyed routes, and `ApiPaths`, the utoipa document of every listed handler.
macro_rules! api_routes {
    (
        public { $($pmethod:ident $ppath:literal => $($phandler:ident)::+;)* }
        keyed { $($method:ident $path:literal => $($handler:ident)::+ [$scope:ident];)* }
    ) => {
        /// Routes served without a key: (method, full path).
        pub const PUBLIC_ROUTES: &[(&str, &str)] = &[$((stringify!($pmethod), $ppath)),*];

        /// Routes that need a key: (method, path under each of [`PREFIXES`]).
        pub const API_ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// The scope each keyed route needs (API.md §13): (method, path, scope).
        pub const API_ROUTE_SCOPES: &[(&str, &str, &str)] =
            &[$((stringify!($method), $path, stringify!($scope))),*];

        fn mount_public(cfg: &mut web::ServiceConfig) {
            $(cfg.route($ppath, web::$pmethod().to($($phandler)::+));)*
        }

        fn mount_keyed(cfg: &mut web::ServiceConfig, prefix: &str) {
            cfg.service(
                web::scope(prefix)
                    .wrap(from_fn(require_key))
                    $(.route(
                        $path,
                        web::$method()
                            .to($($handler)::+)
                            .wrap(from_fn(crate::http::auth::scope::$scope)),
                    ))*
                    .default_service(web::to(not_found)),
            );
        }

        /// The operations of every route, as utoipa collects them from the handlers'
        /// `#[utoipa::path]` annotations (with the schemas they name).
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($($phandler)::+,)* $($($handler)::+),*))]
        pub struct ApiPaths;
    };
}

api_routes! {
    public {
        get "/healthz" => health::healthz;
        get "/readyz" => health::readyz;
        get "/metrics" => health::metrics;
        get "/api/v1/openapi.json" => openapi::serve;
    }
    keyed {
        post "/track" => track::track [track];
        post "/track/batch" => track::track_batch [track];
        post "/track/validate" => track::validate [track];
        get "/summary" => reports::summary [read];
        get "/reports/time-saved" => reports::time_saved [read];
        get "/reports/cost-saved" => reports::cost_saved [read];
        get "/reports/leaderboard" => reports::leaderboard [read];
        get "/reports/export" => reports::export [read];
        get "/reports/usage" => reports::usage [read];
        get "/events" => events::list [read];
        get "/agents" => agents::list [read];
        put "/agents/{agent_id}" => agents::set_rate [admin];
        get "/task-types" => task_types::list [read];
        post "/task-types" => task_types::create [admin];
        delete "/task-types/{key}" => task_types::archive [admin];
        post "/task-types/{key}/override" => task_types::set_override [admin];
        delete "/task-types/{key}/override" => task_types::delete_override [admin];
        post "/webhooks" => webhooks::create [admin];
        get "/webhooks" => webhooks::list [admin];
        get "/webhooks/{id}" => webhooks::get [admin];
        patch "/webhooks/{id}" => webhooks::update [admin];
        delete "/webhooks/{id}" => webhooks::delete [admin];
        post "/webhooks/{id}/rotate-secret" => webhooks::rotate_secret [admin];
        post "/webhooks/{id}/test" => webhooks::test [admin];
        get "/webhooks/{id}/deliveries" => webhooks::deliveries [admin];
        post "/webhooks/{id}/deliveries/{delivery_id}/redeliver" => webhooks::redeliver [admin];
        post "/webhooks/{id}/recover" => webhooks::recover [admin];
        get "/org" => org::get [read];
        patch "/org" => org::patch [admin];
        post "/keys" => keys::create [admin];
        get "/keys" => keys::list [admin];
        delete "/keys/{prefix}" => keys::revoke [admin];
    }
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Before the keyed scopes, which would otherwise claim these paths. The document is the
    // same under the `/v1` alias.
    mount_public(cfg);
    cfg.route("/v1/openapi.json", web::get().to(openapi::serve));
    for prefix in PREFIXES {
        mount_keyed(cfg, prefix);
    }
    crate::http::mcp::configure(cfg);
    crate::http::dashboard::configure(cfg);
    cfg.default_service(web::to(not_found));
}

/// No route matched: 405 with `Allow` when the path is a route of other methods, else 404.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let allow = allowed_methods(req.path());
    if allow.is_empty() {
        Err(ApiError::NotFound {
            message: "no such route".into(),
        }
        .into())
    } else {
        Err(ApiError::MethodNotAllowed { allow }.into())
    }
}

/// The methods (upper case) of the routes whose pattern matches `path`.
pub fn allowed_methods(path: &str) -> Vec<String> {
    let matches = |pattern: &str, path: &str| {
        let (mut p, mut q) = (pattern.split('/'), path.split('/'));
        loop {
            match (p.next(), q.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a.starts_with('{') && !b.is_empty() => {}
                (Some(a), Some(b)) if a == b => {}
                _ => return false,
            }
        }
    };
    let keyed = PREFIXES
        .iter()
        .filter_map(|prefix| path.strip_prefix(prefix))
        .flat_map(|sub| API_ROUTES.iter().filter(move |(_, p)| matches(p, sub)));
    let public = PUBLIC_ROUTES
        .iter()
        .filter(|(_, p)| matches(p, path) || matches(p, &path.replacen("/v1/", "/api/v1/", 1)));
    let mut out: Vec<String> = keyed
        .chain(public)
        .map(|(m, _)| m.to_ascii_uppercase())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}
