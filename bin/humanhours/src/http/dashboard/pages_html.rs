//! The markup of the pages a team runs its org from ([`super::pages`]). As in [`super::html`]:
//! maud escapes every value, no script, one stylesheet; every control has a label, forms are
//! grouped under headings, tables have header cells, and a page reads in order at 375 px.

use maud::{html, Markup};
use serde_json::Value;
use store::Sums;

use super::format::{count, exact, hours_shown};
use super::html::{layout, session_header, sums_cells, Nav, Page};
use super::pages::{Flash, SpotFilter, EVENT_TYPES};
use app::key_admin::Keys;
use app::read::reports::{hours, Summary};
use app::settings::OrgSettingsOut;
use app::task_types::TaskTypes;
use app::webhooks::{Deliveries, Endpoint, Endpoints};

/// A signed-in page: the header, the heading, what the last form did, the content.
fn frame(nav: &Nav, current: Page, path: &str, title: &str, flash: &Flash, body: Markup) -> Markup {
    layout(
        title,
        html! {
            (session_header(nav, current, path))
            main #main {
                h1 { (title) }
                (flash_box(flash))
                (body)
            }
        },
    )
}

fn flash_box(flash: &Flash) -> Markup {
    html! {
        @match flash {
            Flash::None => {}
            Flash::Notice(text) => { p.notice role="status" { (text) } }
            Flash::Error(text) => { p.error role="alert" { "Not done: " (text) } }
            Flash::Secret { what, value } => {
                div.secret role="status" {
                    p { strong { (what) } ", shown this once. Copy it now: it is not stored in a form anyone can read back." }
                    p { code #secret-value { (value) } }
                }
            }
        }
    }
}

/// A POST form of the session with its CSRF token and action.
fn post_form(nav: &Nav, action: &str, name: &str, class: &str, body: Markup) -> Markup {
    html! {
        form method="post" action=(action) class=(class) {
            input type="hidden" name="csrf" value=(nav.csrf);
            input type="hidden" name="action" value=(name);
            (body)
        }
    }
}

fn time_text(rfc3339: &str) -> String {
    // `2026-12-03T10:04:05.123Z` → `2026-12-03 10:04 UTC`.
    if rfc3339.len() >= 16 {
        format!("{} {} UTC", &rfc3339[..10], &rfc3339[11..16])
    } else {
        rfc3339.to_owned()
    }
}

fn time_el(rfc3339: &str) -> Markup {
    html! { time datetime=(rfc3339) { (time_text(rfc3339)) } }
}

// ---------------------------------------------------------------------------------------

/// The keys page.
pub(crate) fn keys(nav: &Nav, flash: &Flash, keys: &Keys, own_prefix: &str) -> Markup {
    frame(
        nav,
        Page::Keys,
        "/dashboard/keys",
        "API keys",
        flash,
        html! {
            p.note { "An agent should run on a key with the track scope only: if it leaks, nobody can read the organisation's figures with it. Keys are shown once, when they are made; the server keeps only a slow hash." }
            section aria-labelledby="h-new-key" {
                h2 #h-new-key { "Make a key" }
                (post_form(nav, "/dashboard/keys", "create", "stack", html! {
                    label for="key-name" { "Name " span.unit { "(what it is for, up to 100 characters)" } }
                    input #key-name type="text" name="name" maxlength="100" autocomplete="off";
                    fieldset {
                        legend { "Scopes" }
                        @for (scope, help) in [
                            ("track", "send events (POST /track, batches)"),
                            ("read", "read figures, reports, events and the dashboard"),
                            ("admin", "change task types, rates, webhooks, keys and settings"),
                        ] {
                            div.check {
                                input type="checkbox" id={ "scope-" (scope) } name={ "scope_" (scope) } value="on" checked[scope == "track"];
                                label for={ "scope-" (scope) } { (scope) span.unit { ": " (help) } }
                            }
                        }
                    }
                    button type="submit" { "Make the key" }
                }))
            }
            section aria-labelledby="h-keys" {
                h2 #h-keys { "Keys of this organisation" }
                div.table-wrap {
                    table {
                        thead {
                            tr {
                                th scope="col" { "Prefix" }
                                th scope="col" { "Name" }
                                th scope="col" { "Scopes" }
                                th scope="col" { "Made" }
                                th scope="col" { "Last used" }
                                th scope="col" { "State" }
                            }
                        }
                        tbody {
                            @for k in &keys.keys {
                                tr {
                                    th scope="row" { code { (k.prefix) } @if k.prefix == own_prefix { " " span.badge { "this session" } } }
                                    td { @if k.name.is_empty() { em { "no name" } } @else { (k.name) } }
                                    td { (k.scopes.join(", ")) }
                                    td.date { (time_el(&k.created_at)) }
                                    td.date { @match &k.last_used_at { Some(t) => (time_el(t)), None => "never" } }
                                    td {
                                        @match &k.revoked_at {
                                            Some(t) => { "revoked " (time_el(t)) }
                                            None => {
                                                (post_form(nav, "/dashboard/keys", "revoke", "inline", html! {
                                                    input type="hidden" name="prefix" value=(k.prefix);
                                                    button.danger type="submit" aria-label={ "Revoke key " (k.prefix) } { "Revoke" }
                                                }))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

// ---------------------------------------------------------------------------------------

fn health(e: &Endpoint) -> Markup {
    html! {
        span class={ "health health-" (e.status) } { (e.status) }
        @if let Some(r) = &e.disabled_reason {
            " (" (match r.as_str() { "user" => "by a person", "gone" => "the receiver answered 410 Gone", "failures" => "after 20 failed deliveries in a row", other => other }) ")"
        }
        @if e.failed_deliveries_in_a_row > 0 {
            ", " (e.failed_deliveries_in_a_row) " failed in a row"
        }
    }
}

/// The webhooks page: the endpoints with their health, and the form to add one.
pub(crate) fn webhooks(nav: &Nav, flash: &Flash, list: Option<&Endpoints>) -> Markup {
    frame(
        nav,
        Page::Webhooks,
        "/dashboard/webhooks",
        "Webhooks",
        flash,
        html! {
            @if let Some(list) = list {
                section aria-labelledby="h-endpoints" {
                    h2 #h-endpoints { "Endpoints" }
                    @if list.webhooks.is_empty() {
                        p { "No endpoints yet." }
                    } @else {
                        div.table-wrap {
                            table {
                                thead {
                                    tr {
                                        th scope="col" { "URL" }
                                        th scope="col" { "Events" }
                                        th scope="col" { "Health" }
                                        th scope="col" { "Description" }
                                    }
                                }
                                tbody {
                                    @for e in &list.webhooks {
                                        tr {
                                            th scope="row" { a href={ "/dashboard/webhooks/" (e.id) } { (e.url) } }
                                            td { (e.event_types.join(", ")) }
                                            td { (health(e)) }
                                            td { (e.description) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                section aria-labelledby="h-new-endpoint" {
                    h2 #h-new-endpoint { "Add an endpoint" }
                    (post_form(nav, "/dashboard/webhooks", "create", "stack", html! {
                        label for="wh-url" { "URL " span.unit { "(http or https)" } }
                        input #wh-url type="url" name="url" required maxlength="2048" placeholder="https://example.com/hooks/humanhours";
                        label for="wh-description" { "Description " span.unit { "(optional)" } }
                        input #wh-description type="text" name="description" maxlength="200";
                        fieldset {
                            legend { "Events to send" }
                            @for t in EVENT_TYPES {
                                div.check {
                                    input type="checkbox" id={ "type-" (t) } name={ "type_" (t) } value="on" checked[t == "event.created"];
                                    label for={ "type-" (t) } { (t) }
                                }
                            }
                        }
                        button type="submit" { "Add the endpoint" }
                    }))
                }
            }
        },
    )
}

/// One endpoint: its facts, its buttons, its deliveries with their attempts.
pub(crate) fn webhook(nav: &Nav, flash: &Flash, e: &Endpoint, d: &Deliveries) -> Markup {
    let path = format!("/dashboard/webhooks/{}", e.id);
    let button = |action: &str, label: &str, class: &str| {
        post_form(
            nav,
            &path,
            action,
            "inline",
            html! { button class=(class) type="submit" { (label) } },
        )
    };
    frame(
        nav,
        Page::Webhooks,
        &path,
        "Webhook endpoint",
        flash,
        html! {
            p { a href="/dashboard/webhooks" { "All endpoints" } }
            dl.facts {
                dt { "URL" } dd { code { (e.url) } }
                dt { "Events" } dd { (e.event_types.join(", ")) }
                dt { "Health" } dd #endpoint-health { (health(e)) }
                @if !e.description.is_empty() { dt { "Description" } dd { (e.description) } }
                dt { "Made" } dd { (time_el(&e.created_at)) }
                @if let Some(t) = &e.previous_secret_expires_at {
                    dt { "Previous secret" } dd { "still signs until " (time_el(t)) }
                }
            }
            div.actions {
                (button("test", "Send a test", ""))
                (button("rotate", "Rotate the secret", ""))
                @if e.status == "disabled" {
                    (button("enable", "Enable", ""))
                } @else {
                    (button("disable", "Disable", "secondary"))
                }
                (button("delete", "Delete the endpoint", "danger"))
            }
            section aria-labelledby="h-deliveries" {
                h2 #h-deliveries { "Recent deliveries" }
                @if d.deliveries.is_empty() {
                    p { "No deliveries yet." }
                }
                @for del in &d.deliveries {
                    article.delivery aria-labelledby={ "d-" (del.id) } {
                        h3 id={ "d-" (del.id) } {
                            (del.event_type) " · " span class={ "status status-" (del.status) } { (del.status) }
                        }
                        p.note {
                            "Made " (time_el(&del.created_at))
                            @if let Some(t) = &del.next_attempt_at { "; next attempt " (time_el(t)) }
                            @if let Some(ev) = &del.event_id { "; event " code { (ev) } }
                            "; message " code { (del.message_id) }
                        }
                        @if !del.attempts.is_empty() {
                            div.table-wrap {
                                table {
                                    caption.visually-hidden { "Attempts of delivery " (del.id) }
                                    thead {
                                        tr {
                                            th scope="col" { "Attempt" }
                                            th scope="col" { "At" }
                                            th scope="col" { "Answer" }
                                            th.num scope="col" { "Took" }
                                            th scope="col" { "Body (first 2 KiB)" }
                                        }
                                    }
                                    tbody {
                                        @for a in &del.attempts {
                                            tr {
                                                th scope="row" { (a.attempt) }
                                                td.date { (time_el(&a.attempted_at)) }
                                                td { @match (a.status_code, &a.error) { (Some(c), _) => { "HTTP " (c) }, (None, Some(err)) => (err), (None, None) => "no answer" } }
                                                td.num { (a.duration_ms) " ms" }
                                                td { code.body { (a.response_body.chars().take(300).collect::<String>()) } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        @if del.status != "pending" {
                            (post_form(nav, &path, "redeliver", "inline", html! {
                                input type="hidden" name="delivery" value=(del.id);
                                button.secondary type="submit" aria-label={ "Send again: delivery " (del.id) } { "Send again" }
                            }))
                        }
                    }
                }
                @if let Some(c) = &d.next_cursor {
                    p { a href={ (path) "?" (serde_urlencoded::to_string([("cursor", c)]).unwrap_or_default()) } { "Older deliveries" } }
                }
            }
        },
    )
}

// ---------------------------------------------------------------------------------------

/// The settings page: the org's settings and its agents' own rates.
/// The secret a form made, alone: the page around it could not be gathered.
pub(crate) fn secret_only(flash: &Flash, back: &str) -> Markup {
    layout(
        "Shown once",
        html! {
            header.top { p.brand { "humanhours" } }
            main #main .narrow {
                h1 { "Shown once" }
                (flash_box(flash))
                p { "The rest of the page could not be loaded just now. " a href=(back) { "Back to the page" } }
            }
        },
    )
}

/// Agents the settings page lists a rate form for.
const RATE_ROWS: usize = 200;

pub(crate) fn settings(
    nav: &Nav,
    flash: &Flash,
    s: &OrgSettingsOut,
    agents: &[store::AgentRow],
) -> Markup {
    let dec = |d: &app::wire::JsonDecimal| exact(*d);
    frame(
        nav,
        Page::Settings,
        "/dashboard/settings",
        "Settings",
        flash,
        html! {
            section aria-labelledby="h-org" {
                h2 #h-org { "Organisation" }
                p.note { "A new rate or baseline values the events tracked from now on; past events keep the values frozen on them. The currency can change only before the first event. The plan (" (s.plan) ") and the monthly cap are the operator's." }
                (post_form(nav, "/dashboard/settings", "org", "stack", html! {
                    label for="s-name" { "Name" }
                    input #s-name type="text" name="name" required maxlength="200" value=(s.name);
                    label for="s-currency" { "Currency " span.unit { "(ISO 4217, e.g. EUR)" } }
                    input #s-currency type="text" name="currency" required maxlength="3" value=(s.currency) autocapitalize="characters";
                    label for="s-rate" { "Hourly rate " span.unit { "(cost of a human hour in that currency)" } }
                    input #s-rate type="text" inputmode="decimal" name="hourly_rate" required value=(dec(&s.hourly_rate));
                    label for="s-fallback" { "Fallback baseline, minutes " span.unit { "(for task types nobody knows; empty: none)" } }
                    input #s-fallback type="text" inputmode="decimal" name="fallback_baseline_minutes" value=(s.fallback_baseline_minutes.as_ref().map(dec).unwrap_or_default());
                    label for="s-tz" { "Time zone " span.unit { "(IANA name: the digest's weeks are cut there)" } }
                    input #s-tz type="text" name="timezone" required value=(s.timezone);
                    label for="s-recipients" { "Digest recipients " span.unit { "(up to 10 addresses, one per line)" } }
                    textarea #s-recipients name="digest_recipients" rows="3" { (s.digest_recipients.join("\n")) }
                    label for="s-retention" { "Keep events for, days " span.unit { "(up to the plan's; empty: the plan's)" } }
                    input #s-retention type="text" inputmode="numeric" name="retention_days" value=(s.retention_days);
                    button type="submit" { "Save the settings" }
                }))
            }
            section aria-labelledby="h-agent-rates" {
                h2 #h-agent-rates { "Agents' own hourly rates" }
                p.note { "An agent's own rate wins over the organisation's for its events tracked from now on. Leave it empty to use the organisation's." }
                @if agents.is_empty() {
                    p { "No agents yet: an agent appears with its first event." }
                } @else {
                    div.table-wrap {
                        table {
                            thead { tr { th scope="col" { "Agent" } th scope="col" { "Own hourly rate (" (s.currency) ")" } } }
                            tbody {
                                @for (i, a) in agents.iter().take(RATE_ROWS).enumerate() {
                                    tr {
                                        th scope="row" { (a.agent_id) }
                                        td {
                                            (post_form(nav, "/dashboard/settings", "agent_rate", "inline", html! {
                                                input type="hidden" name="agent_id" value=(a.agent_id);
                                                label.visually-hidden for={ "rate-" (i) } { "Own hourly rate of " (a.agent_id) }
                                                input.short id={ "rate-" (i) } type="text" inputmode="decimal" name="hourly_rate" value=(a.hourly_rate.as_deref().map(|r| r.parse::<rust_decimal::Decimal>().map(|d| d.normalize().to_string()).unwrap_or_else(|_| r.to_owned())).unwrap_or_default());
                                                button.secondary type="submit" aria-label={ "Save the rate of " (a.agent_id) } { "Save" }
                                            }))
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if agents.len() > RATE_ROWS {
                        p.note { "The first " (RATE_ROWS) " of " (agents.len()) " agents are listed; PUT /api/v1/agents/{agent_id} sets any agent's rate." }
                    }
                }
            }
        },
    )
}

// ---------------------------------------------------------------------------------------

/// The task types page: built-ins with baselines and sources, overrides with reasons, custom
/// types; forms for an admin (the Pro plans' features).
pub(crate) fn task_types(nav: &Nav, flash: &Flash, types: &TaskTypes, pro: bool) -> Markup {
    let path = format!("/dashboard/task-types{}", nav.workspace_query());
    let writes = nav.admin && nav.viewing.is_none();
    frame(
        nav,
        Page::TaskTypes,
        &path,
        "Task types and their baselines",
        flash,
        html! {
            p.note { "A baseline is how many minutes a person needs for one task of the type. Hours saved = baseline ÷ 60 − the agent's time. An override or a new baseline values the events tracked from now on." }
            div.table-wrap {
                table {
                    thead {
                        tr {
                            th scope="col" { "Task type" }
                            th scope="col" { "Category" }
                            th.num scope="col" { "Baseline (min)" }
                            th scope="col" { "Where it comes from" }
                            th scope="col" { "Override" }
                        }
                    }
                    tbody {
                        @for t in &types.task_types {
                            tr {
                                th scope="row" { (t.display_name) " " span.key { (t.key) } @if t.kind == "custom" { " " span.badge { "custom" } } }
                                td { (t.category) }
                                td.num { (t.effective_baseline_minutes.map(exact).unwrap_or_default()) }
                                td {
                                    @if let Some(src) = &t.baseline_source {
                                        details.provenance {
                                            summary { (if t.kind == "custom" { "this organisation's source" } else { "the catalogue's source" }) }
                                            p { (src) }
                                        }
                                    }
                                }
                                td {
                                    @if let Some(o) = &t.override_ {
                                        (o.baseline_minutes.map(exact).unwrap_or_default()) " min instead of " (t.default_baseline_minutes.map(exact).unwrap_or_default())
                                        @if let Some(r) = &o.reason { ": " (r) }
                                        @if writes && pro {
                                            (post_form(nav, "/dashboard/task-types", "remove_override", "inline", html! {
                                                input type="hidden" name="key" value=(t.key);
                                                button.secondary type="submit" aria-label={ "Remove the override of " (t.key) } { "Remove" }
                                            }))
                                        }
                                    }
                                    @if writes && pro && t.kind == "custom" {
                                        (post_form(nav, "/dashboard/task-types", "archive", "inline", html! {
                                            input type="hidden" name="key" value=(t.key);
                                            button.danger type="submit" aria-label={ "Archive " (t.key) } { "Archive" }
                                        }))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if writes && pro {
                section aria-labelledby="h-override" {
                    h2 #h-override { "Override a built-in baseline" }
                    (post_form(nav, "/dashboard/task-types", "override", "stack", html! {
                        label for="o-key" { "Task type" }
                        select #o-key name="key" required {
                            @for t in types.task_types.iter().filter(|t| t.kind == "builtin") {
                                option value=(t.key) { (t.display_name) " (" (t.key) ")" }
                            }
                        }
                        label for="o-minutes" { "Baseline, minutes" }
                        input #o-minutes type="text" inputmode="decimal" name="baseline_minutes_override" required;
                        label for="o-reason" { "Reason " span.unit { "(what you measured; shown beside it)" } }
                        input #o-reason type="text" name="reason" maxlength="500";
                        button type="submit" { "Save the override" }
                    }))
                }
                section aria-labelledby="h-custom" {
                    h2 #h-custom { "Add a custom task type" }
                    (post_form(nav, "/dashboard/task-types", "create", "stack", html! {
                        label for="c-key" { "Key " span.unit { "(lowercase snake_case, as agents send it)" } }
                        input #c-key type="text" name="key" required maxlength="64" pattern="[a-z0-9_]+" autocapitalize="off";
                        label for="c-name" { "Name" }
                        input #c-name type="text" name="display_name" required maxlength="200";
                        label for="c-category" { "Category" }
                        input #c-category type="text" name="category" required maxlength="64";
                        label for="c-minutes" { "Baseline, minutes" }
                        input #c-minutes type="text" inputmode="decimal" name="default_baseline_minutes" required;
                        label for="c-source" { "Source of the baseline " span.unit { "(optional)" } }
                        input #c-source type="text" name="baseline_source" maxlength="500";
                        button type="submit" { "Add the task type" }
                    }))
                }
            } @else if nav.admin && !pro {
                p.note { "Overrides and custom task types are features of the Pro plans." }
            }
        },
    )
}

// ---------------------------------------------------------------------------------------

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The spot-check page: events with audit samples, newest first.
pub(crate) fn spot_check(
    nav: &Nav,
    events: &Value,
    f: &SpotFilter,
    agents: &[String],
    types: &[String],
    currency: &str,
) -> Markup {
    let path = "/dashboard/spot-check";
    let list = events["events"].as_array().cloned().unwrap_or_default();
    frame(
        nav,
        Page::SpotCheck,
        path,
        "Spot-check the agents' work",
        &Flash::None,
        html! {
            p.note { "Events that carry an audit sample: what the agent was given and what it answered. Those marked needs_review come first; choose another outcome to see the rest." }
            form.filters-form method="get" action=(path) {
                @if let Some(w) = &f.workspace { input type="hidden" name="workspace" value=(w); }
                div.field {
                    label for="f-outcome" { "Outcome" }
                    select #f-outcome name="outcome" {
                        @for (v, l) in [("needs_review", "Needs review"), ("failure", "Failure"), ("success", "Success"), ("any", "Any outcome")] {
                            option value=(v) selected[f.outcome == v] { (l) }
                        }
                    }
                }
                div.field {
                    label for="f-agent" { "Agent" }
                    select #f-agent name="agent_id" {
                        option value="" { "Any agent" }
                        @for a in agents.iter().take(500) {
                            option value=(a) selected[f.agent_id.as_deref() == Some(a.as_str())] { (a) }
                        }
                    }
                }
                div.field {
                    label for="f-type" { "Task type" }
                    select #f-type name="task_type" {
                        option value="" { "Any task type" }
                        @for t in types.iter().take(500) {
                            option value=(t) selected[f.task_type.as_deref() == Some(t.as_str())] { (t) }
                        }
                    }
                }
                button type="submit" { "Show" }
            }
            @if list.is_empty() {
                p #no-events { "No events with an audit sample match." }
            }
            ol.events {
                @for e in &list {
                    li {
                        article.event aria-labelledby={ "e-" (json_text(&e["event_id"])) } {
                            h2.event-head id={ "e-" (json_text(&e["event_id"])) } {
                                (json_text(&e["agent_id"])) " · " (json_text(&e["task_type"]))
                                " " span class={ "status status-" (json_text(&e["outcome"])) } { (json_text(&e["outcome"])) }
                            }
                            p.note {
                                (time_el(&json_text(&e["occurred_at"])))
                                " · " (json_text(&e["hours_saved"])) " h saved"
                                " · " (json_text(&e["cost_saved"])) " " (currency) " saved"
                                @if let Some(m) = e["model"].as_str() { " · " (m) }
                                " · " code { (json_text(&e["event_id"])) }
                            }
                            @let s = &e["audit_sample"];
                            div.sample {
                                div {
                                    h3 { "Input" }
                                    p.excerpt { (json_text(&s["input_excerpt"])) }
                                }
                                div {
                                    h3 { "Output" }
                                    p.excerpt { (json_text(&s["output_excerpt"])) }
                                }
                            }
                            @if e["metadata"].is_object() {
                                details {
                                    summary { "Metadata" }
                                    code.body { (e["metadata"].to_string()) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(c) = events["next_cursor"].as_str() {
                p { a href={ (path) "?" (f.query(Some(c))) } { "Older events" } }
            }
        },
    )
}

// ---------------------------------------------------------------------------------------

/// An agency anchor's tree: its figures beside each workspace's, for the period.
pub(crate) fn tree(
    nav: &Nav,
    rows: &[(std::sync::Arc<app::auth::OrgSettings>, Summary)],
    period: &str,
) -> Markup {
    let currencies: std::collections::BTreeSet<&str> =
        rows.iter().map(|(o, _)| o.currency.as_str()).collect();
    let one_currency = currencies.len() == 1;
    let mut total = Sums::default();
    for (_, s) in rows {
        total.add(&s.totals);
    }
    let anchor_id = rows.first().map(|(o, _)| o.id.clone()).unwrap_or_default();
    frame(
        nav,
        Page::Tree,
        "/dashboard/tree",
        "Workspaces",
        &Flash::None,
        html! {
            nav.periods aria-label="Period" {
                ul {
                    @for (p, label) in [("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days"), ("ytd", "Year to date"), ("all", "All time")] {
                        li { a href={ "/dashboard/tree?period=" (p) } aria-current=[(p == period).then_some("page")] { (label) } }
                    }
                }
            }
            div.table-wrap {
                table #tree {
                    caption { "The agency and its workspaces, " (rows.first().map(|(_, s)| s.range.period).unwrap_or("")) }
                    thead {
                        tr {
                            th scope="col" { "Organisation" }
                            th.num scope="col" { "Events" }
                            th.num scope="col" { "Hours saved" }
                            th.num scope="col" { "Money saved" }
                            th.num scope="col" { "Agent cost" }
                            th.num scope="col" { "Net saved" }
                        }
                    }
                    tbody {
                        @for (o, s) in rows {
                            tr data-org=(o.id) {
                                th scope="row" {
                                    a href={ "/dashboard?" (serde_urlencoded::to_string([("workspace", o.id.as_str()), ("period", period)]).unwrap_or_default()) } { (o.name) }
                                    @if o.id == anchor_id { " " span.badge { "agency" } }
                                }
                                (sums_cells(&s.totals, o.currency.as_str()))
                            }
                        }
                    }
                    tfoot {
                        tr {
                            th scope="row" { "The whole tree" }
                            @if one_currency {
                                (sums_cells(&total, currencies.iter().next().copied().unwrap_or("EUR")))
                            } @else {
                                td.num { (count(total.events)) }
                                td.num { (hours_shown(hours(total.hours_saved_milli))) }
                                td colspan="3" { "Money is not added up: the workspaces use different currencies (" (currencies.iter().copied().collect::<Vec<_>>().join(", ")) ")." }
                            }
                        }
                    }
                }
            }
            p.note { "Each row is that organisation's own summary (GET /api/v1/summary?workspace=…) for the same range; the last row is their sum." }
        },
    )
}
