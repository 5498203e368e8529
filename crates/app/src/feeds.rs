//! The daily price and FX syncs (API.md §6): fetch OpenRouter's public models listing and the
//! ECB's daily reference rates, and add a row dated today for every price or rate that changed
//! (or model that is new). History is never rewritten, unchanged prices add nothing, and a
//! failed, malformed or suspiciously short answer changes nothing (`catalogue::plan_*_sync`
//! decide). Each instance picks the new rows up at its next price refresh.
//!
//! The runs are scheduled jobs (`sync-prices`, `sync-fx`, daily, one instance per slot on a
//! shared database), retried with the runner's backoff; each feed's state (last success,
//! failure streak, rows added) is a row of `feed_sync`, so a streak is logged once whichever
//! instance runs it, and `/metrics` shows it. The HTTP client is the binary's ([`Fetcher`]).

use std::sync::Arc;
use std::time::Duration;

use catalogue::{
    parse_ecb_daily, parse_openrouter_models, plan_fx_sync, plan_price_sync, usd_rates,
};
use jobs::BoxFuture;
use store::{FxDbRow, PriceDbRow, Store};
use time::{Date, OffsetDateTime};

use crate::clock;
use crate::orgs::date_text;
use crate::pricing::PricingData;

/// OpenRouter's public models listing.
pub const DEFAULT_PRICES_URL: &str = "https://openrouter.ai/api/v1/models";
/// The ECB's daily euro reference rates.
pub const DEFAULT_FX_URL: &str = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml";

/// Gets a feed's body (the binary's HTTP client: a time-out, a size limit).
pub trait Fetcher: Send + Sync {
    fn get<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, String>>;
}

/// Settings of the syncs; a URL of `None` turns that sync off.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub prices_url: Option<String>,
    pub fx_url: Option<String>,
    /// How often each runs (daily).
    pub every: Duration,
    /// Longest a fetch may take.
    pub timeout: Duration,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            prices_url: Some(DEFAULT_PRICES_URL.to_owned()),
            fx_url: Some(DEFAULT_FX_URL.to_owned()),
            every: Duration::from_secs(86_400),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Which feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Prices,
    Fx,
}

impl Feed {
    /// `prices` or `fx`: the `feed_sync` row and the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Feed::Prices => "prices",
            Feed::Fx => "fx",
        }
    }

    /// The scheduled job's kind.
    pub fn job(self) -> &'static str {
        match self {
            Feed::Prices => "sync-prices",
            Feed::Fx => "sync-fx",
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub feed: Feed,
    /// The `effective_from` of the rows added: the day of the run (UTC).
    pub day: Date,
    pub added: usize,
    pub unchanged: usize,
    /// One line per change, for people (`openai/gpt-4o: 2.5/10 → 2/8 USD per 1M tokens`).
    pub changes: Vec<String>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("the blocking task failed: {e}"))?
        .map_err(|e| format!("{e:#}"))
}

/// Fetches the models listing and adds the changed prices (instance-wide rows).
pub async fn sync_prices(
    store: &Arc<Store>,
    fetcher: &dyn Fetcher,
    url: &str,
    now: OffsetDateTime,
) -> Result<SyncOutcome, String> {
    let body = fetcher.get(url).await?;
    let day = now.date();
    let import = parse_openrouter_models(&body, day)
        .map_err(|e| format!("not an OpenRouter models listing: {e}"))?;
    let (st, source) = (
        store.clone(),
        format!("synced from {url} on {}", date_text(day)),
    );
    blocking(move || {
        let book = PricingData::load(&st)?.book;
        let plan = plan_price_sync(&book, &import.rows, day).map_err(|e| anyhow::anyhow!("{e}"))?;
        let rows: Vec<PriceDbRow> = plan
            .rows
            .iter()
            .map(|r| PriceDbRow {
                org_id: String::new(),
                model_id: r.model_id.clone(),
                input_usd_per_mtok: r.price.input.to_string(),
                output_usd_per_mtok: r.price.output.to_string(),
                effective_from: date_text(day),
                source: source.clone(),
            })
            .collect();
        let added = st.insert_new_prices(&rows)?;
        let changes = plan
            .changes
            .iter()
            .map(|c| match c.before {
                Some(b) => format!(
                    "{}: {}/{} → {}/{} USD per 1M tokens (input/output)",
                    c.model_id, b.input, b.output, c.after.input, c.after.output
                ),
                None => format!(
                    "{}: new, {}/{} USD per 1M tokens (input/output)",
                    c.model_id, c.after.input, c.after.output
                ),
            })
            .collect();
        Ok(SyncOutcome {
            feed: Feed::Prices,
            day,
            added,
            unchanged: plan.unchanged,
            changes,
        })
    })
    .await
}

