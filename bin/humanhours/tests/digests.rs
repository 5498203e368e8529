//! Weekly digests (API.md §10) through the real server, a real SMTP server on 127.0.0.1
//! (`common/smtp.rs`) and a real webhook receiver: the email arrives once per recipient with
//! both parts, every figure equal to the summary and report routes' for the same range; a
//! second tick, a restart and a second instance send nothing more; a late start sends once;
//! an org in Tokyo gets it at 09:00 Tokyo time; a refused recipient does not hold the others;
//! the `weekly.digest` webhook is signed and carries the same figures. The clock is driven
//! (the scheduler's function is called with the instant), never slept on, except in the one
//! test of the schedule as shipped.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::Duration;

use app::digests::{self, TickReport};
use common::receiver::{assert_signed, Receiver};
use common::smtp::{Mail, SmtpServer};
use common::{test_config, TestApp};
use digests_rules::period::{latest_due, week_period, WeekPeriod, Zone};
use ratelimit::Plan;
use reqwest::Method;
use serde_json::{json, Value};

extern crate digests as digests_rules;

fn config(smtp: &SmtpServer) -> app::ServerConfig {
    let mut c = test_config();
    c.webhooks.allow_nets = webhooks::address::AllowNets::parse("127.0.0.1/32").unwrap();
    c.webhooks.poll_interval = Duration::from_millis(50);
    c.jobs.poll_interval = Duration::from_millis(50);
    c.jobs.digests.public_url = "https://roi.example.com".into();
    c.mail = Some(app::digests::MailSettings {
        smtp_url: smtp.url(),
        from: "HumanHours <digest@humanhours.test>".into(),
    });
    c
}

fn now_ms() -> i64 {
    app::clock::unix_ms(app::clock::now())
}

/// The test's week in `zone`: the one before the last week whose digest time has passed, so
/// its events are well within the 90 days `/track` accepts and its digest time is past.
fn test_week(zone: &Zone) -> WeekPeriod {
    let last = latest_due(now_ms(), zone).unwrap();
    week_period(last.week.previous().unwrap(), zone).unwrap()
}

fn rfc3339(ms: i64) -> String {
    app::clock::format_ms(app::clock::from_unix_ms(ms))
}

