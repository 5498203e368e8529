//! The dashboard's markup, written with maud: every `(value)` is HTML-escaped by the macro, so
//! agent ids, task types, models and org names (all user input) cannot inject markup; nothing
//! here uses `PreEscaped`. No JavaScript: figures, tables and links work without it, and the
//! charts are inline SVG whose sizes are SVG attributes (the Content-Security-Policy allows no
//! inline style and no script).

use maud::{html, Markup, DOCTYPE};
use store::Sums;

use super::format::{
    count, currency_sign, exact, hours_shown, money as fmt_money, number, percent,
};
use super::view::{Overview, Row};
use app::clock;
use app::read::reports::{agent_cost, hours, money, net};

/// The period links, in order.
const PERIODS: [(&str, &str); 6] = [
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("ytd", "Year to date"),
    ("all", "All time"),
];

/// Breakdown rows drawn as bars; the table lists more.
const CHART_ROWS: usize = 10;
/// Breakdown rows listed in a table; the CSV has them all.
const TABLE_ROWS: usize = 25;

/// Who looks at the overview.
#[derive(Debug, Clone)]
pub(crate) enum Viewer {
    /// A signed-in browser: its navigation (and the sign-out form's CSRF token).
    Session(Nav),
    /// A read-only share link.
    Share {
        expires_at: Option<i64>,
        label: Option<String>,
    },
}

/// The dashboard's pages, for the navigation's `aria-current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    Overview,
    TaskTypes,
    SpotCheck,
    Tree,
    Keys,
    Webhooks,
    Settings,
}

impl Page {
    /// The pages that show figures: they follow the workspace switcher.
    fn reads(self) -> bool {
        matches!(self, Page::Overview | Page::TaskTypes | Page::SpotCheck)
    }

    fn admin(self) -> bool {
        matches!(self, Page::Keys | Page::Webhooks | Page::Settings)
    }
}

/// An agency anchor and its workspaces (id, name), oldest first.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub anchor: (String, String),
    pub workspaces: Vec<(String, String)>,
}

/// A signed-in browser's navigation.
#[derive(Debug, Clone)]
pub(crate) struct Nav {
    /// The session's CSRF token, for every form.
    pub csrf: String,
    /// The key has the admin scope: admin pages and the forms that write are shown.
    pub admin: bool,
    /// The session's own org.
    pub org_name: String,
    pub plan: &'static str,
    /// The workspace shown instead of the own org (id, name).
    pub viewing: Option<(String, String)>,
    /// For an agency anchor: the tree, for the switcher.
    pub tree: Option<Tree>,
}

impl Nav {
    /// `?workspace=<id>&` for links of read pages while a workspace is shown; empty otherwise.
    pub(crate) fn workspace_query(&self) -> String {
        match &self.viewing {
            Some((id, _)) => {
                let q = serde_urlencoded::to_string([("workspace", id)]).unwrap_or_default();
                format!("?{q}")
            }
            None => String::new(),
        }
    }
}

/// The header of a signed-in page: the org, the pages this key may open, the workspace
/// switcher on pages that show figures (agency anchors), and sign-out. No script: the
/// switcher is a GET form with a button.
pub(crate) fn session_header(nav: &Nav, current: Page, path: &str) -> Markup {
    let ws = nav.workspace_query();
    html! {
        header.top {
            p.brand { "humanhours" }
            p.org {
                (nav.org_name) " " span.badge { (nav.plan) " plan" }
                @if let Some((_, name)) = &nav.viewing {
                    " " span.badge.viewing { "showing workspace " (name) }
                }
            }
            form.signout method="post" action="/dashboard/sign-out" {
                input type="hidden" name="csrf" value=(nav.csrf);
                button type="submit" { "Sign out" }
            }
        }
        nav.pages aria-label="Dashboard pages" {
            ul {
                @for (p, href, label) in super::pages::PAGES {
                    @if (!p.admin() || nav.admin) && (p != Page::Tree || nav.tree.is_some()) {
                        li {
                            a href={ (href) @if p.reads() { (ws) } }
                                aria-current=[(p == current).then_some("page")] { (label) }
                        }
                    }
                }
            }
        }
        @if let (Some(tree), true) = (&nav.tree, current.reads()) {
            form.switcher method="get" action=(path) {
                label for="workspace" { "Workspace" }
                select #workspace name="workspace" {
                    @let shown = nav.viewing.as_ref().map(|(id, _)| id.as_str()).unwrap_or(tree.anchor.0.as_str());
                    option value=(tree.anchor.0) selected[shown == tree.anchor.0] { (tree.anchor.1) " (agency)" }
                    @for (id, name) in &tree.workspaces {
                        option value=(id) selected[shown == id] { (name) }
                    }
                }
                button type="submit" { "Show" }
            }
        }
    }
}