/// Fetches the reference rates and adds the changed USD rates.
pub async fn sync_fx(
    store: &Arc<Store>,
    fetcher: &dyn Fetcher,
    url: &str,
    now: OffsetDateTime,
) -> Result<SyncOutcome, String> {
    let body = fetcher.get(url).await?;
    let day = now.date();
    let ecb = parse_ecb_daily(&body).map_err(|e| format!("not the ECB's daily rates: {e}"))?;
    let rates = usd_rates(&ecb).map_err(|e| e.to_string())?;
    let (st, source) = (
        store.clone(),
        format!(
            "synced from {url} on {} (ECB reference rates of {})",
            date_text(day),
            date_text(ecb.date)
        ),
    );
    blocking(move || {
        let table = PricingData::load(&st)?.fx;
        let plan = plan_fx_sync(&table, &rates, day).map_err(|e| anyhow::anyhow!("{e}"))?;
        let rows: Vec<FxDbRow> = plan
            .rows
            .iter()
            .map(|r| FxDbRow {
                currency: r.currency.as_str().to_owned(),
                effective_from: date_text(day),
                usd_to: r.usd_to.to_string(),
                source: source.clone(),
            })
            .collect();
        let added = st.insert_new_fx(&rows)?;
        let changes = plan
            .changes
            .iter()
            .map(|c| match c.before {
                Some(b) => format!("{}: {b} → {} per USD", c.currency.as_str(), c.after),
                None => format!("{}: new, {} per USD", c.currency.as_str(), c.after),
            })
            .collect();
        Ok(SyncOutcome {
            feed: Feed::Fx,
            day,
            added,
            unchanged: plan.unchanged,
            changes,
        })
    })
    .await
}

/// Runs one feed's sync and records how it went: the first failure of a streak is logged as
/// a warning (later ones at debug), a success after failures says so.
pub async fn run(
    store: &Arc<Store>,
    fetcher: &dyn Fetcher,
    feed: Feed,
    url: &str,
) -> Result<SyncOutcome, String> {
    let now = clock::now();
    let result = match feed {
        Feed::Prices => sync_prices(store, fetcher, url, now).await,
        Feed::Fx => sync_fx(store, fetcher, url, now).await,
    };
    let at = clock::unix_ms(now);
    let name = feed.as_str();
    match &result {
        Ok(o) => {
            let added = i64::try_from(o.added).unwrap_or(i64::MAX);
            let st = store.clone();
            let recovered = blocking(move || Ok(st.feed_succeeded(name, at, added)?)).await?;
            if recovered {
                tracing::info!(feed = name, "the {name} sync works again");
            }
            tracing::info!(
                feed = name,
                added = o.added,
                unchanged = o.unchanged,
                "{name} synced"
            );
        }
        Err(e) => {
            let (st, err) = (store.clone(), e.chars().take(500).collect::<String>());
            let first = blocking(move || Ok(st.feed_failed(name, at, &err)?)).await?;
            if first {
                tracing::warn!(feed = name, error = %e, "the {name} sync failed; the prices in force stay, and it is retried with backoff");
            } else {
                tracing::debug!(feed = name, error = %e, "the {name} sync failed again");
            }
        }
    }
    result
}
