//! The pages a team runs its org from (API.md §13): keys, webhooks, settings, task types,
//! spot-check and, for an agency anchor, the tree of workspaces.
//!
//! Every page reads and writes through the same application functions as the HTTP API
//! (`app::key_admin`, `app::webhooks`, `app::settings`, `app::task_types`,
//! `app::read::events`, `app::read::agents`), so a form can do exactly what the route does,
//! with the same checks and the same errors. Each page answers `GET` and takes its forms as
//! one `POST` with an `action` field; every form carries the session's CSRF token, and a
//! request from another origin is refused. A form that worked redirects back to its page
//! (303, with a `notice` the page turns into a fixed sentence); one that failed shows the page
//! again with the error, under the error's status. A secret that is shown once (a new key, a
//! new or rotated webhook secret) is shown in the answer to the form, never in a URL.
//!
//! Scopes: the read pages (task types, spot-check, tree) need `read`, which every session
//! has; keys, webhooks and settings need `admin`. A `read`-only session sees the read pages,
//! no admin links and no forms that write, and gets 403 on an admin page.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::html::{Nav, Page, Tree};
use super::pages_html as markup;
use super::session::{constant_time_eq, csrf_for_session, same_origin};
use super::{current_session, error_page, form_fields, page, redirect, SignedIn, SIGN_IN};
use crate::http::errors::{status_of, ApiError};
use crate::http::extract::SmallBody;
use app::auth::OrgSettings;
use app::read::params::Params;
use app::{clock, App};

/// What a page says above its content.
#[derive(Debug, Clone)]
pub(crate) enum Flash {
    None,
    /// A fixed sentence after a form that worked.
    Notice(&'static str),
    /// Why a form did not work.
    Error(String),
    /// A secret shown once: what it is, and the value.
    Secret {
        what: &'static str,
        value: String,
    },
}

/// The sentence of a `notice` code (anything else: none, so a crafted link shows nothing).
fn notice(query: &Params) -> Flash {
    let text = match query.get("notice") {
        Some("key_revoked") => "The key was revoked: it stops working at once on this server and within the key cache time on the others.",
        Some("saved") => "Settings saved. Events tracked from now on are valued with them; past events keep their values.",
        Some("rate_saved") => "The agent's hourly rate was saved. It values the agent's events tracked from now on.",
        Some("test_sent") => "A webhook.ping was queued for this endpoint; its delivery is listed below.",
        Some("redelivered") => "The delivery was queued again.",
        Some("rotated") => "The secret was rotated.",
        Some("enabled") => "The endpoint is enabled again.",
        Some("disabled") => "The endpoint is disabled: nothing is sent to it until it is enabled again.",
        Some("webhook_deleted") => "The endpoint was deleted with its deliveries.",
        Some("override_set") => "The baseline override was saved. It values events tracked from now on.",
        Some("override_removed") => "The override was removed: the built-in baseline applies again.",
        Some("type_created") => "The custom task type was created.",
        Some("type_archived") => "The custom task type was archived.",
        _ => return Flash::None,
    };
    Flash::Notice(text)
}

/// An API error as the sentence a page shows.
fn problem(e: &ApiError) -> String {
    let body = e.error_body();
    match (body.field, body.hint) {
        (Some(f), Some(h)) => format!("{f}: {} ({h})", body.message),
        (Some(f), None) => format!("{f}: {}", body.message),
        (None, Some(h)) => format!("{} ({h})", body.message),
        (None, None) => body.message,
    }
}

/// An agency anchor's workspaces, oldest first, with their settings; `None` for any other org
/// (a workspace, or another plan). One read.
async fn workspaces_of(
    state: &web::Data<App>,
    own: &OrgSettings,
) -> Result<Option<Vec<OrgSettings>>, ApiError> {
    if own.plan != ratelimit::Plan::Agency || own.parent.is_some() {
        return Ok(None);
    }
    let id = own.id.clone();
    let rows = app::blocking(&state.clone().into_inner(), move |a| {
        Ok(a.store.workspaces(&id)?)
    })
    .await?;
    let orgs = rows
        .iter()
        .map(OrgSettings::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::Internal)?;
    Ok(Some(orgs))
}

/// The header's navigation for a session that shows `viewing`, given the anchor's workspaces
/// ([`workspaces_of`]).
fn nav_with(signed: &SignedIn, viewing: &OrgSettings, workspaces: Option<&[OrgSettings]>) -> Nav {
    let own = &signed.caller.org;
    Nav {
        csrf: csrf_for_session(&signed.token),
        admin: signed.admin(),
        org_name: own.name.clone(),
        plan: own.plan.as_str(),
        viewing: (viewing.id != own.id).then(|| (viewing.id.clone(), viewing.name.clone())),
        tree: workspaces.map(|ws| Tree {
            anchor: (own.id.clone(), own.name.clone()),
            workspaces: ws.iter().map(|w| (w.id.clone(), w.name.clone())).collect(),
        }),
    }
}

/// The header's navigation for a session: its own org, what it may open and, for an agency
/// anchor, the tree (one read of the org's workspaces).
pub(super) async fn nav(
    state: &web::Data<App>,
    signed: &SignedIn,
    viewing: &OrgSettings,
) -> Result<Nav, ApiError> {
    let workspaces = workspaces_of(state, &signed.caller.org).await?;
    Ok(nav_with(signed, viewing, workspaces.as_deref()))
}

/// The org a read page shows: the session's own, or with `?workspace=` one of an anchor's
/// workspaces (the same rule as the API's, [`app::auth::as_workspace`]); and the rest of the
/// query.
pub(super) async fn viewed(
    state: &web::Data<App>,
    signed: &SignedIn,
    query: &str,
) -> Result<(Arc<OrgSettings>, String), ApiError> {
    match app::read::params::take_workspace(query)? {
        None => Ok((signed.caller.org.clone(), query.to_owned())),
        Some((ws, rest)) => {
            let c =
                app::auth::as_workspace(&state.clone().into_inner(), &signed.caller, &ws).await?;
            Ok((c.org.clone(), rest))
        }
    }
}

/// The session of a page, or the answer instead of it (the sign-in page, or an error).
async fn session(state: &web::Data<App>, req: &HttpRequest) -> Result<SignedIn, HttpResponse> {
    match current_session(state, req).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(redirect(SIGN_IN).finish()),
        Err(e) => Err(error_page(e)),
    }
}