fn when(ms: i64) -> String {
    let t = clock::format_ms(clock::from_unix_ms(ms));
    format!("{} {} UTC", &t[..10], &t[11..16])
}

fn day(ms: i64) -> String {
    clock::format_ms(clock::from_unix_ms(ms))[..10].to_owned()
}

/// The page frame: language, viewport, the one stylesheet, a skip link.
pub(crate) fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex, nofollow";
                title { (title) " · humanhours" }
                link rel="stylesheet" href="/assets/dashboard.css";
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                (body)
            }
        }
    }
}

/// The sign-in form. `error`: what went wrong with the last attempt.
pub(crate) fn sign_in(csrf: &str, error: Option<&str>, session_hours: u64) -> Markup {
    layout(
        "Sign in",
        html! {
            header.top { p.brand { "humanhours" } }
            main #main .narrow {
                h1 { "Sign in to the dashboard" }
                @if let Some(e) = error {
                    p.error role="alert" { (e) }
                }
                form method="post" action="/dashboard/sign-in" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="api_key" { "API key" }
                    input #api_key type="password" name="api_key" required
                        autocomplete="off" spellcheck="false" autocapitalize="off"
                        aria-describedby="api_key_help" placeholder="hh_live_…";
                    p #api_key_help .help {
                        "Paste an API key of your organisation. It is checked once and not kept: "
                        "your browser gets a session of " (session_hours) " hours instead."
                    }
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// An error page: a heading and what to do.
pub(crate) fn error_page(title: &str, message: &str, link: Option<(&str, &str)>) -> Markup {
    layout(
        title,
        html! {
            header.top { p.brand { "humanhours" } }
            main #main .narrow {
                h1 { (title) }
                p { (message) }
                @if let Some((href, text)) = link {
                    p { a href=(href) { (text) } }
                }
            }
        },
    )
}

/// The overview of one org. `base`: the page's own path (`/dashboard` or `/share/<token>`).
pub(crate) fn overview(o: &Overview, base: &str, viewer: &Viewer) -> Markup {
    let cur = o.org.currency.as_str();
    let s = &o.summary;
    let t = &s.totals;
    let title = format!("{}: overview", o.org.name);
    layout(
        &title,
        html! {
            @match viewer {
                Viewer::Session(nav) => { (session_header(nav, Page::Overview, base)) }
                Viewer::Share { .. } => {
                    header.top {
                        p.brand { "humanhours" }
                        p.org { (o.org.name) " " span.badge { (o.org.plan.as_str()) " plan" } }
                        p.readonly { "Read-only shared view" }
                    }
                }
            }
            main #main {
                h1 { (o.org.name) ": what the agents saved" }
                @if let Viewer::Share { expires_at, label } = viewer {
                    p.note {
                        @if let Some(l) = label { (l) ". " }
                        @match expires_at {
                            Some(e) => { "This link works until " (when(*e)) "." }
                            None => { "This link does not expire." }
                        }
                    }
                }
                p.range {
                    "From " time datetime=(clock::format_ms(clock::from_unix_ms(s.range.from))) { (when(s.range.from)) }
                    " to " time datetime=(clock::format_ms(clock::from_unix_ms(s.range.to))) { (when(s.range.to)) }
                    " (" (o.scope.tz_name) " days)"
                }
                nav.periods aria-label="Period" {
                    ul {
                        @for (p, label) in PERIODS {
                            li {
                                a href={ (base) "?" (o.query.with_period(Some(p))) }
                                    aria-current=[o.is_period(p).then_some("page")] { (label) }
                            }
                        }
                    }
                }
                @if o.query.agent_id.is_some() || o.query.task_type.is_some() {
                    p.filters {
                        "Showing only "
                        @if let Some(a) = &o.query.agent_id { "agent " strong { (a) } " " }
                        @if let Some(k) = &o.query.task_type { "task type " strong { (k) } " " }
                        "· " a href={ (base) "?" ({ let mut q = o.query.clone(); q.agent_id = None; q.task_type = None; q.with_period(None) }) } { "clear the filter" }
                    }
                }
                section aria-labelledby="h-figures" {
                    h2 #h-figures .visually-hidden { "Headline figures" }
                    dl.kpis {
                        div.kpi {
                            dt { "Hours saved" }
                            dd data-metric="hours_saved" data-value=(exact(hours(t.hours_saved_milli))) { (hours_shown(hours(t.hours_saved_milli))) " h" }
                        }
                        div.kpi {
                            dt { "Money saved" }
                            dd data-metric="cost_saved" data-value=(exact(money(t.cost_saved_cents))) { (fmt_money(money(t.cost_saved_cents), cur)) }
                        }
                        div.kpi {
                            dt { "FTE equivalent " span.unit { "(people at 176 h a month)" } }
                            @match s.fte_equivalent {
                                Some(fte) => dd data-metric="fte_equivalent" data-value=(exact(fte)) { (number(fte)) },
                                None => dd data-metric="fte_equivalent" data-value="" title="FTE is a monthly rate; it is given for ranges of a day or more" { "—" },
                            }
                        }
                        div.kpi {
                            dt { "Events" }
                            dd data-metric="events" data-value=(t.events) { (count(t.events)) }
                        }
                    }
                    p.secondary {
                        "Agent cost "
                        span data-metric="agent_cost" data-value=(agent_cost(t).map(exact).unwrap_or_default()) {
                            (agent_cost(t).map(|c| fmt_money(c, cur)).unwrap_or_else(|| "unknown".into()))
                        }
                        " · Net saved "
                        span data-metric="net_saved" data-value=(exact(net(t))) { (fmt_money(net(t), cur)) }
                        @let without = t.events_without_cost();
                        @if without > 0 {
                            " "
                            span data-metric="events_without_cost" data-value=(without) {
                                "(" (count(without)) " of " (count(t.events)) " events have no known agent cost; net counts them at 0)"
                            }
                        }
                        " · FTE: hours saved ÷ 176 working hours per 30 days."
                    }
                }
                section aria-labelledby="h-trend" {
                    h2 #h-trend { "Daily trend" }
                    div.charts {
                        (trend_chart("hours", "Hours saved per day", &s.trend, |x| i128::from(x.hours_saved_milli), &|v| format!("{} h", hours_shown(hours(v))), &|v| format!("{} h", hours_shown(hours(v)))))
                        (trend_chart("money", &format!("Money saved per day ({cur})"), &s.trend, |x| x.cost_saved_cents, &|v| fmt_money(money(v), cur), &|v| format!("{}{}", currency_sign(cur), count(v / 100))))
                    }
                    details {
                        summary { "The daily figures as a table" }
                        (sums_table("Day", &s.trend.iter().map(|(d, x)| (Some(d.clone()), *x)).collect::<Vec<_>>(), cur, None, usize::MAX))
                    }
                }
                section aria-labelledby="h-breakdowns" {
                    h2 #h-breakdowns { "Breakdowns" }
                    div.breakdown-grid {
                    (breakdown("outcome", "By outcome", &s.by_outcome.iter().map(|(o, x)| (Some((*o).to_owned()), *x)).collect::<Vec<_>>(), cur, None))
                    @match &o.breakdowns {
                        Some(b) => {
                            (breakdown("agent", "By agent", &b.agent, cur, Some((base, o, "agent_id"))))
                            (breakdown("task_type", "By task type", &b.task_type, cur, Some((base, o, "task_type"))))
                            (breakdown("model", "By model", &b.model, cur, None))
                        }
                        None => {
                            p.note { "Breakdowns by agent, task type and model are reports of the Pro and Enterprise plans; this organisation is on the free plan." }
                        }
                    }
                    }
                }
                section aria-labelledby="h-agents" {
                    h2 #h-agents { "Agents and their hourly rates" }
                    (agents_table(o, cur))
                }
                section aria-labelledby="h-task-types" {
                    h2 #h-task-types { "Task types in use" }
                    (task_types_table(o))
                }
                section aria-labelledby="h-usage" {
                    h2 #h-usage { "Usage this month" }
                    (usage(o))
                }
                p.download {
                    a href={ (base) "/export.csv?" (o.query.with_period(None)) } download { "Download this view as CSV" }
                }
            }
            footer {
                p { "Figures are the exact sums of the values frozen on each event, as the API reports them. Hourly rates and baselines that changed later do not rewrite past events." }
            }
        },
    )
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (an axis' top).
fn nice_ceil(v: i128) -> i128 {
    if v <= 0 {
        return 1;
    }
    let mut p: i128 = 1;
    while p.saturating_mul(10) <= v {
        p = p.saturating_mul(10);
    }
    for m in [1, 2, 5, 10] {
        if m * p >= v {
            return m * p;
        }
    }
    v
}

/// A daily bar chart: bars in SVG (stretched to the width), axis labels in HTML so they stay
/// legible at every width.
fn trend_chart(
    id: &str,
    title: &str,
    days: &[(String, Sums)],
    value: impl Fn(&Sums) -> i128,
    fmt: &dyn Fn(i128) -> String,
    axis: &dyn Fn(i128) -> String,
) -> Markup {
    let n = days.len().max(1) as i64;
    let max_v = days.iter().map(|(_, s)| value(s)).max().unwrap_or(0);
    let top = nice_ceil(max_v);
    let best = days.iter().max_by_key(|(_, s)| value(s));
    let desc = match (days.first(), days.last(), best) {
        (Some((a, _)), Some((b, _)), Some((d, s))) if max_v > 0 => format!(
            "{title}, {a} to {b}: highest {} on {d}. The table below lists every day.",
            fmt(value(s))
        ),
        _ => format!("{title}: no events in this period."),
    };
    let w = n * 10;
    html! {
        figure.chart aria-labelledby={ "cap-" (id) } {
            figcaption id={ "cap-" (id) } { (title) }
            div.plot {
                div.yaxis aria-hidden="true" {
                    span { (axis(top)) } span { (axis(top / 2)) } span { "0" }
                }
                svg.bars role="img" aria-label=(desc) viewBox={ "0 0 " (w) " 100" }
                    preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg" {
                    line.grid x1="0" y1="0.5" x2=(w) y2="0.5" vector-effect="non-scaling-stroke" {}
                    line.grid x1="0" y1="50" x2=(w) y2="50" vector-effect="non-scaling-stroke" {}
                    line.axis x1="0" y1="100" x2=(w) y2="100" vector-effect="non-scaling-stroke" {}
                    @for (i, (d, s)) in days.iter().enumerate() {
                        @let v = value(s);
                        @let h = if top > 0 { (v as f64 / top as f64 * 100.0).clamp(0.0, 100.0) } else { 0.0 };
                        rect class={ "bar-" (id) } x=(i as i64 * 10 + 1) y=(format!("{:.2}", 100.0 - h)) width="8" height=(format!("{h:.2}")) {
                            title { (d) ": " (fmt(v)) }
                        }
                    }
                }
            }
            div.xaxis aria-hidden="true" {
                span { (days.first().map(|(d, _)| d.as_str()).unwrap_or("")) }
                span { (days.last().map(|(d, _)| d.as_str()).unwrap_or("")) }
            }
        }
    }
}

/// A group's sums as the five number cells of a row: events, hours saved, money saved, agent
/// cost ("–" when none is known), net saved.
pub(crate) fn sums_cells(s: &Sums, cur: &str) -> Markup {
    html! {
        td.num { (count(s.events)) }
        td.num { (hours_shown(hours(s.hours_saved_milli))) }
        td.num { (fmt_money(money(s.cost_saved_cents), cur)) }
        td.num { (agent_cost(s).map(|c| fmt_money(c, cur)).unwrap_or_else(|| "–".into())) }
        td.num { (fmt_money(net(s), cur)) }
    }
}

/// A table of sums, one row per group, `limit` rows at most. `link`: makes each group a link
/// that filters the view to it.
fn sums_table(
    head: &str,
    rows: &[Row],
    cur: &str,
    link: Option<(&str, &Overview, &str)>,
    limit: usize,
) -> Markup {
    html! {
        div.table-wrap {
            table {
                thead {
                    tr {
                        th scope="col" { (head) }
                        th.num scope="col" { "Events" }
                        th.num scope="col" { "Hours saved" }
                        th.num scope="col" { "Money saved" }
                        th.num scope="col" { "Agent cost" }
                        th.num scope="col" { "Net saved" }
                    }
                }
                tbody {
                    @for (k, s) in rows.iter().take(limit) {
                        tr {
                            th scope="row" {
                                @match (k, link) {
                                    (Some(k), Some((base, o, param))) => {
                                        a href={ (base) "?" (o.query.with_filter(param, Some(k))) } { (group_label(k, link)) }
                                    }
                                    (Some(k), None) => { (k) }
                                    (None, _) => { em { "none" } }
                                }
                            }
                            (sums_cells(s, cur))
                        }
                    }
                    @if rows.is_empty() {
                        tr { td colspan="6" { "No events in this period." } }
                    }
                }
            }
        }
    }
}

/// A group as people read it: a task type by its display name, its key beside it (the key is
/// what the API and the filters take); anything else as it is.
fn group_label(k: &str, link: Option<(&str, &Overview, &str)>) -> Markup {
    let name = link
        .filter(|(_, _, param)| *param == "task_type")
        .and_then(|(_, o, _)| o.task_types.iter().find(|t| t.key == k))
        .and_then(|t| t.entry.as_ref())
        .map(|e| e.display_name.as_str());
    html! {
        @match name {
            Some(n) => { (n) " " span.key { (k) } }
            None => { (k) }
        }
    }
}

/// One breakdown: bars of hours saved for the largest groups, then the table.
fn breakdown(
    id: &str,
    title: &str,
    rows: &[Row],
    cur: &str,
    link: Option<(&str, &Overview, &str)>,
) -> Markup {
    let max_v = rows
        .iter()
        .map(|(_, s)| s.hours_saved_milli)
        .max()
        .unwrap_or(0)
        .max(1);
    let head = match id {
        "agent" => "Agent",
        "task_type" => "Task type",
        "model" => "Model",
        _ => "Outcome",
    };
    html! {
        div.breakdown id={ "breakdown-" (id) } {
            h3 { (title) }
            @if rows.iter().any(|(_, s)| s.events > 0) {
                figure.hchart aria-labelledby={ "cap-b-" (id) } {
                    figcaption id={ "cap-b-" (id) } {
                        "Hours saved " (title.to_lowercase())
                        @if rows.len() > CHART_ROWS { " (largest " (CHART_ROWS) ")" }
                    }
                    ol.hbars {
                        @for (k, s) in rows.iter().take(CHART_ROWS) {
                            li {
                                span.hb-label { @match k { Some(k) => (group_label(k, link)), None => em { "none" } } }
                                svg.hb viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" focusable="false" xmlns="http://www.w3.org/2000/svg" {
                                    rect x="0" y="0" height="10" width=(format!("{:.2}", (s.hours_saved_milli.max(0) as f64 / max_v as f64 * 100.0))) {}
                                }
                                span.hb-val { (hours_shown(hours(s.hours_saved_milli))) " h" }
                            }
                        }
                    }
                }
            }
            (sums_table(head, rows, cur, link, TABLE_ROWS))
            @if rows.len() > TABLE_ROWS {
                p.note { "The " (TABLE_ROWS) " largest of " (rows.len()) " are listed; the CSV download has them all." }
            }
        }
    }
}

