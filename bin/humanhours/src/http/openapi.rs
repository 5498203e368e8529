//! The OpenAPI 3.1 document of the HTTP API, generated from the code: the operations and their
//! schemas come from the handlers' `#[utoipa::path]` annotations (listed once, in
//! `routes::api_routes!`), the error codes from [`ErrorKind::all`] (derived from the error enum). This module adds
//! what every keyed route shares (bearer auth, the rate-limit headers, the 401/429/500/503
//! answers) and the error envelope to every 4xx/5xx answer, so no annotation repeats them.
//!
//! Served at `GET /api/v1/openapi.json` (and `/v1/openapi.json`) without a key: a client reads
//! it before it has one.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::content::Content;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, Header, InfoBuilder, OpenApi as Document, Ref, RefOr, Tag};
use utoipa::{OpenApi as _, PartialSchema as _, ToSchema as _};

use crate::http::errors::{ErrorEnvelope, ErrorKind};
use crate::http::routes::{ApiPaths, PREFIXES};

/// The security scheme's name in the document.
const BEARER: &str = "bearer";

const DESCRIPTION: &str = "\
Measures what AI agents are worth: one `POST /track` per finished task answers how long a \
person would have needed, what that time costs, what the run cost and the net saving; the \
read routes sum those frozen values exactly.

Every route under `/api/v1` is also served under `/v1` (the same handlers and behaviour); \
only `/api/v1` is listed here, so each operation has one id.

Every `/api/v1` route except this document needs `Authorization: Bearer <api key>`. Every \
non-2xx answer is the error envelope `{\"error\": {\"code\", \"message\", \"hint\"?, \
\"field\"?}}`; `code` is one of `ErrorCode`. Numbers of money, hours, minutes and rates are \
exact decimals printed as JSON numbers.";

/// The document as JSON text, built once.
pub(crate) fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        document()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot render: {e}\"}}"))
    })
}

/// `GET /api/v1/openapi.json`: this document. No key needed.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document of this API (no key needed).",
        content_type = "application/json", body = Object))
)]
pub(crate) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json())
}

/// Builds the document.
pub(crate) fn document() -> Document {
    let mut doc = ApiPaths::openapi();
    doc.info = InfoBuilder::new()
        .title("humanhours")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .build();
    doc.tags = Some(
        [
            ("track", "Record finished tasks and value them."),
            ("read", "Summaries and reports over the recorded events."),
            ("agents", "The org's agents and their hourly rates."),
            (
                "task-types",
                "Built-in and custom task types, and the org's overrides.",
            ),
            (
                "webhooks",
                "Endpoints that receive signed messages, and their deliveries.",
            ),
            (
                "org",
                "The org's settings: its time zone and digest recipients.",
            ),
            ("keys", "The org's API keys and their scopes."),
            ("health", "Liveness and readiness (no key)."),
            ("meta", "This document (no key)."),
        ]
        .into_iter()
        .map(|(name, desc)| {
            let mut t = Tag::new(name);
            t.description = Some(desc.to_owned());
            t
        })
        .collect(),
    );
    let components = doc.components.get_or_insert_with(Components::new);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("hh_live_<8>_<48> or hh_test_<8>_<48>")
                .description(Some(
                    "An API key of the org, created with `humanhours key create`.",
                ))
                .build(),
        ),
    );
    // The envelope and what it names (ErrorBody, ErrorCode), for the answers added below.
    let mut schemas = vec![(ErrorEnvelope::name().into_owned(), ErrorEnvelope::schema())];
    ErrorEnvelope::schemas(&mut schemas);
    components.schemas.extend(schemas);
    let api_prefix = PREFIXES[0];
    for (path, item) in doc.paths.paths.iter_mut() {
        let keyed = path.starts_with(&format!("{api_prefix}/"))
            && path != &format!("{api_prefix}/openapi.json");
        let sub = path.strip_prefix(api_prefix).unwrap_or(path).to_owned();
        for (method, name, op) in [
            (HttpMethod::Get, "get", &mut item.get),
            (HttpMethod::Post, "post", &mut item.post),
            (HttpMethod::Put, "put", &mut item.put),
            (HttpMethod::Delete, "delete", &mut item.delete),
            (HttpMethod::Patch, "patch", &mut item.patch),
        ] {
            if let Some(op) = op.as_mut() {
                let scope = crate::http::routes::API_ROUTE_SCOPES
                    .iter()
                    .find(|(m, p, _)| *m == name && *p == sub)
                    .map(|(_, _, s)| *s);
                complete(op, &method, keyed, scope);
            }
        }
    }
    doc
}

