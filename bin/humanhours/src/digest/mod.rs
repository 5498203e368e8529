//! Digest emails: the HTML and plain-text parts rendered from an `app::digests::Digest` (no
//! figure is computed here: each is printed from the digest, which the read side composed),
//! and the SMTP client that sends them (`mail.rs`).
//!
//! The HTML is for mail clients: tables and inline styles only (no stylesheet, no script, no
//! image, nothing fetched), one column at most 600 px wide that narrows to the screen, so it
//! reads at 375 px. Every value (org, agent and task-type names are user input) is escaped by
//! maud.

pub mod mail;

use app::digests::{Digest, DigestTotals, FigureChange};
use app::wire::JsonDecimal;
use maud::{html, Markup, DOCTYPE};

use crate::http::dashboard::format::{count, money, number};

/// `2026-11-23 to 2026-11-29 (week 2026-W48, Europe/Berlin)`: the local days the week covers.
fn dates(d: &Digest) -> String {
    format!(
        "{} to {} (week {}, {})",
        d.period.first_day, d.period.last_day, d.period.label, d.period.tz
    )
}

fn signed(v: JsonDecimal, f: impl Fn(JsonDecimal) -> String) -> String {
    if v.0.is_sign_negative() && !v.0.is_zero() {
        format!("−{}", f(JsonDecimal(v.0.abs())))
    } else {
        format!("+{}", f(v))
    }
}

/// `+€12.30 (+25.0%)`, `−3 (−10.0%)`, `+5 (none the week before)`, `no change`.
fn change_text(c: &FigureChange, f: impl Fn(JsonDecimal) -> String) -> String {
    if c.absolute.0.is_zero() {
        return "no change".into();
    }
    let pct = match c.percent {
        Some(p) => format!("{}%", signed(p, |x| format!("{:.1}", x.0))),
        None => "none the week before".into(),
    };
    format!("{} ({pct})", signed(c.absolute, f))
}

/// The subject line.
pub fn subject(d: &Digest) -> String {
    format!(
        "{}: {} net saved in {} (HumanHours weekly digest)",
        d.org_name,
        money(d.totals.sums.net_saved, &d.currency),
        d.period.label
    )
}

struct Tile {
    label: &'static str,
    value: String,
    change: String,
}

fn tiles(d: &Digest) -> Vec<Tile> {
    let cur = d.currency.as_str();
    let m = |v: JsonDecimal| money(v, cur);
    let t = &d.totals;
    let c = &d.change;
    vec![
        Tile {
            label: "Net saved",
            value: m(t.sums.net_saved),
            change: change_text(&c.net_saved, m),
        },
        Tile {
            label: "Hours saved",
            value: number(t.sums.hours_saved),
            change: change_text(&c.hours_saved, number),
        },
        Tile {
            label: "Cost saved",
            value: m(t.sums.cost_saved),
            change: change_text(&c.cost_saved, m),
        },
        Tile {
            label: "Agent cost",
            value: t.sums.agent_cost.map_or("unknown".into(), m),
            change: change_text(&c.agent_cost, m),
        },
        Tile {
            label: "Tasks",
            value: count(t.sums.events),
            change: change_text(&c.events, number),
        },
        Tile {
            label: "FTE equivalent",
            value: t.fte_equivalent.map_or("–".into(), number),
            change: change_text(&c.fte_equivalent, number),
        },
    ]
}