async fn call(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> common::Reply {
    app.send(
        method,
        path,
        Some(key),
        &[("Content-Type", "application/json")],
        body.map(|b| serde_json::to_vec(&b).unwrap()),
    )
    .await
}

const TASK_TYPES: [&str; 6] = [
    "email_classification",
    "ticket_routing",
    "invoice_processing",
    "code_review_pr",
    "meeting_summary_30min",
    "lead_enrichment",
];

/// Events of `week` (and a few of the week before) for the org behind `key`, with provided
/// costs, computed costs, an unpriced model and every outcome.
async fn track_week(app: &TestApp, key: &str, p: &WeekPeriod, before: &WeekPeriod) {
    let hour = 3_600_000;
    let mut items = Vec::new();
    for i in 0..40_i64 {
        let task_type = TASK_TYPES[(i % 6) as usize];
        let outcome = ["success", "success", "failure", "needs_review"][(i % 4) as usize];
        let mut e = json!({
            "agent_id": format!("agent-{}", i % 7),
            "task_type": task_type,
            "outcome": outcome,
            "agent_duration_seconds": 3 + i,
            "occurred_at": rfc3339(p.from_ms + (i * 4 + 1) * hour + 17),
        });
        match i % 5 {
            0 => e["agent_cost"] = json!(format!("0.0{}", i % 10).parse::<f64>().unwrap()),
            1 => {
                e["model"] = json!("openai/gpt-4o-mini");
                e["tokens_in"] = json!(1200 + i);
                e["tokens_out"] = json!(300);
            }
            2 => {
                e["model"] = json!("acme/unpriced-model");
                e["tokens_in"] = json!(1000);
                e["tokens_out"] = json!(100);
            }
            _ => {}
        }
        items.push(e);
    }
    // The week before, for the change figures; one event on each edge of the week (the last
    // millisecond of the week before, the first of the week after), which must not count.
    for i in 0..9_i64 {
        items.push(json!({
            "agent_id": "agent-1",
            "task_type": "ticket_routing",
            "outcome": "success",
            "agent_duration_seconds": 5,
            "agent_cost": 0.02,
            "occurred_at": rfc3339(before.from_ms + i * 10 * hour),
        }));
    }
    items.push(
        json!({"agent_id": "edge", "task_type": "code_review_pr", "outcome": "success",
        "agent_duration_seconds": 1, "occurred_at": rfc3339(p.from_ms - 1)}),
    );
    items.push(
        json!({"agent_id": "edge", "task_type": "code_review_pr", "outcome": "success",
        "agent_duration_seconds": 1, "occurred_at": rfc3339(p.to_ms)}),
    );
    let r = call(
        app,
        key,
        Method::POST,
        "/api/v1/track/batch",
        Some(json!({"events": items})),
    )
    .await;
    assert!(r.status < 300, "{}", r.text);
}

async fn tick(app: &TestApp, now: i64) -> TickReport {
    let (store, cfg, state) = (
        app.store.clone(),
        app.state.config.jobs.digests.clone(),
        app.state.clone(),
    );
    tokio::task::spawn_blocking(move || {
        digests::tick(&store, &cfg, &state.metrics.digests, now).unwrap()
    })
    .await
    .unwrap()
}

fn range(p: &WeekPeriod, tz: &str) -> String {
    format!(
        "from={}&to={}&tz={tz}",
        rfc3339(p.from_ms),
        rfc3339(p.to_ms)
    )
}

/// The digest's figures are the API's for the same range, value for value.
async fn assert_figures(
    app: &TestApp,
    key: &str,
    data: &Value,
    p: &WeekPeriod,
    before: &WeekPeriod,
    tz: &str,
) {
    let fields = [
        "events",
        "hours_saved",
        "cost_saved",
        "agent_cost",
        "net_saved",
        "events_without_cost",
        "fte_equivalent",
        "by_outcome",
    ];
    for (totals, period) in [("totals", p), ("previous", before)] {
        let s = call(
            app,
            key,
            Method::GET,
            &format!("/api/v1/summary?{}", range(period, tz)),
            None,
        )
        .await;
        assert_eq!(s.status, 200, "{}", s.text);
        for f in fields {
            assert_eq!(data[totals][f], s.body[f], "{totals}.{f}");
        }
    }
    let lb = call(
        app,
        key,
        Method::GET,
        &format!(
            "/api/v1/reports/leaderboard?metric=net_saved&top=5&{}",
            range(p, tz)
        ),
        None,
    )
    .await;
    assert_eq!(lb.status, 200, "{}", lb.text);
    assert_eq!(data["top_agents"], lb.body["rows"]);
    let ts = call(
        app,
        key,
        Method::GET,
        &format!(
            "/api/v1/reports/time-saved?group_by=task_type&top=5&{}",
            range(p, tz)
        ),
        None,
    )
    .await;
    assert_eq!(ts.status, 200, "{}", ts.text);
    let rows = ts.body["rows"].as_array().unwrap();
    let mine = data["top_task_types"].as_array().unwrap();
    assert_eq!(rows.len(), mine.len());
    for (a, b) in rows.iter().zip(mine) {
        for f in ["task_type", "events", "hours_saved", "cost_saved"] {
            assert_eq!(a[f], b[f], "task type {f}");
        }
    }
    assert_eq!(data["period"]["from"], json!(rfc3339(p.from_ms)));
    assert_eq!(data["period"]["to"], json!(rfc3339(p.to_ms)));
}

/// Money as the email prints it: `€1,234.50`.
fn euros(v: &Value) -> String {
    let d: rust_decimal::Decimal = v.to_string().parse().unwrap();
    let d = d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.2}", d.abs());
    let (int, frac) = text.split_once('.').unwrap();
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!(
        "{}€{grouped}.{frac}",
        if d.is_sign_negative() { "-" } else { "" }
    )
}

