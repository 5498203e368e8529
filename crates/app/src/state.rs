//! What every request can reach.

use std::sync::Arc;
use std::time::Duration;

use governor::clock::DefaultClock;
use ratelimit::{KeyedLimiter, PlanLimits};
use store::{Store, Writer, WriterConfig};

use crate::auth::KeyCache;
use crate::background::JobsConfig;
use crate::context::ContextCache;
use crate::keys::KeyHasher;
use crate::metrics::Metrics;
use crate::pricing::Pricing;
use crate::read::gate::ReadGates;

/// Settings of the HTTP server (the database's are in `store::DbConfig`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Larger request bodies get 413 (API.md §1: 1 MiB).
    pub max_body_bytes: usize,
    /// A request body not read whole within this gets 408 and its connection closed (API.md §14).
    pub body_timeout: Duration,
    /// How long a verified key stays cached (at most 60 s).
    pub key_cache_ttl: Duration,
    pub plan_limits: PlanLimits,
    /// How often prices and FX rates are reloaded from the database.
    pub prices_refresh: Duration,
    /// The group-commit writer's queue and batch size.
    pub writer: WriterConfig,
    /// How long a dashboard sign-in lasts.
    pub session_ttl: Duration,
    /// Which background work runs, and how often (`background.rs`).
    pub jobs: JobsConfig,
    /// The header (lower case) a reverse proxy puts the client's address in; `None`: the TCP
    /// peer is the client.
    pub client_ip_header: Option<String>,
    /// Expensive reads (reports, summary, dashboard, share pages) one org may run at once on
    /// this instance (`read::gate`).
    pub org_read_concurrency: usize,
    /// Webhook delivery (`webhooks`).
    pub webhooks: crate::webhooks::WebhookConfig,
    /// SMTP for digest emails; `None`: no email is sent.
    pub mail: Option<crate::digests::MailSettings>,
    /// The server's address as people reach it (`HUMANHOURS_PUBLIC_URL`): `/mcp` accepts its
    /// host and origin (API.md §11).
    pub public_url: String,
    /// Further browser origins `/mcp` accepts (`HUMANHOURS_MCP_ALLOWED_ORIGINS`), e.g.
    /// `https://app.example.com`.
    pub mcp_allowed_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            body_timeout: Duration::from_secs(10),
            key_cache_ttl: Duration::from_secs(30),
            plan_limits: PlanLimits::default(),
            prices_refresh: Duration::from_secs(60),
            writer: WriterConfig::default(),
            session_ttl: Duration::from_secs(12 * 3600),
            jobs: JobsConfig::default(),
            client_ip_header: None,
            org_read_concurrency: crate::read::gate::default_concurrency(),
            webhooks: crate::webhooks::WebhookConfig::default(),
            mail: None,
            public_url: "http://127.0.0.1:8080".into(),
            mcp_allowed_origins: Vec::new(),
        }
    }
}

/// Shared application state.
pub struct App {
    pub store: Arc<Store>,
    pub hasher: KeyHasher,
    pub key_cache: KeyCache,
    pub contexts: ContextCache,
    pub limiter: KeyedLimiter<DefaultClock>,
    pub pricing: Pricing,
    pub writer: Writer,
    pub metrics: Metrics,
    /// Per-org slots for expensive reads.
    pub read_gates: ReadGates,
    pub config: ServerConfig,
}

impl App {
    /// State over an opened store. Loads prices and FX rates and starts the writer.
    pub fn new(store: Arc<Store>, hasher: KeyHasher, config: ServerConfig) -> anyhow::Result<Self> {
        let pricing = Pricing::load(&store)?;
        let writer = Writer::start(store.clone(), config.writer)?;
        Ok(Self {
            writer,
            metrics: Metrics::default(),
            key_cache: KeyCache::new(config.key_cache_ttl),
            contexts: ContextCache::new(config.key_cache_ttl),
            limiter: KeyedLimiter::new(DefaultClock::default()),
            read_gates: ReadGates::new(config.org_read_concurrency),
            pricing,
            store,
            hasher,
            config,
        })
    }
}
