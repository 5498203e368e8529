//! The counters behind `GET /metrics`, rendered in the Prometheus text format: requests and their latency by route and
//! status, events stored, the writer's queue depth, the database pools, job and periodic task
//! runs of this instance, and the job queue (shared by every instance).
//!
//! Counted by hand with a mutex-guarded map (a few hundred distinct route × status pairs at
//! most: routes are their patterns, never raw paths); rendering walks it once per scrape.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::state::App;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum_micros: u64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    events_stored: AtomicU64,
    /// What this instance's job runner did (`background.rs` gives it to the runner).
    pub jobs: Arc<jobs::Stats>,
    /// What this instance's webhook worker did.
    pub webhooks: Arc<crate::webhooks::worker::WebhookStats>,
    /// What this instance's digest jobs did.
    pub digests: Arc<crate::digests::DigestStats>,
}

/// The methods counted by name; any other method (a client may send any token) is `OTHER`, so
/// what a client sends cannot grow the metrics or the log.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// A request method as metrics and the access log name it: one of the standard methods, or
/// `OTHER`.
///
/// ```
/// assert_eq!(app::metrics::method_label("POST"), "POST");
/// assert_eq!(app::metrics::method_label("post"), "OTHER");
/// assert_eq!(app::metrics::method_label(&"X".repeat(30_000)), "OTHER");
/// ```
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("OTHER")
}

/// A client-chosen text as the access log prints it: at most `max` characters, then `…`.
///
/// ```
/// assert_eq!(app::metrics::cut("/track", 8), "/track");
/// assert_eq!(app::metrics::cut("/aaaaaaaaaa", 4), "/aaa…");
/// ```
pub fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => text.into(),
        Some((at, _)) => format!("{}…", &text[..at]).into(),
    }
}

impl Metrics {
    /// Counts one answered request. `route` is a route pattern (or `unmatched`), never a raw
    /// path; the method is counted by [`method_label`].
    pub fn observe(&self, route: &str, method: &str, status: u16, latency: Duration) {
        let secs = latency.as_secs_f64();
        let method = method_label(method);
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let h = map
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum_micros += u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    }

    /// Counts events committed by this instance.
    pub fn events_stored(&self, n: u64) {
        self.events_stored.fetch_add(n, Ordering::Relaxed);
    }

