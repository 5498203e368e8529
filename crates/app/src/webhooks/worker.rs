//! The delivery worker: claims due deliveries from the outbox, sends each through a
//! [`Transport`] (the binary's HTTP client, which checks addresses at connect time), and
//! records the results and the endpoints' health in one transaction per group of results.
//!
//! Bounded: at most `concurrency` attempts in flight on the instance, `org_concurrency` for one
//! org and `endpoint_concurrency` to one endpoint, so a slow receiver (each attempt may take
//! the whole time-out) holds its own slots, and one org's endpoints cannot take every slot
//! from the other orgs (API.md §14). A claim leases its
//! deliveries for `lease`; an instance that dies leaves them to come due again then. The clock
//! and the random source are arguments, so tests drive retries through time without sleeping
//! ([`Dispatcher::run_due`]).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::{AttemptEnd, AttemptResult, Claimed, Store};
use time::OffsetDateTime;
use tokio::sync::{mpsc, Notify};
use webhooks::address::{AllowNets, EndpointUrl};
use webhooks::schedule::{self, Next, Outcome};
use webhooks::EventType;

use super::message::{self, Unsendable};
use super::WebhookConfig;
use crate::clock;

/// One POST to a receiver.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: url::Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

/// What came back: the status, `Retry-After`, and at most [`webhooks::RESPONSE_BODY_KEPT`]
/// bytes of the body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

/// Sends requests. The binary's implementation resolves names through a resolver that drops
/// refused addresses before connecting, follows no redirects and uses no proxy.
pub trait Transport: Send + Sync + 'static {
    /// `Err` carries what went wrong without a status (refused address, time-out, connection).
    fn send(&self, req: Request) -> Pin<Box<dyn Future<Output = Result<Response, String>> + Send>>;
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WebhookStats {
    delivered: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    gone: AtomicU64,
    skipped: AtomicU64,
}