fn agents_table(o: &Overview, cur: &str) -> Markup {
    let sign = currency_sign(cur);
    html! {
        @if o.agents.is_empty() {
            p { "No agents yet: an agent appears with its first event." }
        } @else {
            p.note { "Rates apply to events tracked from now on; the figures are the agents' last 30 days." }
            div.table-wrap {
                table {
                    thead {
                        tr {
                            th scope="col" { "Agent" }
                            th.num scope="col" { "Hourly rate" }
                            th scope="col" { "Rate from" }
                            th scope="col" { "Last seen" }
                            th.num scope="col" { "Events (30 days)" }
                            th.num scope="col" { "Hours saved (30 days)" }
                            th.num scope="col" { "Money saved (30 days)" }
                        }
                    }
                    tbody {
                        @for a in o.agents.iter().take(200) {
                            tr {
                                th scope="row" { (a.row.agent_id) }
                                td.num { (sign) (number(app::wire::JsonDecimal(a.effective_rate.get()))) }
                                td { @if a.own_rate.is_some() { "the agent's own rate" } @else { "the organisation's default" } }
                                td.date { (day(a.row.last_seen_at)) }
                                td.num { (count(a.last_30_days.events)) }
                                td.num { (hours_shown(hours(a.last_30_days.hours_saved_milli))) }
                                td.num { (fmt_money(money(a.last_30_days.cost_saved_cents), cur)) }
                            }
                        }
                    }
                }
            }
            @if o.agents.len() > 200 {
                p.note { "The first 200 of " (o.agents.len()) " agents are listed; GET /api/v1/agents lists them all." }
            }
        }
    }
}