    /// `queue`, `outbox`, `digest_emails` (pending) and `feeds` are database reads, left out
    /// when they failed.
    pub fn render(
        &self,
        state: &App,
        queue: Option<store::JobCounts>,
        outbox: Option<(store::OutboxCounts, i64)>,
        digest_emails: Option<i64>,
        feeds: Option<Vec<store::FeedSyncRow>>,
    ) -> String {
        let mut out = String::new();
        let map = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let _ = writeln!(
            out,
            "# HELP humanhours_http_requests_total Answered HTTP requests."
        );
        let _ = writeln!(out, "# TYPE humanhours_http_requests_total counter");
        for ((route, method, status), h) in &map {
            let _ = writeln!(
                out,
                "humanhours_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP humanhours_http_request_duration_seconds Time from request to answer."
        );
        let _ = writeln!(
            out,
            "# TYPE humanhours_http_request_duration_seconds histogram"
        );
        for ((route, method, status), h) in &map {
            let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "humanhours_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "humanhours_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "humanhours_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_micros as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "humanhours_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        one_value(
            &mut out,
            "humanhours_events_stored_total",
            "counter",
            "Events committed by this instance.",
            self.events_stored.load(Ordering::Relaxed),
        );
        one_value(
            &mut out,
            "humanhours_writer_queue_depth",
            "gauge",
            "Track submissions waiting for or in a commit.",
            state.writer.depth(),
        );
        one_value(
            &mut out,
            "humanhours_writer_commits_total",
            "counter",
            "Group-commit transactions of track writes (events stored / commits = mean batch).",
            state.writer.commits(),
        );
        one_value(
            &mut out,
            "humanhours_key_hash_checks_total",
            "counter",
            "argon2 verifications of API keys (cache misses of keys not yet proven).",
            state.key_cache.hash_checks(),
        );
        let _ = writeln!(
            out,
            "# HELP humanhours_job_runs_total Job attempts run by this instance, by kind and result (ok, retry, dead)."
        );
        let _ = writeln!(out, "# TYPE humanhours_job_runs_total counter");
        for (kind, outcome, n) in self.jobs.job_runs() {
            let _ = writeln!(
                out,
                "humanhours_job_runs_total{{kind=\"{kind}\",result=\"{}\"}} {n}",
                outcome.as_str()
            );
        }
        let _ = writeln!(
            out,
            "# HELP humanhours_task_runs_total Per-instance periodic task runs, by task and result (ok, error)."
        );
        let _ = writeln!(out, "# TYPE humanhours_task_runs_total counter");
        for (task, ok, n) in self.jobs.task_runs() {
            let result = if ok { "ok" } else { "error" };
            let _ = writeln!(
                out,
                "humanhours_task_runs_total{{task=\"{task}\",result=\"{result}\"}} {n}"
            );
        }
        if let Some(q) = queue {
            let _ = writeln!(
                out,
                "# HELP humanhours_jobs Jobs in the shared queue by state: queued (waiting), running (leased), dead (kept after their last attempt)."
            );
            let _ = writeln!(out, "# TYPE humanhours_jobs gauge");
            for (state, n) in [
                ("queued", q.queued),
                ("running", q.running),
                ("dead", q.dead),
            ] {
                let _ = writeln!(out, "humanhours_jobs{{state=\"{state}\"}} {n}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP humanhours_webhook_deliveries_total Webhook attempts finished by this instance, by outcome: delivered, retry (failed, due again), failed (out of attempts), gone (410, endpoint disabled), skipped (endpoint disabled or event gone)."
        );
        let _ = writeln!(out, "# TYPE humanhours_webhook_deliveries_total counter");
        for (outcome, n) in self.webhooks.outcomes() {
            let _ = writeln!(
                out,
                "humanhours_webhook_deliveries_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        if let Some((o, now)) = outbox {
            one_value(
                &mut out,
                "humanhours_webhook_queue_depth",
                "gauge",
                "Pending webhook deliveries in the shared outbox (due or waiting for a retry).",
                o.pending,
            );
            let ms = o.oldest_pending_at.map_or(0, |t| (now - t).max(0));
            let age = format!("{}.{:03}", ms / 1000, ms % 1000);
            one_value(
                &mut out,
                "humanhours_webhook_oldest_pending_seconds",
                "gauge",
                "Age of the oldest pending webhook delivery (0 when none).",
                age,
            );
        }
        one_value(
            &mut out,
            "humanhours_digests_claimed_total",
            "counter",
            "Digests composed and queued by this instance (each org, kind and period once across instances).",
            self.digests.claimed(),
        );
        let _ = writeln!(
            out,
            "# HELP humanhours_digest_emails_total Digest email attempts by this instance, by outcome: sent (accepted by the SMTP server), retry (not accepted, due again), refused (refused for good)."
        );
        let _ = writeln!(out, "# TYPE humanhours_digest_emails_total counter");
        for (outcome, n) in self.digests.emails() {
            let _ = writeln!(
                out,
                "humanhours_digest_emails_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        if let Some(n) = digest_emails {
            one_value(
                &mut out,
                "humanhours_digest_emails_pending",
                "gauge",
                "Digest emails not yet accepted by the SMTP server (every instance's).",
                n,
            );
        }
        if let Some(feeds) = feeds {
            let ms = |t: i64| format!("{}.{:03}", t / 1000, t % 1000);
            let _ = writeln!(out, "# HELP humanhours_feed_last_success_timestamp_seconds When the feed's sync last succeeded (absent: never).");
            let _ = writeln!(
                out,
                "# TYPE humanhours_feed_last_success_timestamp_seconds gauge"
            );
            for f in &feeds {
                if let Some(t) = f.last_success_at {
                    let _ = writeln!(
                        out,
                        "humanhours_feed_last_success_timestamp_seconds{{feed=\"{}\"}} {}",
                        f.feed,
                        ms(t)
                    );
                }
            }
            let _ = writeln!(out, "# HELP humanhours_feed_rows_added_total Price or FX rows the feed's syncs added, in all.");
            let _ = writeln!(out, "# TYPE humanhours_feed_rows_added_total counter");
            for f in &feeds {
                let _ = writeln!(
                    out,
                    "humanhours_feed_rows_added_total{{feed=\"{}\"}} {}",
                    f.feed, f.rows_added
                );
            }
            let _ = writeln!(out, "# HELP humanhours_feed_failing Whether the feed's last sync failed (1) or not (0); the prices in force stay meanwhile.");
            let _ = writeln!(out, "# TYPE humanhours_feed_failing gauge");
            for f in &feeds {
                let _ = writeln!(
                    out,
                    "humanhours_feed_failing{{feed=\"{}\"}} {}",
                    f.feed,
                    u8::from(f.failing_since.is_some())
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP humanhours_db_pool_connections Database connections by pool and state."
        );
        let _ = writeln!(out, "# TYPE humanhours_db_pool_connections gauge");
        for pool in state.store.pool_states() {
            let _ = writeln!(
                out,
                "humanhours_db_pool_connections{{pool=\"{}\",state=\"idle\"}} {}",
                pool.name, pool.idle
            );
            let _ = writeln!(
                out,
                "humanhours_db_pool_connections{{pool=\"{}\",state=\"in_use\"}} {}",
                pool.name,
                pool.connections.saturating_sub(pool.idle)
            );
            let _ = writeln!(
                out,
                "humanhours_db_pool_max_connections{{pool=\"{}\"}} {}",
                pool.name, pool.max
            );
        }
        out
    }
}

/// Writes a metric without labels: its HELP and TYPE lines and its one value.
fn one_value(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}