/// Both parts are there, and each shows the week's figures.
fn assert_parts(mail: &Mail, data: &Value) {
    let raw = mail.raw();
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(raw.contains("text/plain"), "no text part");
    assert!(raw.contains("text/html"), "no html part");
    let m = mail.parsed();
    assert_eq!(m.text_body_count(), 1);
    assert_eq!(m.html_body_count(), 1);
    let text = m.body_text(0).unwrap().into_owned();
    let html = m.body_html(0).unwrap().into_owned();
    let t = &data["totals"];
    for want in [
        format!("Net saved: {}", euros(&t["net_saved"])),
        format!("Cost saved: {}", euros(&t["cost_saved"])),
        format!("Agent cost: {}", euros(&t["agent_cost"])),
        format!("Hours saved: {}", t["hours_saved"]),
        format!("Tasks: {}", t["events"]),
        format!("FTE equivalent: {}", t["fte_equivalent"]),
    ] {
        assert!(text.contains(&want), "text part lacks '{want}':\n{text}");
    }
    for want in [
        euros(&t["net_saved"]),
        euros(&t["cost_saved"]),
        t["hours_saved"].to_string(),
    ] {
        assert!(html.contains(&want), "html part lacks {want}");
    }
    for a in data["top_agents"].as_array().unwrap() {
        let line = format!(
            "{}. {}: {} net saved",
            a["rank"],
            a["agent_id"].as_str().unwrap(),
            euros(&a["net_saved"])
        );
        assert!(text.contains(&line), "text part lacks '{line}'");
        assert!(html.contains(a["agent_id"].as_str().unwrap()));
    }
    assert!(text.contains("acme/unpriced-model (8)"), "{text}");
    assert!(html.contains("https://roi.example.com/dashboard"));
    // Nothing fetched: no image, no script, no stylesheet link.
    for bad in ["<img", "<script", "<link", "url("] {
        assert!(!html.contains(bad), "html has {bad}");
    }
}