/// Where a built-in baseline comes from, in a few words; the catalogue's full note is behind
/// it (`details`).
fn provenance(note: &str) -> &'static str {
    if note.starts_with("CONFIRMED") {
        "HumanHours' published baseline"
    } else if note.starts_with("DERIVED") {
        "estimated from reading and writing speeds"
    } else {
        "a published study or benchmark"
    }
}

fn source_label(s: &str) -> &str {
    match s {
        "builtin" => "built-in catalogue",
        "override" => "this organisation's override",
        "custom" => "this organisation's custom type",
        other => other,
    }
}

fn task_types_table(o: &Overview) -> Markup {
    html! {
        @if o.task_types.is_empty() {
            p { "No events in this period." }
        } @else {
            div.table-wrap {
                table {
                    thead {
                        tr {
                            th scope="col" { "Task type" }
                            th scope="col" { "Name" }
                            th.num scope="col" { "Baseline (minutes)" }
                            th scope="col" { "Baseline from" }
                            th scope="col" { "Source of the baseline" }
                            th.num scope="col" { "Events" }
                        }
                    }
                    tbody {
                        @for t in &o.task_types {
                            tr {
                                th scope="row" { (t.key) }
                                @match &t.entry {
                                    Some(e) => {
                                        td { (e.display_name) }
                                        td.num { (e.effective_baseline_minutes.map(|n| n.0.normalize().to_string()).unwrap_or_default()) }
                                        td { (source_label(e.effective_baseline_source)) }
                                        td {
                                            @if let Some(reason) = e.override_.as_ref().and_then(|o| o.reason.as_deref()) {
                                                "Override: " (reason)
                                            } @else if let Some(note) = e.baseline_source.as_deref() {
                                                details.provenance {
                                                    summary { (provenance(note)) }
                                                    p { (note) }
                                                }
                                            }
                                        }
                                    }
                                    None => {
                                        td { em { "not in the catalogue" } }
                                        td.num { "–" }
                                        td { "sent with each event, or the fallback" }
                                        td {}
                                    }
                                }
                                td.num { (count(t.events)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn usage(o: &Overview) -> Markup {
    let u = &o.usage;
    let base = u.event_cap.or(u.events_included);
    html! {
        p {
            "Billing month " (u.month) " (UTC, by time of receipt): "
            strong data-metric="events_this_month" data-value=(u.events_this_month) { (count(u.events_this_month)) }
            " events"
            @if let Some(inc) = u.events_included {
                " of " (count(inc as i64)) " included (" (percent(u.events_this_month, inc)) ")"
            }
            "."
        }
        @if let Some(b) = base {
            @let w = if b > 0 { (u.events_this_month as f64 / b as f64 * 100.0).clamp(0.0, 100.0) } else { 100.0 };
            svg.meter role="img" aria-label={ (percent(u.events_this_month, b)) " of " (count(b as i64)) " events used" }
                viewBox="0 0 100 6" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg" {
                rect.track x="0" y="0" width="100" height="6" {}
                rect.used x="0" y="0" width=(format!("{w:.2}")) height="6" {}
            }
        }
        ul.facts {
            li { "Plan: " (u.plan.as_str()) }
            li { "Overage events: " (count(u.overage_events)) }
            li { "Events are refused at: " @match u.event_cap { Some(c) => (count(c as i64)), None => "never (no cap)" } }
            li { "Rate limit: " (count(i64::from(u.rate_limit_per_second))) " requests per second per key" }
            li { "Month: " (day(clock::unix_ms(u.period_start))) " to " (day(clock::unix_ms(u.period_end))) " (end exclusive)" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceil(0), 1);
        assert_eq!(nice_ceil(1), 1);
        assert_eq!(nice_ceil(3), 5);
        assert_eq!(nice_ceil(12_345), 20_000);
        assert_eq!(nice_ceil(50_000), 50_000);
        assert_eq!(nice_ceil(50_001), 100_000);
    }

    #[test]
    fn values_are_escaped() {
        let page = error_page("<script>alert(1)</script>", "a & b \"c\"", None).into_string();
        assert!(!page.contains("<script>alert(1)"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("a &amp; b &quot;c&quot;"));
        assert!(page.starts_with("<!DOCTYPE html><html lang=\"en\">"));
    }
}