impl WebhookStats {
    fn count(&self, end: AttemptEnd) {
        let c = match end {
            AttemptEnd::Delivered => &self.delivered,
            AttemptEnd::RetryAt(_) => &self.retried,
            AttemptEnd::GaveUp => &self.failed,
            AttemptEnd::Gone => &self.gone,
            AttemptEnd::Skipped => &self.skipped,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// (outcome, count): `delivered`, `retry` (failed, due again), `failed` (out of attempts),
    /// `gone` (410), `skipped` (endpoint disabled or event gone).
    pub fn outcomes(&self) -> [(&'static str, u64); 5] {
        [
            ("delivered", self.delivered.load(Ordering::Relaxed)),
            ("retry", self.retried.load(Ordering::Relaxed)),
            ("failed", self.failed.load(Ordering::Relaxed)),
            ("gone", self.gone.load(Ordering::Relaxed)),
            ("skipped", self.skipped.load(Ordering::Relaxed)),
        ]
    }
}

/// The worker of one instance.
pub struct Dispatcher {
    store: Arc<Store>,
    transport: Arc<dyn Transport>,
    config: WebhookConfig,
    worker_id: String,
    stats: Arc<WebhookStats>,
    wake: Arc<Notify>,
    now: Arc<dyn Fn() -> OffsetDateTime + Send + Sync>,
    random: Arc<dyn Fn() -> u64 + Send + Sync>,
}

/// The shortest time between two claims of one instance (so at most 100 claims a second,
/// each of up to `concurrency` deliveries).
const CLAIM_GAP: Duration = Duration::from_millis(10);

/// How long the recorder gathers results before it writes them in one transaction.
const RECORD_GATHER: Duration = Duration::from_millis(50);

/// Attempts in flight on this instance, per endpoint and per org.
#[derive(Default)]
struct Counts {
    endpoints: HashMap<String, usize>,
    orgs: HashMap<String, usize>,
}
type InFlight = Arc<Mutex<Counts>>;

impl Dispatcher {
    /// A worker on the system clock. `stats` is where its counters go (the server's metrics).
    pub fn new(
        store: Arc<Store>,
        transport: Arc<dyn Transport>,
        config: WebhookConfig,
        stats: Arc<WebhookStats>,
    ) -> Dispatcher {
        let now = clock::now();
        Dispatcher {
            worker_id: format!("wh-{}-{}", std::process::id(), clock::ulid(now)),
            store,
            transport,
            config,
            stats,
            wake: Arc::new(Notify::new()),
            now: Arc::new(clock::now),
            random: Arc::new(clock::random_u64),
        }
    }

    /// The same worker with another clock and random source (tests).
    pub fn with_clock(
        mut self,
        now: impl Fn() -> OffsetDateTime + Send + Sync + 'static,
        random: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Dispatcher {
        self.now = Arc::new(now);
        self.random = Arc::new(random);
        self
    }

    /// Sends one claimed delivery and decides what becomes of it.
    async fn attempt(&self, c: Claimed) -> AttemptResult {
        let started = clock::instant();
        let now = (self.now)();
        let now_ms = clock::unix_ms(now);
        let d = &c.delivery;
        let mut result = AttemptResult {
            delivery_id: d.id.clone(),
            endpoint_id: d.endpoint_id.clone(),
            attempt: d.attempts + 1,
            end: AttemptEnd::Skipped,
            attempted_at: now_ms,
            status_code: None,
            error: None,
            duration_ms: 0,
            response_body: String::new(),
        };
        let ping = d.event_type == EventType::WebhookPing.as_str();
        if c.endpoint.status == webhooks::health::Status::Disabled.as_str() && !ping {
            return result;
        }
        let prepared = message::body(d, c.event.as_ref())
            .and_then(|b| Ok((b, message::secrets(&c.endpoint, now_ms)?)));
        let (body, secrets) = match prepared {
            Ok(x) => x,
            Err(Unsendable::EventGone) => return result,
            Err(Unsendable::Corrupt(why)) => {
                tracing::error!(delivery = %d.id, "webhook delivery skipped: {why}");
                return result;
            }
        };
        let sent = match EndpointUrl::parse(&c.endpoint.url, &self.config.allow_nets) {
            Err(e) => Err(e.to_string()),
            Ok(url) => {
                let mut headers = message::signature_headers(
                    &d.message_id,
                    body.as_bytes(),
                    &secrets,
                    now.unix_timestamp(),
                );
                headers.push(("content-type", "application/json".to_owned()));
                headers.push((
                    "user-agent",
                    format!("humanhours/{}", env!("CARGO_PKG_VERSION")),
                ));
                let req = Request {
                    url: url.url,
                    headers,
                    body: body.into_bytes(),
                    timeout: self.config.timeout,
                };
                self.transport.send(req).await
            }
        };
        result.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let outcome = match sent {
            Ok(resp) => {
                result.status_code = Some(i64::from(resp.status));
                let kept = &resp.body[..resp.body.len().min(webhooks::RESPONSE_BODY_KEPT)];
                // Stored as text: PostgreSQL refuses a NUL in text, and one in a hostile
                // receiver's answer would fail the whole group's record.
                result.response_body = String::from_utf8_lossy(kept).replace('\0', "\u{FFFD}");
                schedule::classify(resp.status, resp.retry_after.as_deref(), now)
            }
            Err(e) => {
                result.error = Some(
                    e.chars()
                        .take(500)
                        .map(|c| if c == '\0' { '\u{FFFD}' } else { c })
                        .collect(),
                );
                Outcome::Failed {
                    retry_after_ms: None,
                }
            }
        };
        result.end = match outcome {
            Outcome::Delivered => AttemptEnd::Delivered,
            Outcome::Gone => AttemptEnd::Gone,
            Outcome::Failed { retry_after_ms } => {
                let round = u32::try_from(d.round_attempts + 1).unwrap_or(u32::MAX);
                match schedule::after_failure(round, retry_after_ms, (self.random)()) {
                    Next::RetryIn(ms) => AttemptEnd::RetryAt(now_ms.saturating_add(ms)),
                    Next::GiveUp => AttemptEnd::GaveUp,
                }
            }
        };
        result
    }

    /// How long a claim holds its deliveries: long enough for every attempt this instance may
    /// have queued before the last one it claimed (a claim takes at most `concurrency`, and an
    /// endpoint or org runs its share at a time, each attempt at most `timeout`), plus a margin.
    /// With the defaults, 15 s × 5 + 30 s = 105 s; an instance that dies leaves its claims to
    /// the others after that.
    fn lease_ms(&self) -> i64 {
        let c = &self.config;
        let share = c.endpoint_concurrency.min(c.org_concurrency).max(1);
        let rounds = u128::try_from(c.concurrency.div_ceil(share) + 1).unwrap_or(u128::MAX);
        let ms = c.timeout.as_millis().saturating_mul(rounds) + c.lease_margin.as_millis();
        i64::try_from(ms).unwrap_or(i64::MAX)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, store::StoreError> + Send + 'static,
    ) -> Result<T, store::StoreError> {
        let st = self.store.clone();
        tokio::task::spawn_blocking(move || f(&st))
            .await
            .map_err(|e| store::StoreError::Failed(format!("blocking task: {e}")))?
    }

    async fn record(&self, results: Vec<AttemptResult>) {
        if results.is_empty() {
            return;
        }
        let now = clock::unix_ms((self.now)());
        let worker = self.worker_id.clone();
        let ends: Vec<AttemptEnd> = results.iter().map(|r| r.end).collect();
        match self
            .blocking(move |st| st.record_attempts(&worker, &results, now))
            .await
        {
            Ok(_) => ends.into_iter().for_each(|e| self.stats.count(e)),
            // The leases run out and the deliveries are attempted again: at least once.
            Err(e) => tracing::warn!("recording webhook attempts failed: {e}"),
        }
    }

    /// Claims and sends everything due at the clock's `now`, round after round, until nothing
    /// is due; returns how many deliveries were handled. What tests call with a driven clock.
    pub async fn run_due(&self) -> usize {
        let mut handled = 0;
        loop {
            let now = clock::unix_ms((self.now)());
            let (worker, lease) = (self.worker_id.clone(), now + self.lease_ms());
            let limit = i64::try_from(self.config.concurrency).unwrap_or(64);
            let claimed = match self
                .blocking(move |st| st.claim_deliveries(&worker, now, lease, limit, &[], &[]))
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("claiming webhook deliveries failed: {e}");
                    return handled;
                }
            };
            if claimed.is_empty() {
                return handled;
            }
            handled += claimed.len();
            let results =
                futures_util::future::join_all(claimed.into_iter().map(|c| self.attempt(c))).await;
            self.record(results).await;
        }
    }

    /// Runs the worker on the current runtime until `stop` is notified.
    pub fn start(self) -> Running {
        let stop = Arc::new(Notify::new());
        let held = Arc::new(AtomicUsize::new(0));
        let (handoff, handoff_rx) = mpsc::unbounded_channel::<Vec<Claimed>>();
        self.store.set_outbox_sink(Arc::new(LocalSink {
            worker_id: self.worker_id.clone(),
            lease_ms: self.lease_ms(),
            concurrency: self.config.concurrency.max(1),
            held: held.clone(),
            handoff,
            wake: self.wake.clone(),
        }));
        let this = Arc::new(self);
        let handle = tokio::spawn(run(this, stop.clone(), held, handoff_rx));
        Running { stop, handle }
    }
}

/// Takes this process's fresh deliveries, leased to the worker in their own transaction, as
/// far as the worker has room (`held` counts what it holds: in flight, waiting, reserved).
struct LocalSink {
    worker_id: String,
    lease_ms: i64,
    concurrency: usize,
    held: Arc<AtomicUsize>,
    handoff: mpsc::UnboundedSender<Vec<Claimed>>,
    wake: Arc<Notify>,
}

impl store::OutboxSink for LocalSink {
    fn reserve(&self, n: usize, now_ms: i64) -> Option<(String, i64, usize)> {
        let taken = take_room(&self.held, self.concurrency, n);
        (taken > 0).then(|| (self.worker_id.clone(), now_ms + self.lease_ms, taken))
    }

    fn unreserve(&self, n: usize) {
        self.held.fetch_sub(n, Ordering::SeqCst);
    }

    fn hand_over(&self, claimed: Vec<Claimed>) {
        let n = claimed.len();
        // A stopped worker: the deliveries stay leased and come due when the lease ends.
        // (The channel wakes the loop; a wake would make it look for due rows as well.)
        if self.handoff.send(claimed).is_err() {
            self.held.fetch_sub(n, Ordering::SeqCst);
        }
    }

    fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Takes room for up to `n` in `held` (at most `cap` in all); returns how much it took.
fn take_room(held: &AtomicUsize, cap: usize, n: usize) -> usize {
    let mut current = held.load(Ordering::SeqCst);
    loop {
        let take = n.min(cap.saturating_sub(current));
        if take == 0 {
            return 0;
        }
        match held.compare_exchange(current, current + take, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return take,
            Err(now) => current = now,
        }
    }
}

/// A started worker.
pub struct Running {
    stop: Arc<Notify>,
    handle: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops claiming, waits up to `grace` for attempts in flight to be recorded.
    pub async fn stop(self, grace: Duration) {
        self.stop.notify_one();
        let _ = tokio::time::timeout(grace, self.handle).await;
    }
}

async fn run(
    d: Arc<Dispatcher>,
    stop: Arc<Notify>,
    held: Arc<AtomicUsize>,
    mut handoff: mpsc::UnboundedReceiver<Vec<Claimed>>,
) {
    let concurrency = d.config.concurrency.max(1);
    let (tx, mut rx) = mpsc::unbounded_channel::<AttemptResult>();
    let mut slots = Slots {
        d: d.clone(),
        held: held.clone(),
        in_flight: Arc::new(Mutex::new(Counts::default())),
        waiting: HashMap::new(),
        waiting_total: 0,
        results: tx,
        freed: Arc::new(Notify::new()),
        per_endpoint: d.config.endpoint_concurrency.max(1),
        per_org: d.config.org_concurrency.max(1),
    };

    // The recorder: one transaction for what finished within a few milliseconds of the first
    // result (at most 1,000): under load a transaction per result cost more than the sends.
    let recorder = {
        let d = d.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let until = tokio::time::Instant::now() + RECORD_GATHER;
                while batch.len() < 1000 {
                    match tokio::time::timeout_at(until, rx.recv()).await {
                        Ok(Some(r)) => batch.push(r),
                        Ok(None) | Err(_) => break,
                    }
                }
                d.record(batch).await;
            }
        })
    };