#[actix_web::test]
async fn the_digest_arrives_once_by_email_and_webhook_with_the_apis_figures() {
    let smtp = SmtpServer::start().await;
    let receiver = Receiver::start(200).await;
    let app = TestApp::spawn_with(config(&smtp)).await;
    let (org, key) = app.org(Plan::Pro);
    let r = call(
        &app,
        &key,
        Method::PATCH,
        "/api/v1/org",
        Some(json!({
            "digest_recipients": ["cfo@example.com", "Head.Of.Support@Example.com"]
        })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["digest_recipients"],
        json!(["cfo@example.com", "Head.Of.Support@example.com"])
    );
    let hook = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({
            "url": receiver.url("/digest"), "event_types": ["weekly.digest"]
        })),
    )
    .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let secret = hook.body["secret"].as_str().unwrap().to_owned();

    let utc = Zone::utc();
    let p = test_week(&utc);
    let before = p.previous(&utc).unwrap();
    track_week(&app, &key, &p, &before).await;

    // A minute before its time nothing is due (the week before is past its catch-up).
    assert_eq!(
        tick(&app, p.send_at_ms - 60_000).await,
        TickReport::default()
    );
    let first = tick(&app, p.send_at_ms).await;
    assert_eq!(first.claimed, vec![(org.clone(), p.week.label())]);

    let mails = smtp.wait_for(2, 20).await;
    assert_eq!(mails.len(), 2, "one email per recipient");
    let mut to: Vec<&str> = mails.iter().map(|m| m.to[0].as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["Head.Of.Support@example.com", "cfo@example.com"]);
    assert_eq!(mails[0].from, "digest@humanhours.test");
    let hooks = receiver.wait_for(1, 20).await;
    assert_eq!(hooks.len(), 1);
    assert_signed(&hooks[0], &secret);
    let body = hooks[0].json();
    assert_eq!(body["type"], "weekly.digest");
    assert_eq!(body["org_id"], json!(org));
    let data = &body["data"];
    assert_figures(&app, &key, data, &p, &before, "UTC").await;
    assert_eq!(data["unpriced_events"], 8);
    assert_eq!(
        data["unpriced_models"],
        json!([{"model": "acme/unpriced-model", "events": 8}])
    );
    // 40 this week; 9 the week before and the edge event in its last millisecond.
    assert_eq!(data["change"]["events"]["absolute"], json!(40 - 10));
    assert_eq!(data["previous"]["events"], json!(10));
    for m in &mails {
        assert_parts(m, data);
        assert!(m.parsed().subject().unwrap().contains(&p.week.label()));
    }

    // Again, later the same week, on a restarted instance, and on a second one at the same
    // instant: nothing more.
    assert_eq!(tick(&app, p.send_at_ms).await, TickReport::default());
    assert_eq!(
        tick(&app, p.send_at_ms + 3 * 86_400_000).await,
        TickReport::default()
    );
    let second = {
        let db = store::DbConfig::new(app.db_url.clone());
        let store = std::sync::Arc::new(store::Store::open(&db).unwrap());
        let cfg = app.state.config.jobs.digests.clone();
        let at = p.send_at_ms + 60_000;
        tokio::task::spawn_blocking(move || {
            digests::tick(&store, &cfg, &Default::default(), at).unwrap()
        })
        .await
        .unwrap()
    };
    assert_eq!(second, TickReport::default());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.mails().len(), 2);
    assert_eq!(receiver.count(), 1);
    let emails = app.store.digest_emails(&org, "weekly", p.from_ms).unwrap();
    assert!(
        emails.iter().all(|e| e.status == "sent" && e.attempts == 1),
        "{emails:?}"
    );
    let rec = app
        .store
        .get_digest(&org, "weekly", p.from_ms)
        .unwrap()
        .unwrap();
    assert!(rec.finished_at.is_some());
    let metrics = app
        .send(Method::GET, "/metrics", None, &[], None)
        .await
        .text;
    assert!(
        metrics.contains("humanhours_digest_emails_total{outcome=\"sent\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("humanhours_digests_claimed_total 1"));
    assert!(metrics.contains("humanhours_digest_emails_pending 0"));
}

#[actix_web::test]
async fn concurrent_ticks_on_two_instances_claim_each_digest_once() {
    // On PostgreSQL the two stores are two instances sharing the database; on SQLite, two
    // processes' connections to one file.
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(config(&smtp)).await;
    let mut orgs = Vec::new();
    for _ in 0..6 {
        let (org, key) = app.org(Plan::Pro);
        let r = call(
            &app,
            &key,
            Method::PATCH,
            "/api/v1/org",
            Some(json!({"digest_recipients": ["ops@example.com"]})),
        )
        .await;
        assert_eq!(r.status, 200);
        orgs.push(org);
    }
    let p = test_week(&Zone::utc());
    let mut handles = Vec::new();
    for _ in 0..4 {
        let db = store::DbConfig::new(app.db_url.clone());
        let cfg = app.state.config.jobs.digests.clone();
        handles.push(tokio::task::spawn_blocking(move || {
            let store = store::Store::open(&db).unwrap();
            digests::tick(&store, &cfg, &Default::default(), p.send_at_ms + 1).unwrap()
        }));
    }
    let mut claimed = Vec::new();
    for h in handles {
        claimed.extend(h.await.unwrap().claimed);
    }
    claimed.sort();
    let mut want: Vec<(String, String)> =
        orgs.iter().map(|o| (o.clone(), p.week.label())).collect();
    want.sort();
    assert_eq!(claimed, want, "each org's digest claimed once in all");
    // And each one's email sent once.
    assert_eq!(smtp.wait_for(6, 30).await.len(), 6);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.mails().len(), 6);
}

#[actix_web::test]
async fn a_week_goes_out_once_even_if_the_org_changes_its_zone() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(config(&smtp)).await;
    let (org, key) = app.org(Plan::Free);
    let r = call(
        &app,
        &key,
        Method::PATCH,
        "/api/v1/org",
        Some(json!({"digest_recipients": ["a@example.com"]})),
    )
    .await;
    assert_eq!(r.status, 200);
    let p = test_week(&Zone::utc());
    assert_eq!(tick(&app, p.send_at_ms).await.claimed.len(), 1);
    // Now in Tokyo, the same week's 09:00 there is later the same day (UTC's week started
    // nine hours after Tokyo's): not again.
    let r = call(
        &app,
        &key,
        Method::PATCH,
        "/api/v1/org",
        Some(json!({"timezone": "asia/tokyo"})),
    )
    .await;
    assert_eq!(
        r.body["timezone"], "Asia/Tokyo",
        "stored as the database spells it"
    );
    let tokyo = week_period(p.week, &Zone::parse("Asia/Tokyo").unwrap()).unwrap();
    assert_ne!(tokyo.from_ms, p.from_ms);
    assert_eq!(
        tick(&app, p.send_at_ms + 3_600_000).await,
        TickReport::default()
    );
    assert_eq!(app.store.list_digests(&org, 10).unwrap().len(), 1);
    assert_eq!(smtp.wait_for(1, 20).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.mails().len(), 1);
}

