//! The dashboard: server-rendered HTML pages of one org's figures for people who would rather
//! look than read JSON, and read-only share links to them.
//!
//! - `GET /dashboard[?period=…&agent_id=…&task_type=…&tz=…]`: the overview, for a signed-in
//!   browser; `GET /dashboard/export.csv?…` the same view as CSV.
//! - `GET|POST /dashboard/sign-in`: paste an API key; `POST /dashboard/sign-out`.
//! - `GET /share/<token>[?…]` and `/share/<token>/export.csv`: the same overview through a
//!   share link made with `humanhours share create`, with no way to write or to see keys.
//! - The pages a team runs its org from (keys, webhooks, settings, task types, spot-check, an
//!   agency anchor's tree) are in [`pages`]; `?workspace=` switches an anchor's read pages to
//!   one of its workspaces.
//!
//! Every figure comes from the read side's own functions ([`view::Overview::load`]), so the
//! pages print what `GET /api/v1/summary` and the reports answer. Access rules are in
//! [`session`]. Errors are answered as HTML pages with the API's status codes, never as the
//! JSON envelope.

pub(crate) mod format;
pub(crate) mod html;
pub(crate) mod pages;
pub(crate) mod pages_html;
pub(crate) mod session;
pub(crate) mod view;

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;
use store::ShareLinkRow;

use self::html::Viewer;
use self::session::{
    constant_time_eq, csrf_for_session, looks_like_token, new_token, removal, same_origin,
    session_cookie, signin_cookie, token_cookie, SESSION_COOKIE, SIGNIN_COOKIE,
};
use self::view::{Overview, ViewQuery};
use crate::http::api::reports::csv_response;
use crate::http::errors::ApiError;
use crate::http::extract::SmallBody;
use app::auth::{Caller, OrgSettings};
use app::clock;
use app::read::params::Params;
use app::App;

/// The stylesheet, served from the binary (no CDN, nothing from the network).
const CSS: &str = include_str!("dashboard.css");

/// No script at all, styles only from this server, forms only to it, never in a frame.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

const SIGN_IN: &str = "/dashboard/sign-in";

/// Registers the dashboard's routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/dashboard.css", web::get().to(stylesheet))
        .route("/dashboard", web::get().to(overview))
        .route("/dashboard/", web::get().to(overview))
        .route("/dashboard/export.csv", web::get().to(export))
        .route(SIGN_IN, web::get().to(sign_in_form))
        .route(SIGN_IN, web::post().to(sign_in))
        .route("/dashboard/sign-out", web::post().to(sign_out))
        .route("/share/{token}", web::get().to(share))
        .route("/share/{token}/export.csv", web::get().to(share_export))
        .configure(pages::configure);
}

/// The headers of every dashboard answer: no caching (the pages are private), no sniffing, the
/// CSP, and a referrer only to this server itself: a share link's token is in its URL and must
/// not reach another site. (`no-referrer` would also make browsers send `Origin: null` with
/// the forms, which the CSRF check rightly refuses.)
fn private(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP));
    b
}