/// Adds the shared answers and headers to one operation.
fn complete(op: &mut Operation, method: &HttpMethod, keyed: bool, scope: Option<&str>) {
    let mut statuses: Vec<u16> = vec![500];
    if keyed {
        // The key's scope the route needs, as the requirement's role (OpenAPI 3.1 allows
        // role names for any scheme), and said in the description.
        let roles: Vec<String> = scope.map(|s| vec![s.to_owned()]).unwrap_or_default();
        op.security = Some(vec![SecurityRequirement::new(BEARER, roles)]);
        if let Some(s) = scope {
            let note = format!("Needs a key with the `{s}` scope.");
            op.description = Some(match op.description.take() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
                _ => note,
            });
        }
        statuses.extend([401, 403, 429, 503]);
        if scope == Some("read") {
            // Every read route answers for an agency workspace (API.md §12).
            let param = utoipa::openapi::path::ParameterBuilder::new()
                .name("workspace")
                .parameter_in(utoipa::openapi::path::ParameterIn::Query)
                .required(utoipa::openapi::Required::False)
                .description(Some(
                    "An agency anchor's key: the org id of one of its workspaces, to read it \
                     instead of the anchor (listed in `GET /org`). Any other id: 404.",
                ))
                .schema(Some(
                    ObjectBuilder::new().schema_type(SchemaType::new(Type::String)),
                ))
                .build();
            op.parameters.get_or_insert_with(Vec::new).push(param);
            statuses.push(404);
        }
    }
    if matches!(
        method,
        HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch
    ) {
        statuses.extend([408, 413, 415, 422]);
    }
    let has_query = op.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
    });
    if has_query {
        statuses.push(422);
    }
    let responses = &mut op.responses.responses;
    for status in statuses {
        responses.entry(status.to_string()).or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(default_description(status))
                    .build(),
            )
        });
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let code: u16 = status.parse().unwrap_or(0);
        if code >= 400 && response.content.is_empty() {
            response.content.insert(
                "application/json".into(),
                Content::new(Some(error_schema_for(code))),
            );
        }
        add_headers(response, code, keyed);
    }
}

fn add_headers(response: &mut Response, status: u16, keyed: bool) {
    let text = || {
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .build(),
        ))
    };
    let header = |desc: &str| {
        let mut h = Header::new(text());
        h.description = Some(desc.to_owned());
        h
    };
    // The middleware sets these on every answer once the key is known (not on a 401).
    if keyed && status != 401 {
        response
            .headers
            .entry("RateLimit-Policy".into())
            .or_insert_with(|| header("The key's per-second limit: `\"default\";q=<limit>;w=1`."));
        response
            .headers
            .entry("RateLimit".into())
            .or_insert_with(|| {
                header("What is left of it: `\"default\";r=<remaining>;t=<seconds to reset>`.")
            });
    }
    let retry = ErrorKind::all().any(|k| k.status_and_code().0 == status && k.has_retry_after());
    if retry {
        response
            .headers
            .entry("Retry-After".into())
            .or_insert_with(|| {
                let mut h = Header::new(RefOr::T(Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(SchemaType::new(Type::Integer))
                        .minimum(Some(1))
                        .build(),
                )));
                h.description = Some("Seconds to wait before retrying (at least 1).".into());
                h
            });
    }
}

/// The codes answered with `status`, from the error enum.
fn codes_for(status: u16) -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = ErrorKind::all()
        .map(ErrorKind::status_and_code)
        .filter(|(s, _)| *s == status)
        .map(|(_, c)| c)
        .collect();
    codes.dedup();
    codes
}

fn default_description(status: u16) -> String {
    let what = match status {
        401 => "No key, or a malformed, unknown or revoked key.",
        403 => "The key lacks the route's scope (`insufficient_scope`), or the org's plan the feature (`feature_locked`).",
        404 => "No such resource.",
        409 => "The first request with this Idempotency-Key has not finished.",
        408 => "The body did not arrive whole within the deadline (10 s by default); the connection is closed.",
        413 => "The body is over the limit (1 MiB).",
        415 => "The body is not JSON.",
        422 => "The request fails validation; `field` names the offending field or parameter.",
        429 => "Over the key's per-second rate limit.",
        500 => "A bug; the answer never leaks internals.",
        503 => {
            "The database cannot be reached, or too many writes are waiting; nothing was stored."
        }
        _ => "An error.",
    };
    let codes: Vec<String> = codes_for(status).iter().map(|c| format!("`{c}`")).collect();
    format!("{what} Codes: {}.", codes.join(", "))
}

/// `ErrorEnvelope` narrowed to the codes of one status, so an answer whose code does not match
/// its status does not conform.
fn error_schema_for(status: u16) -> RefOr<Schema> {
    let codes = codes_for(status);
    if codes.is_empty() {
        return RefOr::Ref(Ref::from_schema_name("ErrorEnvelope"));
    }
    let narrowed = ObjectBuilder::new()
        .property(
            "error",
            ObjectBuilder::new().property(
                "code",
                ObjectBuilder::new()
                    .schema_type(SchemaType::new(Type::String))
                    .enum_values(Some(codes)),
            ),
        )
        .build();
    RefOr::T(Schema::AllOf(
        AllOfBuilder::new()
            .item(Ref::from_schema_name("ErrorEnvelope"))
            .item(narrowed)
            .build(),
    ))
}