#[actix_web::test]
async fn an_email_not_accepted_by_the_last_attempt_is_given_up() {
    // No job runner here: the test runs the send job itself, as the runner would.
    let smtp = SmtpServer::start().await;
    let mut c = config(&smtp);
    c.jobs.mode = app::background::JobsMode::Off;
    let app = TestApp::spawn_with(c).await;
    let (org, key) = app.org(Plan::Free);
    let r = call(
        &app,
        &key,
        Method::PATCH,
        "/api/v1/org",
        Some(json!({"digest_recipients": ["busy@example.com", "ok@example.com"]})),
    )
    .await;
    assert_eq!(r.status, 200);
    smtp.script("busy@example.com", &[451, 451]);
    let p = test_week(&Zone::utc());
    tick(&app, p.send_at_ms).await;
    let mailer: std::sync::Arc<dyn digests::Mailer> = std::sync::Arc::new(
        humanhours::digest::mail::SmtpMailer::new(app.state.config.mail.as_ref().unwrap()).unwrap(),
    );
    let stats = std::sync::Arc::new(digests::DigestStats::default());
    let job = digests::SendJob {
        org_id: org.clone(),
        kind: "weekly".into(),
        period_start: p.from_ms,
    };
    let first = digests::send_emails(
        app.store.clone(),
        mailer.clone(),
        stats.clone(),
        job.clone(),
        false,
    )
    .await;
    assert!(
        first.is_err(),
        "a pending email fails the job, so it is retried"
    );
    let rows = app.store.digest_emails(&org, "weekly", p.from_ms).unwrap();
    assert_eq!(
        rows.iter().map(|e| e.status.as_str()).collect::<Vec<_>>(),
        ["pending", "sent"]
    );
    // The last attempt: still refused for now, so given up; ok@ is not sent to again.
    digests::send_emails(app.store.clone(), mailer, stats.clone(), job, true)
        .await
        .unwrap();
    let rows = app.store.digest_emails(&org, "weekly", p.from_ms).unwrap();
    assert_eq!(rows[0].status, "failed");
    assert_eq!(rows[0].attempts, 2);
    assert!(rows[0].last_error.as_deref().unwrap().contains("451"));
    assert_eq!(smtp.attempts("ok@example.com"), 1);
    assert!(app
        .store
        .get_digest(&org, "weekly", p.from_ms)
        .unwrap()
        .unwrap()
        .finished_at
        .is_some());
    assert_eq!(
        stats.emails(),
        [("sent", 1), ("retry", 1), ("refused", 0), ("failed", 1)]
    );
}

#[actix_web::test]
async fn a_late_start_sends_once_and_not_after_six_days() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(config(&smtp)).await;
    let (org, key) = app.org(Plan::Free);
    let r = call(
        &app,
        &key,
        Method::PATCH,
        "/api/v1/org",
        Some(json!({"digest_recipients": ["owner@example.com"]})),
    )
    .await;
    assert_eq!(r.status, 200);
    let p = test_week(&Zone::utc());
    // Down over Monday 09:00: the first tick, a day and a half late, sends it; the next ones
    // do not.
    let late = p.send_at_ms + 36 * 3_600_000;
    assert_eq!(
        tick(&app, late).await.claimed,
        vec![(org.clone(), p.week.label())]
    );
    assert_eq!(tick(&app, late + 60_000).await, TickReport::default());
    assert_eq!(smtp.wait_for(1, 20).await.len(), 1);
    // A free org gets the email (no webhook: none can exist).
    // Six days and a minute late, a week's digest is left out.
    let (org2, key2) = app.org(Plan::Free);
    let r = call(
        &app,
        &key2,
        Method::PATCH,
        "/api/v1/org",
        Some(json!({"digest_recipients": ["late@example.com"]})),
    )
    .await;
    assert_eq!(r.status, 200);
    let too_late = p.send_at_ms + digests_rules::CATCH_UP_MS + 60_000;
    let t = tick(&app, too_late).await;
    assert!(!t.claimed.iter().any(|(o, _)| o == &org2), "{t:?}");
    assert!(!app
        .store
        .digest_exists(&org2, "weekly", &p.week.label())
        .unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.mails().len(), 1);
}