    let stopping = stop.notified();
    tokio::pin!(stopping);
    // Why the loop woke: new work (claim at once) or only a finished attempt (claim when a
    // quarter of the slots are free, so a busy outbox is claimed in groups, not one by one).
    let mut new_work = true;
    let mut last_claim = tokio::time::Instant::now() - CLAIM_GAP;
    loop {
        // 1. Start what waits and has room.
        slots.dispatch();

        // 2. Claim for the room left. A claim leases at most what this instance can hold
        //    (in flight + waiting <= concurrency); endpoints and orgs that hold their share
        //    are left out, so their deliveries stay for other instances and other orgs'
        //    deliveries are not queued behind them.
        let free = concurrency.saturating_sub(held.load(Ordering::SeqCst));
        let mut more = false;
        let idle = slots.flying() + slots.waiting_total == 0;
        let want = free > 0 && (new_work || free >= concurrency / 4 || idle);
        // Claims come at most every CLAIM_GAP, so a stream of commits (each one wakes the loop)
        // is claimed in groups rather than a transaction per commit; meanwhile the loop keeps
        // starting what waits.
        let gap_over = tokio::time::Instant::now() >= last_claim + CLAIM_GAP;
        let claim_later = want && !gap_over;
        if want && gap_over {
            last_claim = tokio::time::Instant::now();
            new_work = false;
            let (busy, busy_orgs) = slots.busy();
            let now = clock::unix_ms((d.now)());
            let (worker, lease) = (d.worker_id.clone(), now + d.lease_ms());
            // The room first, so fresh deliveries handed over meanwhile cannot overfill it.
            let room = take_room(&held, concurrency, free);
            let limit = i64::try_from(room).unwrap_or(64);
            match d
                .blocking(move |st| {
                    st.claim_deliveries(&worker, now, lease, limit, &busy, &busy_orgs)
                })
                .await
            {
                Ok(claimed) => {
                    held.fetch_sub(room - claimed.len().min(room), Ordering::SeqCst);
                    more = room > 0 && claimed.len() == room;
                    claimed.into_iter().for_each(|c| slots.enqueue(c));
                }
                Err(e) => {
                    held.fetch_sub(room, Ordering::SeqCst);
                    tracing::warn!("claiming webhook deliveries failed: {e}");
                }
            }
            slots.dispatch();
        }
        if more {
            new_work = true;
            continue;
        }
        tokio::select! {
            _ = &mut stopping => break,
            Some(fresh) = handoff.recv() => {
                // Already leased to this worker and counted in `held`.
                fresh.into_iter().for_each(|c| slots.enqueue(c));
            }
            _ = d.wake.notified() => new_work = true,
            _ = slots.freed.notified() => {}
            _ = tokio::time::sleep_until(last_claim + CLAIM_GAP), if claim_later => {}
            _ = tokio::time::sleep(d.config.poll_interval) => new_work = true,
        }
    }
    // Hand back what waits (also what was handed over and not taken yet); let the attempts in
    // flight finish and be recorded.
    handoff.close();
    let mut ids: Vec<String> = std::mem::take(&mut slots.waiting)
        .into_values()
        .flatten()
        .map(|c| c.delivery.id)
        .collect();
    while let Ok(fresh) = handoff.try_recv() {
        ids.extend(fresh.into_iter().map(|c| c.delivery.id));
    }
    if !ids.is_empty() {
        let (worker, at) = (d.worker_id.clone(), clock::unix_ms((d.now)()));
        if let Err(e) = d
            .blocking(move |st| st.release_deliveries(&worker, &ids, at))
            .await
        {
            tracing::warn!("releasing webhook deliveries failed: {e}");
        }
    }
    while slots.flying() > 0 {
        slots.freed.notified().await;
    }
    drop(slots);
    let _ = recorder.await;
}