fn page(status: StatusCode, markup: Markup) -> HttpResponse {
    private(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

fn redirect(to: &str) -> actix_web::HttpResponseBuilder {
    let mut b = private(HttpResponse::build(StatusCode::SEE_OTHER));
    b.insert_header((header::LOCATION, to));
    b
}

/// An API error as an HTML page with the API's status.
fn error_page(e: ApiError) -> HttpResponse {
    let status = crate::http::errors::status_of(&e);
    let body = e.error_body();
    let mut message = body.message;
    if let Some(hint) = body.hint {
        message = format!("{message} ({hint})");
    }
    let title = match status.as_u16() {
        422 => "That view cannot be shown",
        503 => "The database cannot be reached right now",
        404 => "Not found",
        408 | 413 => "The form could not be read",
        429 => "Too many attempts",
        _ => "Something went wrong",
    };
    private(crate::http::errors::error_head(&e))
        .content_type("text/html; charset=utf-8")
        .body(html::error_page(title, &message, None).into_string())
}

fn forbidden(message: &str) -> HttpResponse {
    page(
        StatusCode::FORBIDDEN,
        html::error_page(
            "The form could not be accepted",
            message,
            Some((SIGN_IN, "Go to the sign-in page")),
        ),
    )
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(CSS)
}

/// A signed-in browser: the key that signed in (its org and scopes, as stored now).
struct SignedIn {
    caller: Arc<Caller>,
    token: String,
}

impl SignedIn {
    /// True when the key may see and use the admin pages (keys, webhooks, settings) and the
    /// forms that write.
    fn admin(&self) -> bool {
        self.caller.scopes.allows(ratelimit::Scope::Admin)
    }
}

/// The browser's session, if its cookie names a live one. An expired session, or one whose API
/// key was revoked since, is deleted and counts as none; so is one whose key cannot read.
async fn current_session(
    state: &web::Data<App>,
    req: &HttpRequest,
) -> Result<Option<SignedIn>, ApiError> {
    let Some(token) = token_cookie(req, SESSION_COOKIE) else {
        return Ok(None);
    };
    let caller = app::sessions::caller_of(&state.clone().into_inner(), &token).await?;
    Ok(caller
        .filter(|c| c.scopes.allows(ratelimit::Scope::Read))
        .map(|caller| SignedIn { caller, token }))
}

fn form_fields(body: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn session_hours(state: &App) -> u64 {
    state.config.session_ttl.as_secs() / 3600
}

/// `GET /dashboard/sign-in`: the form, with a fresh CSRF token in a cookie and a hidden field.
async fn sign_in_form(state: web::Data<App>, req: HttpRequest) -> HttpResponse {
    match current_session(&state, &req).await {
        Ok(Some(_)) => return redirect("/dashboard").finish(),
        Ok(None) => {}
        Err(e) => return error_page(e),
    }
    let csrf = new_token();
    let mut resp = page(
        StatusCode::OK,
        html::sign_in(&csrf, None, session_hours(&state)),
    );
    let _ = resp.add_cookie(&signin_cookie(&csrf, &req));
    resp
}

/// `POST /dashboard/sign-in`: checks the form's CSRF token, then the key (always against the
/// database, so a revoked key cannot sign in from a cache), then starts a session.
async fn sign_in(state: web::Data<App>, req: HttpRequest, body: SmallBody) -> HttpResponse {
    let body = match body.read(&state).await {
        Ok(body) => body,
        Err(e) => return error_page(e),
    };
    let form = form_fields(&body);
    let cookie = token_cookie(&req, SIGNIN_COOKIE);
    let csrf_ok = match (&cookie, form.get("csrf")) {
        (Some(c), Some(f)) => constant_time_eq(c, f),
        _ => false,
    };
    if !same_origin(&req) || !csrf_ok {
        return forbidden(
            "The sign-in form expired or was sent from another site. Open the sign-in page again and paste the key there.",
        );
    }
    let csrf = cookie.unwrap_or_default();
    let key = form.get("api_key").map(|k| k.trim()).unwrap_or("");
    let retry = |status: StatusCode, message: &str| {
        page(
            status,
            html::sign_in(&csrf, Some(message), session_hours(&state)),
        )
    };
    let client = crate::http::extract::client_addr(&state, req.headers(), req.peer_addr());
    let started = match app::sessions::start(&state.clone().into_inner(), key, client).await {
        Ok(started) => started,
        Err(ApiError::KeyRevoked) => {
            return retry(
                StatusCode::UNAUTHORIZED,
                "That API key was revoked. Sign in with a current key of your organisation.",
            )
        }
        Err(ApiError::InsufficientScope { .. }) => {
            return retry(
                StatusCode::FORBIDDEN,
                "That API key cannot read the organisation's figures (it lacks the read scope, like an agent's track-only key). Sign in with a key that has it.",
            )
        }
        Err(ApiError::InvalidApiKey | ApiError::MissingAuthorization) => {
            return retry(
                StatusCode::UNAUTHORIZED,
                "That API key is not valid. Keys look like hh_live_… or hh_test_…; paste the whole key.",
            )
        }
        Err(e) => return error_page(e),
    };
    let (token, ctx) = (started.token, started.caller);
    let ttl = state.config.session_ttl;
    tracing::info!(org = %ctx.org.id, key = %ctx.key_prefix, "dashboard sign-in");
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    redirect("/dashboard")
        .cookie(session_cookie(&token, ttl_secs, &req))
        .cookie(removal(SIGNIN_COOKIE, &req))
        .finish()
}

/// `POST /dashboard/sign-out`: deletes the session (after the CSRF check) and the cookie.
async fn sign_out(state: web::Data<App>, req: HttpRequest, body: SmallBody) -> HttpResponse {
    let body = match body.read(&state).await {
        Ok(body) => body,
        Err(e) => return error_page(e),
    };
    let signed = match current_session(&state, &req).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return redirect(SIGN_IN)
                .cookie(removal(SESSION_COOKIE, &req))
                .finish()
        }
        Err(e) => return error_page(e),
    };
    let form = form_fields(&body);
    let expected = csrf_for_session(&signed.token);
    let csrf_ok = form
        .get("csrf")
        .is_some_and(|f| constant_time_eq(f, &expected));
    if !same_origin(&req) || !csrf_ok {
        return forbidden(
            "The sign-out form was not sent by this dashboard. Use the Sign out button on the dashboard.",
        );
    }
    if let Err(e) = app::sessions::end(&state.clone().into_inner(), &signed.token).await {
        return error_page(e);
    }
    redirect(SIGN_IN)
        .cookie(removal(SESSION_COOKIE, &req))
        .finish()
}

/// Reads the view's parameters and gathers the overview on the blocking pool, within one of
/// the org's read slots (a share page counts against its org like a report).
async fn load(
    state: &web::Data<App>,
    query: &str,
    org: Arc<OrgSettings>,
) -> Result<Overview, ApiError> {
    let p = Params::from_query(query)?;
    let (query, scope) = ViewQuery::parse(&p)?;
    let org_id = org.id.clone();
    app::read::gate::heavy(&state.clone().into_inner(), &org_id, move |st| {
        Overview::load(st, org, query, scope)
    })
    .await
}

fn csv_answer(o: &Overview) -> HttpResponse {
    match o.csv() {
        Ok(body) => {
            let mut resp = csv_response(app::read::reports::Csv::new(
                "dashboard",
                &o.summary.range,
                body,
            ));
            let h = resp.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            resp
        }
        Err(e) => error_page(e),
    }
}

/// `GET /dashboard[?workspace=…]`: the overview (of an agency anchor's workspace when one is
/// chosen), or the way to the sign-in form.
async fn overview(state: web::Data<App>, req: HttpRequest) -> HttpResponse {
    let signed = match current_session(&state, &req).await {
        Ok(Some(s)) => s,
        Ok(None) => return redirect(SIGN_IN).finish(),
        Err(e) => return error_page(e),
    };
    let shown = async {
        let (org, rest) = pages::viewed(&state, &signed, req.query_string()).await?;
        let nav = pages::nav(&state, &signed, &org).await?;
        let mut o = load(&state, &rest, org).await?;
        o.query.workspace = nav.viewing.as_ref().map(|(id, _)| id.clone());
        Ok::<_, ApiError>((nav, o))
    }
    .await;
    match shown {
        Ok((nav, o)) => page(
            StatusCode::OK,
            html::overview(&o, "/dashboard", &Viewer::Session(nav)),
        ),
        Err(e) => error_page(e),
    }
}

/// `GET /dashboard/export.csv`: the current view as CSV.
async fn export(state: web::Data<App>, req: HttpRequest) -> HttpResponse {
    let signed = match current_session(&state, &req).await {
        Ok(Some(s)) => s,
        Ok(None) => return redirect(SIGN_IN).finish(),
        Err(e) => return error_page(e),
    };
    let view = async {
        let (org, rest) = pages::viewed(&state, &signed, req.query_string()).await?;
        load(&state, &rest, org).await
    }
    .await;
    match view {
        Ok(o) => csv_answer(&o),
        Err(e) => error_page(e),
    }
}

/// What a share token opens.
enum Shared {
    Open(ShareLinkRow, Arc<OrgSettings>),
    Closed(HttpResponse),
}

fn gone(title: &str, message: &str) -> HttpResponse {
    page(StatusCode::GONE, html::error_page(title, message, None))
}

/// Finds the live share link of a token; a missing one is 404, a revoked or expired one 410.
async fn open_share(state: &web::Data<App>, token: &str) -> Shared {
    let not_found = || {
        Shared::Closed(page(
            StatusCode::NOT_FOUND,
            html::error_page(
                "This share link does not exist",
                "Check that the whole link was copied, or ask for a new one.",
                None,
            ),
        ))
    };
    if !looks_like_token(token) {
        return not_found();
    }
    let found = app::sessions::share(&state.clone().into_inner(), token).await;
    let (link, org) = match found {
        Ok(Some(x)) => x,
        Ok(None) => return not_found(),
        Err(e) => return Shared::Closed(error_page(e)),
    };
    let now = clock::unix_ms(clock::now());
    if link.revoked_at.is_some() {
        return Shared::Closed(gone(
            "This share link was revoked",
            "Whoever shared it has withdrawn it. Ask them for a new link.",
        ));
    }
    if let Some(exp) = link.expires_at.filter(|e| *e <= now) {
        let t = clock::format_ms(clock::from_unix_ms(exp));
        return Shared::Closed(gone(
            "This share link has expired",
            &format!(
                "It worked until {} {} UTC. Ask for a new link.",
                &t[..10],
                &t[11..16]
            ),
        ));
    }
    Shared::Open(link, Arc::new(org))
}

fn no_index(mut resp: HttpResponse) -> HttpResponse {
    resp.headers_mut().insert(
        header::HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    );
    resp
}

/// `GET /share/<token>`: the read-only overview.
async fn share(state: web::Data<App>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let token = path.into_inner();
    let (link, org) = match open_share(&state, &token).await {
        Shared::Open(l, o) => (l, o),
        Shared::Closed(resp) => return no_index(resp),
    };
    let resp = match load(&state, req.query_string(), org).await {
        Ok(o) => {
            let viewer = Viewer::Share {
                expires_at: link.expires_at,
                label: link.label.clone(),
            };
            page(
                StatusCode::OK,
                html::overview(&o, &format!("/share/{token}"), &viewer),
            )
        }
        Err(e) => error_page(e),
    };
    no_index(resp)
}

/// `GET /share/<token>/export.csv`: the shared view as CSV.
async fn share_export(
    state: web::Data<App>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let token = path.into_inner();
    let org = match open_share(&state, &token).await {
        Shared::Open(_, o) => o,
        Shared::Closed(resp) => return no_index(resp),
    };
    no_index(match load(&state, req.query_string(), org).await {
        Ok(o) => csv_answer(&o),
        Err(e) => error_page(e),
    })
}