/// An admin page's session: 403 with a page that says why for a key without `admin`.
async fn admin_session(
    state: &web::Data<App>,
    req: &HttpRequest,
) -> Result<SignedIn, HttpResponse> {
    let s = session(state, req).await?;
    if !s.admin() {
        return Err(page(
            StatusCode::FORBIDDEN,
            super::html::error_page(
                "This page needs an admin key",
                "You signed in with a key that lacks the admin scope, so keys, webhooks and \
                 settings are not yours to change. Sign in with a key that has it.",
                Some(("/dashboard", "Back to the overview")),
            ),
        ));
    }
    Ok(s)
}

/// An admin page's `GET`: its session (403 without the admin scope), the sentence of its last
/// form's `notice`, and the page (`$render(state, session, flash, status)`).
macro_rules! admin_get {
    ($state:expr, $req:expr, $render:ident) => {{
        let signed = match admin_session(&$state, &$req).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let flash = params(&$req).map(|p| notice(&p)).unwrap_or(Flash::None);
        $render(&$state, &signed, flash, StatusCode::OK).await
    }};
}

/// A form's session (every form writes, so it needs the admin scope) and fields, after the
/// CSRF and origin checks.
async fn admin_form(
    state: &web::Data<App>,
    req: &HttpRequest,
    body: SmallBody,
) -> Result<(SignedIn, HashMap<String, String>), HttpResponse> {
    let body = body.read(state).await.map_err(error_page)?;
    let signed = admin_session(state, req).await?;
    let fields = form_fields(&body);
    let csrf_ok = fields
        .get("csrf")
        .is_some_and(|f| constant_time_eq(f, &csrf_for_session(&signed.token)));
    if !same_origin(req) || !csrf_ok {
        return Err(super::forbidden(
            "The form was not sent by this dashboard, or its page is from an earlier session. \
             Open the page again and send the form from there.",
        ));
    }
    Ok((signed, fields))
}