fn outcomes(t: &DigestTotals) -> [(&'static str, i64); 3] {
    [
        ("succeeded", t.by_outcome.success.events),
        ("failed", t.by_outcome.failure.events),
        ("need review", t.by_outcome.needs_review.events),
    ]
}

const FONT: &str = "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;";
const CELL: &str = "padding:8px 6px;border-bottom:1px solid #e3e6ea;font-size:14px;color:#1d232a;";
const HEAD: &str = "padding:8px 6px;border-bottom:2px solid #c9ced4;font-size:12px;color:#4a545e;text-align:left;font-weight:600;";

/// The HTML part.
pub fn html(d: &Digest) -> String {
    let cur = d.currency.as_str();
    let tiles = tiles(d);
    let body: Markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (subject(d)) }
            }
            body style={ "margin:0;padding:0;background:#f3f5f7;" (FONT) } {
                table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f3f5f7;" {
                    tr { td align="center" style="padding:16px 8px;" {
                        table role="presentation" width="100%" cellpadding="0" cellspacing="0"
                            style="max-width:600px;width:100%;background:#ffffff;border-radius:8px;" {
                            tr { td style="padding:20px 16px 8px 16px;" {
                                p style="margin:0;font-size:13px;color:#4a545e;" { "HumanHours weekly digest" }
                                h1 style="margin:4px 0 0 0;font-size:22px;line-height:1.3;color:#1d232a;word-break:break-word;" { (d.org_name) }
                                p style="margin:4px 0 0 0;font-size:14px;color:#4a545e;" { (dates(d)) }
                            } }
                            tr { td style="padding:8px 10px;" {
                                table role="presentation" width="100%" cellpadding="0" cellspacing="0" {
                                    @for pair in tiles.chunks(2) {
                                        tr {
                                            @for t in pair {
                                                td width="50%" valign="top" style="padding:6px;" {
                                                    div style="border:1px solid #e3e6ea;border-radius:6px;padding:10px;" {
                                                        div style="font-size:12px;color:#4a545e;" { (t.label) }
                                                        div data-metric=(t.label) style="font-size:20px;font-weight:700;color:#1d232a;" { (t.value) }
                                                        div style="font-size:12px;color:#4a545e;word-break:break-word;" { (t.change) " vs the week before" }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            } }
                            tr { td style="padding:4px 16px;font-size:14px;color:#1d232a;" {
                                @for (i, (name, n)) in outcomes(&d.totals).iter().enumerate() {
                                    @if i > 0 { " · " }
                                    (count(*n)) " " (name)
                                }
                            } }
                            tr { td style="padding:16px 16px 4px 16px;" {
                                h2 style="margin:0 0 6px 0;font-size:16px;color:#1d232a;" { "Top agents by net saved" }
                                @if d.top_agents.is_empty() {
                                    p style="margin:0;font-size:14px;color:#4a545e;" { "No tasks were tracked this week." }
                                } @else {
                                    table width="100%" cellpadding="0" cellspacing="0" style="border-collapse:collapse;" {
                                        tr { th style=(HEAD) { "Agent" } th style={ (HEAD) "text-align:right;" } { "Tasks" } th style={ (HEAD) "text-align:right;" } { "Hours" } th style={ (HEAD) "text-align:right;" } { "Net saved" } }
                                        @for a in &d.top_agents {
                                            tr {
                                                td style={ (CELL) "word-break:break-all;" } { (a.agent_id.as_deref().unwrap_or("(none)")) }
                                                td style={ (CELL) "text-align:right;" } { (count(a.sums.events)) }
                                                td style={ (CELL) "text-align:right;" } { (number(a.sums.hours_saved)) }
                                                td style={ (CELL) "text-align:right;white-space:nowrap;" } { (money(a.sums.net_saved, cur)) }
                                            }
                                        }
                                    }
                                }
                            } }
                            tr { td style="padding:16px 16px 4px 16px;" {
                                h2 style="margin:0 0 6px 0;font-size:16px;color:#1d232a;" { "Top task types by hours saved" }
                                @if d.top_task_types.is_empty() {
                                    p style="margin:0;font-size:14px;color:#4a545e;" { "No tasks were tracked this week." }
                                } @else {
                                    table width="100%" cellpadding="0" cellspacing="0" style="border-collapse:collapse;" {
                                        tr { th style=(HEAD) { "Task type" } th style={ (HEAD) "text-align:right;" } { "Tasks" } th style={ (HEAD) "text-align:right;" } { "Hours" } th style={ (HEAD) "text-align:right;" } { "Cost saved" } }
                                        @for t in &d.top_task_types {
                                            tr {
                                                td style={ (CELL) "word-break:break-all;" } { (t.task_type.as_deref().unwrap_or("(none)")) }
                                                td style={ (CELL) "text-align:right;" } { (count(t.sums.events)) }
                                                td style={ (CELL) "text-align:right;" } { (number(t.sums.hours_saved)) }
                                                td style={ (CELL) "text-align:right;white-space:nowrap;" } { (money(t.sums.cost_saved, cur)) }
                                            }
                                        }
                                    }
                                }
                            } }
                            @if d.unpriced_events > 0 {
                                tr { td style="padding:16px 16px 0 16px;" {
                                    div style="border-left:4px solid #b35c00;background:#fff6ec;padding:10px;font-size:14px;color:#1d232a;" {
                                        strong { (count(d.unpriced_events)) " tasks used a model without a price" }
                                        " (their agent cost is unknown): "
                                        @for (i, u) in d.unpriced_models.iter().enumerate() {
                                            @if i > 0 { ", " }
                                            span style="word-break:break-all;" { (u.model) } " (" (count(u.events)) ")"
                                        }
                                        ". Add the prices with humanhours prices import."
                                    }
                                } }
                            }
                            tr { td style="padding:20px 16px;" {
                                a href=(d.dashboard_url) style="display:inline-block;background:#1f5fbf;color:#ffffff;text-decoration:none;font-size:15px;font-weight:600;padding:10px 16px;border-radius:6px;" { "Open the dashboard" }
                            } }
                            tr { td style="padding:0 16px 20px 16px;font-size:12px;color:#4a545e;" {
                                "Figures in " (cur) ", for the week in " (d.period.tz)
                                ". You get this digest because your address is on the digest list of "
                                (d.org_name) "; the org's admin changes the list."
                            } }
                        }
                    } }
                }
            }
        }
    };
    body.into_string()
}

/// The plain-text part: the same figures, line by line.
pub fn text(d: &Digest) -> String {
    use std::fmt::Write as _;
    let cur = d.currency.as_str();
    let mut out = String::new();
    let _ = writeln!(out, "HumanHours weekly digest: {}", d.org_name);
    let _ = writeln!(out, "{}", dates(d));
    let _ = writeln!(out);
    for t in tiles(d) {
        let _ = writeln!(
            out,
            "{}: {}  ({} vs the week before)",
            t.label, t.value, t.change
        );
    }
    let o = outcomes(&d.totals)
        .iter()
        .map(|(name, n)| format!("{} {name}", count(*n)))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(out, "Outcomes: {o}");
    let _ = writeln!(out);
    let _ = writeln!(out, "Top agents by net saved:");
    if d.top_agents.is_empty() {
        let _ = writeln!(out, "  No tasks were tracked this week.");
    }
    for a in &d.top_agents {
        let _ = writeln!(
            out,
            "  {}. {}: {} net saved, {} hours, {} tasks",
            a.rank,
            a.agent_id.as_deref().unwrap_or("(none)"),
            money(a.sums.net_saved, cur),
            number(a.sums.hours_saved),
            count(a.sums.events)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Top task types by hours saved:");
    if d.top_task_types.is_empty() {
        let _ = writeln!(out, "  No tasks were tracked this week.");
    }
    for t in &d.top_task_types {
        let _ = writeln!(
            out,
            "  {}: {} hours, {} cost saved, {} tasks",
            t.task_type.as_deref().unwrap_or("(none)"),
            number(t.sums.hours_saved),
            money(t.sums.cost_saved, cur),
            count(t.sums.events)
        );
    }
    if d.unpriced_events > 0 {
        let _ = writeln!(out);
        let models = d
            .unpriced_models
            .iter()
            .map(|u| format!("{} ({})", u.model, count(u.events)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "{} tasks used a model without a price (their agent cost is unknown): {models}. Add the prices with humanhours prices import.",
            count(d.unpriced_events)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Dashboard: {}", d.dashboard_url);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn ch(abs: i64, pct: Option<i64>) -> FigureChange {
        FigureChange {
            absolute: JsonDecimal(Decimal::new(abs, 2)),
            percent: pct.map(|p| JsonDecimal(Decimal::new(p, 1))),
        }
    }

    #[test]
    fn changes_read_as_people_write_them() {
        let m = |v: JsonDecimal| money(v, "EUR");
        assert_eq!(change_text(&ch(1230, Some(250)), m), "+€12.30 (+25.0%)");
        assert_eq!(change_text(&ch(-351, Some(-1000)), m), "−€3.51 (−100.0%)");
        assert_eq!(
            change_text(&ch(500, None), m),
            "+€5.00 (none the week before)"
        );
        assert_eq!(change_text(&ch(0, Some(0)), m), "no change");
        // A whole percentage still shows its one place.
        let whole = FigureChange {
            absolute: JsonDecimal(Decimal::ONE),
            percent: Some(JsonDecimal(Decimal::new(50, 0))),
        };
        assert_eq!(change_text(&whole, number), "+1 (+50.0%)");
    }
}