#[actix_web::test]
async fn an_org_in_tokyo_gets_its_digest_at_nine_tokyo_time() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(config(&smtp)).await;
    let (tokyo_org, tokyo) = app.org(Plan::Pro);
    let (utc_org, utc) = app.org(Plan::Pro);
    for (k, tz) in [(&tokyo, "Asia/Tokyo"), (&utc, "UTC")] {
        let r = call(
            &app,
            k,
            Method::PATCH,
            "/api/v1/org",
            Some(json!({"timezone": tz, "digest_recipients": ["x@example.com"]})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["timezone"], tz);
    }
    let zone = Zone::parse("Asia/Tokyo").unwrap();
    let p = test_week(&zone);
    let before = p.previous(&zone).unwrap();
    track_week(&app, &tokyo, &p, &before).await;
    // Monday 09:00 in Tokyo is Monday 00:00 UTC.
    assert_eq!(p.send_at_ms % 86_400_000, 0);
    assert_eq!(tick(&app, p.send_at_ms - 1).await, TickReport::default());
    let t = tick(&app, p.send_at_ms).await;
    assert_eq!(
        t.claimed,
        vec![(tokyo_org.clone(), p.week.label())],
        "UTC's is due nine hours later"
    );
    let utc_week = week_period(p.week, &Zone::utc()).unwrap();
    assert_eq!(
        tick(&app, utc_week.send_at_ms).await.claimed,
        vec![(utc_org, p.week.label())]
    );
    let rec = app
        .store
        .get_digest(&tokyo_org, "weekly", p.from_ms)
        .unwrap()
        .unwrap();
    let data: Value = serde_json::from_str(&rec.data).unwrap();
    assert_eq!(data["period"]["tz"], "Asia/Tokyo");
    // The week runs from Monday 00:00 Tokyo (Sunday 15:00 UTC).
    assert_eq!(p.from_ms % 86_400_000, 15 * 3_600_000);
    assert_figures(&app, &tokyo, &data, &p, &before, "Asia/Tokyo").await;
    assert_eq!(smtp.wait_for(2, 20).await.len(), 2);
}