/// A form field as the JSON the API route takes: empty → absent, a number → a number,
/// anything else → a string (so the route's own check names a wrong value).
fn json_value(text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(t) {
        Ok(v @ Value::Number(_)) => Some(v),
        _ => Some(Value::String(t.to_owned())),
    }
}

fn field<'a>(f: &'a HashMap<String, String>, name: &str) -> &'a str {
    f.get(name).map(String::as_str).unwrap_or("")
}

/// The names of the ticked checkboxes `<prefix><name>`.
fn checked(f: &HashMap<String, String>, prefix: &str, names: &[&'static str]) -> Vec<Value> {
    names
        .iter()
        .filter(|n| f.contains_key(&format!("{prefix}{n}")))
        .map(|n| Value::String((*n).to_owned()))
        .collect()
}

fn params(req: &HttpRequest) -> Result<Params, ApiError> {
    Params::from_query(req.query_string())
}

// ---------------------------------------------------------------------------------------
// Keys

async fn keys_page(
    state: &web::Data<App>,
    signed: &SignedIn,
    flash: Flash,
    status: StatusCode,
) -> HttpResponse {
    let st = state.clone().into_inner();
    let org = signed.caller.org.clone();
    let (nav, keys) =
        match tokio::try_join!(nav(state, signed, &org), app::key_admin::list(&st, &org)) {
            Ok(x) => x,
            Err(e) => return page_or_secret(e, &flash, "/dashboard/keys"),
        };
    page(
        status,
        markup::keys(&nav, &flash, &keys, &signed.caller.key_prefix),
    )
}

/// `GET /dashboard/keys`: the org's keys, a form to make one, a button to revoke each.
pub(crate) async fn keys(state: web::Data<App>, req: HttpRequest) -> HttpResponse {
    admin_get!(state, req, keys_page)
}

/// `POST /dashboard/keys`: `action=create` (name, scope_*) or `action=revoke` (prefix).
pub(crate) async fn keys_post(
    state: web::Data<App>,
    req: HttpRequest,
    body: SmallBody,
) -> HttpResponse {
    let (signed, f) = match admin_form(&state, &req, body).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let st = state.clone().into_inner();
    let org = signed.caller.org.clone();
    let failed = |e: ApiError| (status_of(&e), Flash::Error(problem(&e)));
    let (status, flash) = match field(&f, "action") {
        "create" => {
            let mut body = Map::new();
            body.insert(
                "scopes".into(),
                Value::Array(checked(&f, "scope_", &["track", "read", "admin"])),
            );
            body.insert(
                "name".into(),
                Value::String(field(&f, "name").trim().into()),
            );
            match app::key_admin::create(&st, &org, &body).await {
                Ok(k) => (
                    StatusCode::CREATED,
                    Flash::Secret {
                        what: "The new key",
                        value: k.key,
                    },
                ),
                Err(e) => failed(e),
            }
        }
        "revoke" => match app::key_admin::revoke(&st, &org, field(&f, "prefix")).await {
            Ok(()) => return redirect("/dashboard/keys?notice=key_revoked").finish(),
            Err(e) => failed(e),
        },
        _ => failed(unknown_action()),
    };
    keys_page(&state, &signed, flash, status).await
}

/// A page that could not be gathered: its error page, unless the form's answer carries a
/// secret shown once (already stored), which is then shown alone rather than lost.
fn page_or_secret(e: ApiError, flash: &Flash, back: &str) -> HttpResponse {
    match flash {
        Flash::Secret { .. } => page(StatusCode::OK, markup::secret_only(flash, back)),
        _ => error_page(e),
    }
}

fn unknown_action() -> ApiError {
    ApiError::field("action", "is not one this page sends")
}

// ---------------------------------------------------------------------------------------
// Webhooks

/// The event types a person may subscribe an endpoint to, in the form's order.
pub(crate) const EVENT_TYPES: [&str; 4] = [
    "event.created",
    "agent.first_event",
    "weekly.digest",
    "monthly.digest",
];

async fn webhooks_page(
    state: &web::Data<App>,
    signed: &SignedIn,
    flash: Flash,
    status: StatusCode,
) -> HttpResponse {
    let st = state.clone().into_inner();
    let org = signed.caller.org.clone();
    let nav = match nav(state, signed, &org).await {
        Ok(n) => n,
        Err(e) => return error_page(e),
    };
    // A free org has no webhooks: the page says so instead of the list.
    let list = app::webhooks::list(&st, &org).await;
    let (list, flash, status) = match list {
        Ok(l) => (Some(l), flash, status),
        Err(e) => match flash {
            Flash::None => (None, Flash::Error(problem(&e)), status_of(&e)),
            other => (None, other, status),
        },
    };
    page(status, markup::webhooks(&nav, &flash, list.as_ref()))
}

/// `GET /dashboard/webhooks`: the endpoints with their health, and a form to add one.
pub(crate) async fn webhooks(state: web::Data<App>, req: HttpRequest) -> HttpResponse {
    admin_get!(state, req, webhooks_page)
}

/// `POST /dashboard/webhooks`: `action=create` (url, description, type_*).
pub(crate) async fn webhooks_post(
    state: web::Data<App>,
    req: HttpRequest,
    body: SmallBody,
) -> HttpResponse {
    let (signed, f) = match admin_form(&state, &req, body).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    if field(&f, "action") != "create" {
        let e = unknown_action();
        return webhooks_page(&state, &signed, Flash::Error(problem(&e)), status_of(&e)).await;
    }
    let mut body = Map::new();
    body.insert("url".into(), Value::String(field(&f, "url").trim().into()));
    body.insert(
        "event_types".into(),
        Value::Array(checked(&f, "type_", &EVENT_TYPES)),
    );
    body.insert(
        "description".into(),
        Value::String(field(&f, "description").trim().into()),
    );
    let st = state.clone().into_inner();
    match app::webhooks::create(&st, &signed.caller.org, &body).await {
        Ok(ep) => {
            let secret = ep.secret.clone().unwrap_or_default();
            webhook_page(
                &state,
                &signed,
                &ep.id,
                None,
                Flash::Secret {
                    what: "The endpoint's signing secret",
                    value: secret,
                },
                StatusCode::CREATED,
            )
            .await
        }
        Err(e) => webhooks_page(&state, &signed, Flash::Error(problem(&e)), status_of(&e)).await,
    }
}

async fn webhook_page(
    state: &web::Data<App>,
    signed: &SignedIn,
    id: &str,
    cursor: Option<&str>,
    flash: Flash,
    status: StatusCode,
) -> HttpResponse {
    let st = state.clone().into_inner();
    let org = signed.caller.org.clone();
    let mut q = vec![("limit", "20")];
    if let Some(c) = cursor {
        q.push(("cursor", c));
    }
    let query = match Params::from_query(&serde_urlencoded::to_string(&q).unwrap_or_default()) {
        Ok(q) => q,
        Err(e) => return error_page(e),
    };
    let loaded = tokio::try_join!(
        nav(state, signed, &org),
        app::webhooks::get(&st, &org, id),
        app::webhooks::deliveries(&st, &org, id, &query)
    );
    match loaded {
        Ok((nav, ep, deliveries)) => page(status, markup::webhook(&nav, &flash, &ep, &deliveries)),
        Err(e) => page_or_secret(e, &flash, "/dashboard/webhooks"),
    }
}

/// `GET /dashboard/webhooks/{id}[?cursor=]`: an endpoint, its deliveries and their attempts.
pub(crate) async fn webhook(
    state: web::Data<App>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let signed = match admin_session(&state, &req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let p = match params(&req) {
        Ok(p) => p,
        Err(e) => return error_page(e),
    };
    let flash = notice(&p);
    webhook_page(
        &state,
        &signed,
        &path.into_inner(),
        p.get("cursor"),
        flash,
        StatusCode::OK,
    )
    .await
}

/// `POST /dashboard/webhooks/{id}`: `action=` `test`, `rotate`, `enable`, `disable`,
/// `delete`, or `redeliver` (delivery).
pub(crate) async fn webhook_post(
    state: web::Data<App>,
    req: HttpRequest,
    path: web::Path<String>,
    body: SmallBody,
) -> HttpResponse {
    let (signed, f) = match admin_form(&state, &req, body).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let id = path.into_inner();
    let st = state.clone().into_inner();
    let org = signed.caller.org.clone();
    let back = |code: &str| redirect(&format!("/dashboard/webhooks/{id}?notice={code}")).finish();
    let enabled = |on: bool| {
        let mut m = Map::new();
        m.insert("enabled".into(), Value::Bool(on));
        m
    };
    let result = match field(&f, "action") {
        "test" => app::webhooks::test(&st, &org, &id)
            .await
            .map(|_| "test_sent"),
        "enable" => app::webhooks::update(&st, &org, &id, &enabled(true))
            .await
            .map(|_| "enabled"),
        "disable" => app::webhooks::update(&st, &org, &id, &enabled(false))
            .await
            .map(|_| "disabled"),
        "redeliver" => app::webhooks::redeliver(&st, &org, &id, field(&f, "delivery"))
            .await
            .map(|_| "redelivered"),
        "delete" => {
            return match app::webhooks::delete(&st, &org, &id).await {
                Ok(()) => redirect("/dashboard/webhooks?notice=webhook_deleted").finish(),
                Err(e) => {
                    webhook_page(
                        &state,
                        &signed,
                        &id,
                        None,
                        Flash::Error(problem(&e)),
                        status_of(&e),
                    )
                    .await
                }
            }
        }
        "rotate" => return match app::webhooks::rotate_secret(&st, &org, &id).await {
            Ok(ep) => webhook_page(
                &state,
                &signed,
                &id,
                None,
                Flash::Secret {
                    what:
                        "The new signing secret (the old one keeps signing beside it for 24 hours)",
                    value: ep.secret.unwrap_or_default(),
                },
                StatusCode::OK,
            )
            .await,
            Err(e) => {
                webhook_page(
                    &state,
                    &signed,
                    &id,
                    None,
                    Flash::Error(problem(&e)),
                    status_of(&e),
                )
                .await
            }
        },
        _ => Err(unknown_action()),
    };
    match result {
        Ok(code) => back(code),
        Err(e) => {
            webhook_page(
                &state,
                &signed,
                &id,
                None,
                Flash::Error(problem(&e)),
                status_of(&e),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Settings

async fn settings_page(
    state: &web::Data<App>,
    signed: &SignedIn,
    flash: Flash,
    status: StatusCode,
) -> HttpResponse {
    let st = state.clone().into_inner();
    let org = signed.caller.org.clone();
    // The agents' ids and own rates only (no figures): one indexed read, not a report.
    let org_id = org.id.clone();
    let agents = app::blocking(&st, move |a| Ok(a.store.list_agents(&org_id)?));
    match tokio::try_join!(
        nav(state, signed, &org),
        app::settings::get(&st, &org),
        agents
    ) {
        Ok((nav, settings, agents)) => {
            page(status, markup::settings(&nav, &flash, &settings, &agents))
        }
        Err(e) => error_page(e),
    }
}

/// `GET /dashboard/settings`: the org's settings and its agents' own rates.
pub(crate) async fn settings(state: web::Data<App>, req: HttpRequest) -> HttpResponse {
    admin_get!(state, req, settings_page)
}

/// The settings form as `PATCH /org`'s body: only the fields whose value differs from the
/// current one, so a form sent unchanged changes nothing (and an operator's longer retention
/// is not refused for being shown back).
fn settings_patch(
    f: &HashMap<String, String>,
    current: &app::settings::OrgSettingsOut,
) -> Map<String, Value> {
    let mut body = Map::new();
    let name = field(f, "name").trim();
    if name != current.name.trim() {
        body.insert("name".into(), Value::String(name.into()));
    }
    let currency = field(f, "currency").trim().to_ascii_uppercase();
    if currency != current.currency {
        body.insert("currency".into(), Value::String(currency));
    }
    let rate = field(f, "hourly_rate").trim();
    if rate != current.hourly_rate.0.normalize().to_string() {
        body.insert(
            "hourly_rate".into(),
            json_value(rate).unwrap_or(Value::String(String::new())),
        );
    }
    let fallback = field(f, "fallback_baseline_minutes").trim();
    let current_fallback = current
        .fallback_baseline_minutes
        .map(|d| d.0.normalize().to_string())
        .unwrap_or_default();
    if fallback != current_fallback {
        body.insert(
            "fallback_baseline_minutes".into(),
            json_value(fallback).unwrap_or(Value::Null),
        );
    }
    let tz = field(f, "timezone").trim();
    if tz != current.timezone {
        body.insert("timezone".into(), Value::String(tz.into()));
    }
    let recipients: Vec<String> = field(f, "digest_recipients")
        .split([',', '\n', ' ', '\r', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if recipients != current.digest_recipients {
        body.insert(
            "digest_recipients".into(),
            Value::Array(recipients.into_iter().map(Value::String).collect()),
        );
    }
    let retention = field(f, "retention_days").trim();
    if retention != current.retention_days.to_string() {
        body.insert(
            "retention_days".into(),
            json_value(retention).unwrap_or(Value::Null),
        );
    }
    body
}

/// `POST /dashboard/settings`: `action=org` (the settings form) or `action=agent_rate`
/// (agent_id, hourly_rate; empty clears the agent's own rate).
pub(crate) async fn settings_post(
    state: web::Data<App>,
    req: HttpRequest,
    body: SmallBody,
) -> HttpResponse {
    let (signed, f) = match admin_form(&state, &req, body).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let st = state.clone().into_inner();
    let org = signed.caller.org.clone();
    let result = match field(&f, "action") {
        "org" => match app::settings::get(&st, &org).await {
            Ok(current) => app::settings::patch(&st, &org, &settings_patch(&f, &current))
                .await
                .map(|_| "saved"),
            Err(e) => Err(e),
        },
        "agent_rate" => {
            let mut body = Map::new();
            body.insert(
                "hourly_rate".into(),
                json_value(field(&f, "hourly_rate")).unwrap_or(Value::Null),
            );
            match app::read::agents::agent_of_path(field(&f, "agent_id").to_owned(), true) {
                Ok(agent) => app::read::agents::set_rate(&st, &org, agent, &body)
                    .await
                    .map(|_| "rate_saved"),
                Err(e) => Err(e),
            }
        }
        _ => Err(unknown_action()),
    };
    match result {
        Ok(code) => redirect(&format!("/dashboard/settings?notice={code}")).finish(),
        Err(e) => settings_page(&state, &signed, Flash::Error(problem(&e)), status_of(&e)).await,
    }
}

// ---------------------------------------------------------------------------------------
// Task types

async fn task_types_page(
    state: &web::Data<App>,
    signed: &SignedIn,
    query: &str,
    flash: Flash,
    status: StatusCode,
) -> HttpResponse {
    let st = state.clone().into_inner();
    let loaded = async {
        let (org, rest) = viewed(state, signed, query).await?;
        let p = Params::from_query(&rest)?;
        app::read::params::only(&p, &["notice"])?;
        let (nav, types) = tokio::try_join!(
            nav(state, signed, &org),
            app::task_types::list(&st, &org, None)
        )?;
        Ok::<_, ApiError>((nav, types, org))
    }
    .await;
    match loaded {
        Ok((nav, types, org)) => page(
            status,
            markup::task_types(&nav, &flash, &types, org.plan.has_pro_features()),
        ),
        Err(e) => error_page(e),
    }
}

/// `GET /dashboard/task-types[?workspace=]`: built-ins with their baselines and sources, the
/// org's overrides with their reasons, its custom types; forms for an admin.
pub(crate) async fn task_types(state: web::Data<App>, req: HttpRequest) -> HttpResponse {
    let signed = match session(&state, &req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let flash = params(&req).map(|p| notice(&p)).unwrap_or(Flash::None);
    task_types_page(&state, &signed, req.query_string(), flash, StatusCode::OK).await
}

/// `POST /dashboard/task-types`: `action=` `create` (key, display_name, category,
/// default_baseline_minutes, baseline_source), `override` (key, baseline_minutes_override,
/// reason), `remove_override` (key) or `archive` (key). Admin.
pub(crate) async fn task_types_post(
    state: web::Data<App>,
    req: HttpRequest,
    body: SmallBody,
) -> HttpResponse {
    let (signed, f) = match admin_form(&state, &req, body).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let st = state.clone().into_inner();
    let org = signed.caller.org.clone();
    let key = field(&f, "key").trim().to_owned();
    let put = |m: &mut Map<String, Value>, name: &str| {
        if let Some(v) = json_value(field(&f, name)) {
            m.insert(name.into(), v);
        }
    };
    let result = match field(&f, "action") {
        "create" => {
            let mut m = Map::new();
            for n in [
                "key",
                "display_name",
                "category",
                "default_baseline_minutes",
                "baseline_source",
            ] {
                put(&mut m, n);
            }
            app::task_types::create(&st, &org, &m)
                .await
                .map(|_| "type_created")
        }
        "override" => {
            let mut m = Map::new();
            put(&mut m, "baseline_minutes_override");
            if let Some(r) = f.get("reason").map(|r| r.trim()).filter(|r| !r.is_empty()) {
                m.insert("reason".into(), Value::String(r.into()));
            }
            app::task_types::set_override(&st, &org, key, &m)
                .await
                .map(|_| "override_set")
        }
        "remove_override" => app::task_types::delete_override(&st, &org, key)
            .await
            .map(|_| "override_removed"),
        "archive" => app::task_types::archive(&st, &org, key)
            .await
            .map(|_| "type_archived"),
        _ => Err(unknown_action()),
    };
    match result {
        Ok(code) => redirect(&format!("/dashboard/task-types?notice={code}")).finish(),
        Err(e) => {
            task_types_page(
                &state,
                &signed,
                "",
                Flash::Error(problem(&e)),
                status_of(&e),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Spot-check

/// The spot-check page's filter, as its links and form keep it.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpotFilter {
    pub agent_id: Option<String>,
    pub task_type: Option<String>,
    /// `needs_review` when not given: what needs a person comes first.
    pub outcome: String,
    pub workspace: Option<String>,
}

impl SpotFilter {
    /// The page's query string with `cursor` (or none).
    pub(crate) fn query(&self, cursor: Option<&str>) -> String {
        let mut q: Vec<(&str, &str)> = vec![("outcome", &self.outcome)];
        for (k, v) in [
            ("agent_id", &self.agent_id),
            ("task_type", &self.task_type),
            ("workspace", &self.workspace),
        ] {
            if let Some(v) = v {
                q.push((k, v));
            }
        }
        if let Some(c) = cursor {
            q.push(("cursor", c));
        }
        serde_urlencoded::to_string(&q).unwrap_or_default()
    }
}

/// Events with audit samples per page.
const SPOT_PAGE: &str = "20";

/// `GET /dashboard/spot-check[?outcome=&agent_id=&task_type=&cursor=&workspace=]`: the events
/// that carry an audit sample, newest first, `needs_review` ones unless another outcome (or
/// `any`) is chosen; filtered by agent and task type; 20 a page. The events list's own
/// function answers it (a Pro feature, within the org's read slots).
pub(crate) async fn spot_check(state: web::Data<App>, req: HttpRequest) -> HttpResponse {
    let signed = match session(&state, &req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let st = state.clone().into_inner();
    let loaded = async {
        let ws = app::read::params::take_workspace(req.query_string())?.map(|(w, _)| w);
        let (org, rest) = viewed(&state, &signed, req.query_string()).await?;
        let p = Params::from_query(&rest)?;
        app::read::params::only(&p, &["outcome", "agent_id", "task_type", "cursor"])?;
        let filter = SpotFilter {
            agent_id: p
                .get("agent_id")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            task_type: p
                .get("task_type")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            outcome: p.get("outcome").unwrap_or("needs_review").to_owned(),
            workspace: ws,
        };
        let mut q: Vec<(&str, &str)> = vec![("has_audit_sample", "true"), ("limit", SPOT_PAGE)];
        match filter.outcome.as_str() {
            "any" => {}
            o => q.push(("outcome", o)),
        }
        for (k, v) in [
            ("agent_id", &filter.agent_id),
            ("task_type", &filter.task_type),
        ] {
            if let Some(v) = v {
                q.push((k, v));
            }
        }
        if let Some(c) = p.get("cursor") {
            q.push(("cursor", c));
        }
        let events_query =
            Params::from_query(&serde_urlencoded::to_string(&q).unwrap_or_default())?;
        let now = clock::unix_ms(clock::now());
        // The page's events first (a Pro feature: a free org stops here), then the filter's
        // choices, within one of the org's read slots: agent ids are the clients' to make,
        // so the list can be long.
        let (nav, events) = tokio::try_join!(
            nav(&state, &signed, &org),
            app::read::events::list(&st, &org, &events_query, now)
        )?;
        let org2 = org.clone();
        let (agents, types) = app::read::gate::heavy(&st, &org.id, move |a| {
            let agents = a.store.list_agents(&org2.id)?;
            let types = app::task_types::entries_of(a, &org2.id)?;
            Ok((
                agents.into_iter().map(|r| r.agent_id).collect::<Vec<_>>(),
                types.into_iter().map(|t| t.key).collect::<Vec<_>>(),
            ))
        })
        .await?;
        let events: Value = serde_json::from_str(&events).map_err(ApiError::internal)?;
        Ok::<_, ApiError>((nav, events, filter, agents, types, org))
    }
    .await;
    match loaded {
        Ok((nav, events, filter, agents, types, org)) => page(
            StatusCode::OK,
            markup::spot_check(
                &nav,
                &events,
                &filter,
                &agents,
                &types,
                org.currency.as_str(),
            ),
        ),
        Err(e) => error_page(e),
    }
}

// ---------------------------------------------------------------------------------------
// The agency tree

/// `GET /dashboard/tree[?period=]`: an agency anchor's figures beside each workspace's, for
/// the period. Anchors only (anyone else: 404, as the API answers a workspace it may not read).
pub(crate) async fn tree(state: web::Data<App>, req: HttpRequest) -> HttpResponse {
    let signed = match session(&state, &req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let st = state.clone().into_inner();
    let loaded = async {
        let p = Params::from_query(req.query_string())?;
        app::read::params::only(&p, &["period"])?;
        let own = signed.caller.org.clone();
        let Some(workspaces) = workspaces_of(&state, &own).await? else {
            return Err(ApiError::NotFound {
                message: "the tree overview is for an agency anchor's keys".into(),
            });
        };
        let nav = nav_with(&signed, &own, Some(&workspaces));
        let scope = app::read::params::scope(&p)?;
        let now = clock::unix_ms(clock::now());
        let orgs: Vec<Arc<OrgSettings>> = std::iter::once(own.clone())
            .chain(workspaces.into_iter().map(Arc::new))
            .collect();
        let rows = app::read::gate::heavy(&st, &own.id, move |a| {
            let mut rows = Vec::with_capacity(orgs.len());
            for o in orgs {
                let s = app::read::reports::summary_data(&a.store, &o, &scope, now)?;
                rows.push((o, s));
            }
            Ok(rows)
        })
        .await?;
        Ok::<_, ApiError>((nav, rows, p.get("period").unwrap_or("30d").to_owned()))
    }
    .await;
    match loaded {
        Ok((nav, rows, period)) => page(StatusCode::OK, markup::tree(&nav, &rows, &period)),
        Err(e) => error_page(e),
    }
}

/// The pages' links in the header, in order; admin ones last.
pub(crate) const PAGES: [(Page, &str, &str); 7] = [
    (Page::Overview, "/dashboard", "Overview"),
    (Page::TaskTypes, "/dashboard/task-types", "Task types"),
    (Page::SpotCheck, "/dashboard/spot-check", "Spot-check"),
    (Page::Tree, "/dashboard/tree", "Workspaces"),
    (Page::Keys, "/dashboard/keys", "Keys"),
    (Page::Webhooks, "/dashboard/webhooks", "Webhooks"),
    (Page::Settings, "/dashboard/settings", "Settings"),
];

/// Registers the pages' routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/keys", web::get().to(keys))
        .route("/dashboard/keys", web::post().to(keys_post))
        .route("/dashboard/webhooks", web::get().to(webhooks))
        .route("/dashboard/webhooks", web::post().to(webhooks_post))
        .route("/dashboard/webhooks/{id}", web::get().to(webhook))
        .route("/dashboard/webhooks/{id}", web::post().to(webhook_post))
        .route("/dashboard/settings", web::get().to(settings))
        .route("/dashboard/settings", web::post().to(settings_post))
        .route("/dashboard/task-types", web::get().to(task_types))
        .route("/dashboard/task-types", web::post().to(task_types_post))
        .route("/dashboard/spot-check", web::get().to(spot_check))
        .route("/dashboard/tree", web::get().to(tree));
}