/// The loop's attempts: in flight (by endpoint and org), and claimed ones waiting for a slot.
struct Slots {
    d: Arc<Dispatcher>,
    /// In flight + waiting + reserved, shared with the track transaction (`LocalSink`).
    held: Arc<AtomicUsize>,
    in_flight: InFlight,
    waiting: HashMap<String, std::collections::VecDeque<Claimed>>,
    waiting_total: usize,
    results: mpsc::UnboundedSender<AttemptResult>,
    /// Notified when an attempt finishes.
    freed: Arc<Notify>,
    per_endpoint: usize,
    per_org: usize,
}

impl Slots {
    fn flying(&self) -> usize {
        self.in_flight
            .lock()
            .map_or(0, |m| m.endpoints.values().sum::<usize>())
    }

    /// A claimed delivery (counted in `held` already) waits for its slot.
    fn enqueue(&mut self, c: Claimed) {
        self.waiting
            .entry(c.delivery.endpoint_id.clone())
            .or_default()
            .push_back(c);
        self.waiting_total += 1;
    }

    /// The endpoints and orgs a claim leaves out: an endpoint with its share in flight and as
    /// many again waiting (so its queue refills before it runs dry), an org at its share.
    fn busy(&self) -> (Vec<String>, Vec<String>) {
        let Ok(m) = self.in_flight.lock() else {
            return (Vec::new(), Vec::new());
        };
        let held = |e: &String| {
            m.endpoints.get(e).copied().unwrap_or(0) + self.waiting.get(e).map_or(0, |q| q.len())
        };
        let mut eps: Vec<String> = m
            .endpoints
            .keys()
            .chain(self.waiting.keys())
            .filter(|e| held(e) >= 2 * self.per_endpoint)
            .cloned()
            .collect();
        eps.sort_unstable();
        eps.dedup();
        (eps, full(&m.orgs, self.per_org))
    }