#[actix_web::test]
async fn a_refused_recipient_does_not_hold_the_others_and_a_busy_one_is_retried() {
    let smtp = SmtpServer::start().await;
    smtp.script("gone@example.com", &[550]);
    smtp.script("busy@example.com", &[451]);
    // A refusal that is not about the recipient (here relaying, 554) is tried again too.
    smtp.script("relay@example.com", &[554]);
    let app = TestApp::spawn_with(config(&smtp)).await;
    let (org, key) = app.org(Plan::Pro);
    let r = call(
        &app,
        &key,
        Method::PATCH,
        "/api/v1/org",
        Some(json!({
            "digest_recipients": ["gone@example.com", "busy@example.com", "relay@example.com", "ok@example.com"]
        })),
    )
    .await;
    assert_eq!(r.status, 200);
    let p = test_week(&Zone::utc());
    tick(&app, p.send_at_ms).await;
    // ok@ at once; busy@ after the runner's backoff (10 s at most for the first retry).
    let mails = smtp.wait_for(3, 40).await;
    let mut to: Vec<String> = mails.iter().map(|m| m.to[0].clone()).collect();
    to.sort();
    assert_eq!(
        to,
        ["busy@example.com", "ok@example.com", "relay@example.com"]
    );
    assert_eq!(
        smtp.attempts("gone@example.com"),
        1,
        "a 550 is not tried again"
    );
    assert_eq!(smtp.attempts("busy@example.com"), 2);
    // The job's record of the second try may land a moment after the message.
    for _ in 0..100 {
        let e = app.store.digest_emails(&org, "weekly", p.from_ms).unwrap();
        if e.iter().all(|e| e.status != "pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let emails = app.store.digest_emails(&org, "weekly", p.from_ms).unwrap();
    let by2: std::collections::HashMap<&str, &store::DigestEmailRow> =
        emails.iter().map(|e| (e.address.as_str(), e)).collect();
    assert_eq!(by2["gone@example.com"].status, "refused");
    assert!(by2["gone@example.com"]
        .last_error
        .as_deref()
        .unwrap()
        .contains("550"));
    assert_eq!(by2["ok@example.com"].status, "sent");
    assert_eq!(by2["busy@example.com"].status, "sent");
    assert_eq!(by2["busy@example.com"].attempts, 2);
    assert_eq!(by2["relay@example.com"].status, "sent");
    assert_eq!(by2["relay@example.com"].attempts, 2);
    let metrics = app
        .send(Method::GET, "/metrics", None, &[], None)
        .await
        .text;
    for line in [
        "humanhours_digest_emails_total{outcome=\"sent\"} 3",
        "humanhours_digest_emails_total{outcome=\"retry\"} 2",
        "humanhours_digest_emails_total{outcome=\"refused\"} 1",
    ] {
        assert!(metrics.contains(line), "{line}");
    }
}

#[actix_web::test]
async fn the_schedule_as_shipped_sends_last_weeks_digest_once() {
    let smtp = SmtpServer::start().await;
    let mut c = config(&smtp);
    c.jobs.digests.scheduled = true;
    c.jobs.digests.every = Duration::from_secs(1);
    // Whatever the weekday the suite runs on, last week's digest time is less than 7 days ago.
    c.jobs.digests.catch_up_ms = 7 * 86_400_000;
    let app = TestApp::spawn_with(c).await;
    let (org, key) = app.org(Plan::Free);
    let r = call(
        &app,
        &key,
        Method::PATCH,
        "/api/v1/org",
        Some(json!({"digest_recipients": ["me@example.com"]})),
    )
    .await;
    assert_eq!(r.status, 200);
    let mails = smtp.wait_for(1, 30).await;
    assert_eq!(mails.len(), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(smtp.mails().len(), 1, "later ticks send nothing more");
    // One record: last week's (whichever that was when the schedule ran).
    assert_eq!(app.store.list_digests(&org, 10).unwrap().len(), 1);
}

#[actix_web::test]
async fn org_settings_check_their_input_and_leave_nothing_half_written() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(config(&smtp)).await;
    let (org, key) = app.org(Plan::Free);
    let g = call(&app, &key, Method::GET, "/api/v1/org", None).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["id"], json!(org));
    assert_eq!(g.body["timezone"], "UTC");
    assert_eq!(g.body["digest_recipients"], json!([]));
    let eleven: Vec<String> = (0..11).map(|i| format!("u{i}@example.com")).collect();
    for (body, field) in [
        (json!({"timezone": "Mars/Olympus"}), "timezone"),
        (json!({"timezone": "+05:45"}), "timezone"),
        (json!({"timezone": 5}), "timezone"),
        (json!({"digest_recipients": eleven}), "digest_recipients"),
        (
            json!({"digest_recipients": ["not-an-address"]}),
            "digest_recipients",
        ),
        (
            json!({"digest_recipients": ["a@example.com\r\nBcc: x@evil.com"]}),
            "digest_recipients",
        ),
        (
            json!({"digest_recipients": "a@example.com"}),
            "digest_recipients",
        ),
        (json!({"digest_recipients": [1]}), "digest_recipients"),
        // The valid half of a bad request is not written either.
        (
            json!({"timezone": "Europe/Berlin", "digest_recipients": ["bad"]}),
            "digest_recipients",
        ),
        (json!({"plan": "enterprise"}), "plan"),
    ] {
        let r = call(&app, &key, Method::PATCH, "/api/v1/org", Some(body.clone())).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.field(), Some(field), "{body}");
    }
    let g = call(&app, &key, Method::GET, "/api/v1/org", None).await;
    assert_eq!(g.body["timezone"], "UTC");
    assert_eq!(g.body["digest_recipients"], json!([]));
    let r = call(
        &app,
        &key,
        Method::PATCH,
        "/api/v1/org",
        Some(json!({"timezone": "Asia/Kathmandu", "digest_recipients": ["a@example.com"]})),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(
        &app,
        &key,
        Method::PATCH,
        "/api/v1/org",
        Some(json!({"digest_recipients": null})),
    )
    .await;
    assert_eq!(r.body["digest_recipients"], json!([]));
    assert_eq!(r.body["timezone"], "Asia/Kathmandu");
    let r = app
        .send(Method::PATCH, "/api/v1/org", None, &[], None)
        .await;
    assert_eq!(r.status, 401);

    // The CLI: the same rules, clear errors, nothing written on a bad value.
    let bad = app.cli(&["org", "set", &org, "--timezone", "Nowhere/Land"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("IANA time zone"));
    let bad = app.cli(&["org", "set", &org, "--digest-to", "a@example.com,nope"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'nope' is not an email address"));
    let ok = app.cli(&[
        "org",
        "set",
        &org,
        "--timezone",
        "Europe/Berlin",
        "--digest-to",
        "a@example.com, b@example.com",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let list = String::from_utf8_lossy(&app.cli(&["org", "list"]).stdout).into_owned();
    let line = list.lines().find(|l| l.starts_with(&org)).unwrap();
    assert!(
        line.ends_with("\tEurope/Berlin\ta@example.com,b@example.com\t30\t-"),
        "{line}"
    );
    let ok = app.cli(&["org", "set", &org, "--digest-to", "none"]);
    assert!(ok.status.success());
    assert_eq!(
        app.store.find_org(&org).unwrap().unwrap().digest_recipients,
        ""
    );
}

#[actix_web::test]
async fn digest_preview_prints_and_digest_send_sends_again() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(config(&smtp)).await;
    let (org, key) = app.org(Plan::Pro);
    let r = call(
        &app,
        &key,
        Method::PATCH,
        "/api/v1/org",
        Some(json!({"digest_recipients": ["again@example.com"]})),
    )
    .await;
    assert_eq!(r.status, 200);
    let utc = Zone::utc();
    let p = test_week(&utc);
    let before = p.previous(&utc).unwrap();
    track_week(&app, &key, &p, &before).await;
    let week = p.week.label();
    let json_out = app.cli(&[
        "digest", "preview", "--org", &org, "--week", &week, "--format", "json",
    ]);
    assert!(
        json_out.status.success(),
        "{}",
        String::from_utf8_lossy(&json_out.stderr)
    );
    let data: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_figures(&app, &key, &data, &p, &before, "UTC").await;
    let text = app.cli(&["digest", "preview", "--org", &org, "--week", &week]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(&format!(
        "Net saved: {}",
        euros(&data["totals"]["net_saved"])
    )));
    let html = app.cli(&[
        "digest", "preview", "--org", &org, "--week", &week, "--format", "html",
    ]);
    assert!(String::from_utf8_lossy(&html.stdout).starts_with("<!DOCTYPE html>"));
    // Previews send nothing and write nothing.
    assert!(!app
        .store
        .digest_exists(&org, "weekly", &p.week.label())
        .unwrap());
    for bad in [vec!["--week", "2026-W60"], vec!["--week", "last"]] {
        let mut args = vec!["digest", "preview", "--org", org.as_str()];
        args.extend(bad);
        let o = app.cli(&args);
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("ISO week such as 2026-W48"));
    }
    // Sent by the schedule, then again on purpose: two emails, one record.
    tick(&app, p.send_at_ms).await;
    assert_eq!(smtp.wait_for(1, 20).await.len(), 1);
    let send = std::process::Command::new(env!("CARGO_BIN_EXE_humanhours"))
        .args(["digest", "send", "--org", &org, "--week", &week])
        .env("HUMANHOURS_DATABASE_URL", &app.db_url)
        .env("HUMANHOURS_SMTP_URL", smtp.url())
        .env("HUMANHOURS_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        send.status.success(),
        "{}",
        String::from_utf8_lossy(&send.stderr)
    );
    assert!(String::from_utf8_lossy(&send.stderr).contains("1 email(s)"));
    let mails = smtp.wait_for(2, 30).await;
    assert_eq!(mails.len(), 2);
    assert_eq!(app.store.list_digests(&org, 10).unwrap().len(), 1);
    let o = app.cli(&["digest", "send", "--org", "no-such-org", "--week", &week]);
    assert!(!o.status.success());
    // A week not over yet cannot be sent (it would stop its own Monday digest).
    let this_week = digests_rules::period::IsoWeek::of(Zone::utc().date(now_ms()).unwrap()).label();
    let o = app.cli(&["digest", "send", "--org", &org, "--week", &this_week]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not over yet"));
    assert_eq!(app.store.list_digests(&org, 10).unwrap().len(), 1);
}