    /// Starts the waiting deliveries whose endpoint and org have a free slot.
    fn dispatch(&mut self) {
        let Ok(mut m) = self.in_flight.lock() else {
            return;
        };
        for (ep, queue) in self.waiting.iter_mut() {
            while let Some(c) = queue.front() {
                let org = &c.delivery.org_id;
                let e = m.endpoints.get(ep).copied().unwrap_or(0);
                let o = m.orgs.get(org).copied().unwrap_or(0);
                if e >= self.per_endpoint || o >= self.per_org {
                    break;
                }
                let Some(c) = queue.pop_front() else { break };
                self.waiting_total -= 1;
                *m.endpoints.entry(ep.clone()).or_insert(0) += 1;
                *m.orgs.entry(c.delivery.org_id.clone()).or_insert(0) += 1;
                let (d, results) = (self.d.clone(), self.results.clone());
                let (in_flight, freed, held) = (
                    self.in_flight.clone(),
                    self.freed.clone(),
                    self.held.clone(),
                );
                let (ep, org) = (ep.clone(), c.delivery.org_id.clone());
                tokio::spawn(async move {
                    let r = d.attempt(c).await;
                    release(&in_flight, &ep, &org);
                    held.fetch_sub(1, Ordering::SeqCst);
                    let _ = results.send(r);
                    freed.notify_one();
                });
            }
        }
        self.waiting.retain(|_, q| !q.is_empty());
    }
}

fn full(counts: &HashMap<String, usize>, limit: usize) -> Vec<String> {
    counts
        .iter()
        .filter(|(_, n)| **n >= limit)
        .map(|(k, _)| k.clone())
        .collect()
}

fn release(in_flight: &InFlight, endpoint: &str, org: &str) {
    let dec = |m: &mut HashMap<String, usize>, k: &str| {
        if let Some(n) = m.get_mut(k) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(k);
            }
        }
    };
    if let Ok(mut m) = in_flight.lock() {
        dec(&mut m.endpoints, endpoint);
        dec(&mut m.orgs, org);
    }
}

/// Checks that `ip` may be connected to (for the transport's resolver).
pub fn allowed(ip: std::net::IpAddr, allow: &AllowNets) -> Result<(), String> {
    match webhooks::address::refused(ip, allow) {
        None => Ok(()),
        Some(why) => Err(format!(
            "{ip} is a {why} address, which webhooks may not reach (HUMANHOURS_WEBHOOK_ALLOW_NETS)"
        )),
    }
}
