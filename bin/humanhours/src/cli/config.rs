//! Configuration: every setting is an environment variable (`HUMANHOURS_…`) with a default that
//! works out of the box, and a command-line flag that overrides it. Read once, at start-up, by
//! clap; `.env.example` lists them all.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use ratelimit::{Plan, PlanLimits};
use store::{Backend, DbConfig, SqliteSync};

use app::ServerConfig;

use app::background::{JobsConfig, JobsMode};

/// HumanHours: measures what AI agents are worth.
///
/// Agents send one call per finished task; the server answers how long a human would have
/// needed, what that time costs, what the run cost and the net saving, and serves summaries,
/// reports and a dashboard. `humanhours serve` runs it (on an empty database it creates the
/// org `default` and prints its first API key); the other commands manage an existing database.
/// Every flag can also be set by the environment variable named in its help (`.env.example`).
#[derive(Debug, Parser)]
#[command(name = "humanhours", version)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArgs,
    /// Log filter: error, warn, info (every request), debug, or a tracing filter such as
    /// `warn,humanhours=info`. Logs go to stderr, in colour only on a terminal.
    #[arg(long, global = true, env = "HUMANHOURS_LOG", default_value = "info")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives and how keys are peppered.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database URL: a SQLite file (`sqlite://PATH` or a plain path) or `postgres://…`.
    #[arg(
        long,
        global = true,
        env = "HUMANHOURS_DATABASE_URL",
        default_value = "sqlite://humanhours.db"
    )]
    pub database_url: String,
    /// Connections in the pool (PostgreSQL), or reader connections (SQLite).
    #[arg(
        long,
        global = true,
        env = "HUMANHOURS_DB_POOL_SIZE",
        default_value_t = 8
    )]
    pub db_pool_size: u32,
    /// How long a request waits for the database before answering 503 unavailable.
    #[arg(
        long,
        global = true,
        env = "HUMANHOURS_DB_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub db_timeout_ms: u64,
    /// SQLite durability: `full` (a commit survives power loss) or `normal` (survives a
    /// process crash; the last commits may be lost on power loss).
    #[arg(
        long,
        global = true,
        env = "HUMANHOURS_SQLITE_SYNCHRONOUS",
        default_value = "full"
    )]
    pub sqlite_synchronous: String,
    /// The secret mixed into every key hash. Required for PostgreSQL (all instances must
    /// share it); for SQLite, when neither this nor a pepper file is given, a pepper is
    /// generated once into `<database file>.pepper`.
    #[arg(long, global = true, env = "HUMANHOURS_PEPPER", hide_env_values = true)]
    pub pepper: Option<String>,
    /// A file holding the pepper.
    #[arg(long, global = true, env = "HUMANHOURS_PEPPER_FILE")]
    pub pepper_file: Option<PathBuf>,
}

impl DbArgs {
    /// The store's settings. Refuses a URL of another scheme (`mysql://…` would otherwise be
    /// taken for a file name) and a SQLite file in a directory that does not exist, by name.
    pub fn db_config(&self) -> anyhow::Result<DbConfig> {
        let url = self.database_url.trim();
        if let Some((scheme, _)) = url.split_once("://") {
            if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
                bail!(
                    "HUMANHOURS_DATABASE_URL: '{scheme}://' is not supported; use sqlite://PATH (or a plain file path) or postgres://USER@HOST/DB"
                );
            }
        }
        let mut c = DbConfig::new(url);
        if let Some(dir) = sqlite_dir(&c) {
            if !dir.is_dir() {
                bail!(
                    "the directory {} of the SQLite database {} does not exist; create it, or set HUMANHOURS_DATABASE_URL",
                    dir.display(),
                    c.sqlite_path()
                );
            }
        }
        if self.db_pool_size == 0 {
            bail!("HUMANHOURS_DB_POOL_SIZE must be at least 1");
        }
        c.pool_size = self.db_pool_size;
        c.connect_timeout = Duration::from_millis(self.db_timeout_ms.max(1));
        c.sqlite_sync = SqliteSync::parse(&self.sqlite_synchronous)
            .context("HUMANHOURS_SQLITE_SYNCHRONOUS must be 'full' or 'normal'")?;
        Ok(c)
    }

    /// For every command but `serve` and `migrate`: the SQLite file must exist already, so a
    /// command run in the wrong directory says so instead of creating an empty database (and
    /// a pepper) there.
    pub fn require_existing_database(&self) -> anyhow::Result<()> {
        let c = self.db_config()?;
        if c.backend() == Backend::Sqlite && !std::path::Path::new(c.sqlite_path()).exists() {
            bail!(
                "no database at {} (HUMANHOURS_DATABASE_URL={}): `humanhours serve` creates one with a first org and key, `humanhours migrate` an empty one; or point --database-url at an existing one",
                c.sqlite_path(),
                self.database_url
            );
        }
        Ok(())
    }

    /// The pepper: given, read from a file, or (SQLite only) made once beside a database that
    /// does not exist yet; a database that exists without its pepper file is an error.
    pub fn pepper(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(p) = &self.pepper {
            if p.len() < 16 {
                bail!("HUMANHOURS_PEPPER must be at least 16 characters");
            }
            return Ok(p.as_bytes().to_vec());
        }
        let config = self.db_config()?;
        let path = match (&self.pepper_file, config.backend()) {
            (Some(path), _) => path.clone(),
            (None, Backend::Sqlite) => PathBuf::from(format!("{}.pepper", config.sqlite_path())),
            (None, Backend::Postgres) => bail!(
                "PostgreSQL needs a pepper shared by every instance: set HUMANHOURS_PEPPER or HUMANHOURS_PEPPER_FILE"
            ),
        };
        if !path.exists() {
            if self.pepper_file.is_some() {
                bail!("pepper file {} does not exist", path.display());
            }
            // A new pepper only for a new database: for one that exists, a new pepper would
            // silently make every key it holds fail to verify.
            if std::path::Path::new(config.sqlite_path()).exists() {
                bail!(
                    "the key pepper {} is missing, but the database {} exists: its API keys cannot be verified without the pepper they were made with. Restore the file from the backup you keep with the database, or give the pepper with HUMANHOURS_PEPPER or HUMANHOURS_PEPPER_FILE",
                    path.display(),
                    config.sqlite_path()
                );
            }
            let fresh: [u8; 32] = rand::random();
            let text: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
            write_secret(&path, &text)?;
            tracing::info!(path = %path.display(), "generated a new key pepper");
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading pepper file {}", path.display()))?;
        let text = text.trim();
        if text.len() < 16 {
            bail!(
                "pepper file {} must hold at least 16 characters",
                path.display()
            );
        }
        Ok(text.as_bytes().to_vec())
    }
}

/// The directory of a SQLite database file, when it names one.
fn sqlite_dir(c: &DbConfig) -> Option<PathBuf> {
    if c.backend() != Backend::Sqlite {
        return None;
    }
    let path = c.sqlite_path();
    if path.is_empty() || path.starts_with(':') || path.starts_with("file:") {
        return None;
    }
    let parent = std::path::Path::new(path).parent()?;
    (!parent.as_os_str().is_empty()).then(|| parent.to_path_buf())
}

fn write_secret(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating pepper file {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// The HTTP server's settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HUMANHOURS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "HUMANHOURS_WORKERS")]
    pub workers: Option<usize>,
    /// Seconds a verified API key stays cached (1–60): revocation elsewhere takes effect
    /// within this time.
    #[arg(long, env = "HUMANHOURS_KEY_CACHE_TTL_SECS", default_value_t = 30)]
    pub key_cache_ttl_secs: u64,
    /// Requests per second per key on the free plan.
    #[arg(long, env = "HUMANHOURS_RATE_LIMIT_FREE", default_value_t = 60)]
    pub rate_limit_free: u32,
    /// Requests per second per key on the pro plan.
    #[arg(long, env = "HUMANHOURS_RATE_LIMIT_PRO", default_value_t = 200)]
    pub rate_limit_pro: u32,
    /// Requests per second per key on the enterprise plan.
    #[arg(long, env = "HUMANHOURS_RATE_LIMIT_ENTERPRISE", default_value_t = 1000)]
    pub rate_limit_enterprise: u32,
    /// Requests per second per key on the agency plan (anchors and workspaces).
    #[arg(long, env = "HUMANHOURS_RATE_LIMIT_AGENCY", default_value_t = 500)]
    pub rate_limit_agency: u32,
    /// Seconds between reloads of imported prices and FX rates.
    #[arg(long, env = "HUMANHOURS_PRICES_REFRESH_SECS", default_value_t = 60)]
    pub prices_refresh_secs: u64,
    /// Track requests that may wait for the writer before new ones get 503 (back-pressure).
    #[arg(long, env = "HUMANHOURS_WRITE_QUEUE", default_value_t = 4096)]
    pub write_queue: usize,
    /// Most events committed in one transaction by the group-commit writer.
    #[arg(long, env = "HUMANHOURS_WRITE_BATCH", default_value_t = 1000)]
    pub write_batch: usize,
    /// SQLite: longest time, in milliseconds, committed events wait before the writer folds them
    /// into the report rollups (reports count them from the events meanwhile).
    #[arg(long, env = "HUMANHOURS_ROLLUP_INTERVAL_MS", default_value_t = 500)]
    pub rollup_interval_ms: u64,
    /// Hours a dashboard sign-in lasts (1–720).
    #[arg(long, env = "HUMANHOURS_SESSION_TTL_HOURS", default_value_t = 12)]
    pub session_ttl_hours: u64,
    /// Seconds within which a request's body must arrive whole (1–600); slower: 408 and the
    /// connection closed.
    #[arg(long, env = "HUMANHOURS_BODY_TIMEOUT_SECS", default_value_t = 10)]
    pub body_timeout_secs: u64,
    /// Behind a reverse proxy: the header in which the proxy puts the client's address
    /// (e.g. `X-Forwarded-For`; the last address in it counts, the one the proxy added).
    /// Unset: the TCP peer's address. The limits on failed key checks count per address.
    #[arg(long, env = "HUMANHOURS_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Expensive reads (summary, reports, agents list, dashboard and share pages) one org may
    /// run at once on this instance; more wait (up to 8, up to 5 s), then get 429. Default:
    /// half the cores, at least 1.
    #[arg(long, env = "HUMANHOURS_ORG_READ_CONCURRENCY")]
    pub org_read_concurrency: Option<usize>,
    /// Background jobs: `on` (serve HTTP and run jobs), `off` (serve HTTP only; the instance
    /// still refreshes its own caches, and other instances run the jobs), `only` (run jobs
    /// without serving HTTP).
    #[arg(
        long,
        env = "HUMANHOURS_JOBS",
        default_value_t = JobsMode::On,
        value_parser = clap::builder::TypedValueParser::map(
            clap::builder::PossibleValuesParser::new(["on", "off", "only"]),
            |s| s.parse::<JobsMode>().unwrap_or(JobsMode::On),
        )
    )]
    pub jobs: JobsMode,
    /// Longest wait, in milliseconds, between two looks at the job queue (10–60000).
    #[arg(long, env = "HUMANHOURS_JOB_POLL_MS", default_value_t = 1000)]
    pub job_poll_ms: u64,
    /// Seconds between two retention sweeps across the instances that run jobs (5–86400).
    #[arg(long, env = "HUMANHOURS_RETENTION_SWEEP_SECS", default_value_t = 600)]
    pub retention_sweep_secs: u64,
    /// Networks webhook deliveries may reach although they are loopback, private or
    /// link-local (CIDR list, e.g. `10.0.0.0/8,127.0.0.1/32`): your own receivers' networks.
    /// Unset: only public addresses.
    #[arg(long, env = "HUMANHOURS_WEBHOOK_ALLOW_NETS", default_value = "")]
    pub webhook_allow_nets: String,
    /// Seconds one webhook attempt may take, connecting included (1–60).
    #[arg(long, env = "HUMANHOURS_WEBHOOK_TIMEOUT_SECS", default_value_t = 15)]
    pub webhook_timeout_secs: u64,
    /// Webhook attempts in flight at once on this instance (1–4096).
    #[arg(long, env = "HUMANHOURS_WEBHOOK_CONCURRENCY", default_value_t = 64)]
    pub webhook_concurrency: usize,
    /// Webhook attempts in flight at once for one org on this instance (1–4096), so one org's
    /// slow receivers cannot hold every slot.
    #[arg(long, env = "HUMANHOURS_WEBHOOK_ORG_CONCURRENCY", default_value_t = 32)]
    pub webhook_org_concurrency: usize,
    /// Webhook attempts in flight at once to one endpoint on this instance (1–1024).
    #[arg(
        long,
        env = "HUMANHOURS_WEBHOOK_ENDPOINT_CONCURRENCY",
        default_value_t = 16
    )]
    pub webhook_endpoint_concurrency: usize,
    /// Browser origins besides the public URL's that may call `/mcp` (comma list, e.g.
    /// `https://app.example.com`). Requests without an `Origin` (assistants, curl) always may.
    #[arg(long, env = "HUMANHOURS_MCP_ALLOWED_ORIGINS", default_value = "")]
    pub mcp_allowed_origins: String,
    #[command(flatten)]
    pub mail: MailArgs,
    #[command(flatten)]
    pub feeds: FeedArgs,
}

/// Where the daily price and FX syncs fetch from.
#[derive(Debug, Clone, Args)]
pub struct FeedArgs {
    /// The models listing the daily price sync reads (OpenRouter's format), or `off`.
    #[arg(long, env = "HUMANHOURS_PRICES_SYNC_URL", default_value = app::feeds::DEFAULT_PRICES_URL)]
    pub prices_sync_url: String,
    /// The daily reference-rate feed the FX sync reads (the ECB's daily XML), or `off`.
    #[arg(long, env = "HUMANHOURS_FX_SYNC_URL", default_value = app::feeds::DEFAULT_FX_URL)]
    pub fx_sync_url: String,
}

/// A feed URL: `off` (or empty) turns its sync off; otherwise an http(s) URL.
pub fn feed_url(value: &str, name: &str) -> anyhow::Result<Option<String>> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(v.to_owned())),
        _ => bail!("{name} '{v}' must be an http or https URL, or off"),
    }
}

impl FeedArgs {
    pub fn config(&self) -> anyhow::Result<app::feeds::FeedConfig> {
        Ok(app::feeds::FeedConfig {
            prices_url: feed_url(&self.prices_sync_url, "HUMANHOURS_PRICES_SYNC_URL")?,
            fx_url: feed_url(&self.fx_sync_url, "HUMANHOURS_FX_SYNC_URL")?,
            ..app::feeds::FeedConfig::default()
        })
    }
}

/// Where digest emails go, and the address people reach the server at (digest links).
#[derive(Debug, Clone, Args)]
pub struct MailArgs {
    /// SMTP server for digest emails: `smtp://user:pass@host:587` (STARTTLS), `smtps://…:465`
    /// (TLS) or `smtp+plain://host:25` (no TLS, a local relay). Unset: no email is sent.
    #[arg(long, env = "HUMANHOURS_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The sender of digest emails.
    #[arg(
        long,
        env = "HUMANHOURS_MAIL_FROM",
        default_value = "HumanHours <humanhours@localhost>"
    )]
    pub mail_from: String,
    /// The server's address as people reach it: digests link to its dashboard.
    #[arg(
        long,
        env = "HUMANHOURS_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
}

impl MailArgs {
    /// The SMTP settings, checked (a wrong URL or sender fails here, before anything starts).
    pub fn settings(&self) -> anyhow::Result<Option<app::digests::MailSettings>> {
        let Some(url) = self
            .smtp_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        let settings = app::digests::MailSettings {
            smtp_url: url.to_owned(),
            from: self.mail_from.clone(),
        };
        crate::digest::mail::SmtpMailer::new(&settings)?;
        Ok(Some(settings))
    }

    /// The public URL, checked.
    pub fn public_url(&self) -> anyhow::Result<String> {
        let u = self.public_url.trim().trim_end_matches('/');
        match url::Url::parse(u) {
            Ok(p) if matches!(p.scheme(), "http" | "https") => Ok(u.to_owned()),
            _ => bail!("HUMANHOURS_PUBLIC_URL '{u}' must be an http or https URL such as https://roi.example.com"),
        }
    }
}

impl ServeArgs {
    /// The server's settings, checked.
    pub fn server_config(&self) -> anyhow::Result<ServerConfig> {
        if !(1..=60).contains(&self.key_cache_ttl_secs) {
            bail!("HUMANHOURS_KEY_CACHE_TTL_SECS must be from 1 to 60");
        }
        let rate = |n: u32, name: &str| {
            NonZeroU32::new(n).with_context(|| format!("{name} must be at least 1"))
        };
        let limits = PlanLimits::default()
            .with_per_second(
                Plan::Free,
                rate(self.rate_limit_free, "HUMANHOURS_RATE_LIMIT_FREE")?,
            )
            .with_per_second(
                Plan::Pro,
                rate(self.rate_limit_pro, "HUMANHOURS_RATE_LIMIT_PRO")?,
            )
            .with_per_second(
                Plan::Enterprise,
                rate(
                    self.rate_limit_enterprise,
                    "HUMANHOURS_RATE_LIMIT_ENTERPRISE",
                )?,
            )
            .with_per_second(
                Plan::Agency,
                rate(self.rate_limit_agency, "HUMANHOURS_RATE_LIMIT_AGENCY")?,
            );
        if !(1..=600).contains(&self.body_timeout_secs) {
            bail!("HUMANHOURS_BODY_TIMEOUT_SECS must be from 1 to 600");
        }
        if !(1..=720).contains(&self.session_ttl_hours) {
            bail!("HUMANHOURS_SESSION_TTL_HOURS must be from 1 to 720");
        }
        if !(10..=60_000).contains(&self.job_poll_ms) {
            bail!("HUMANHOURS_JOB_POLL_MS must be from 10 to 60000");
        }
        if !(5..=86_400).contains(&self.retention_sweep_secs) {
            bail!("HUMANHOURS_RETENTION_SWEEP_SECS must be from 5 to 86400");
        }
        let client_ip_header = match self.client_ip_header.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(h) => Some(
                actix_web::http::header::HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| {
                        anyhow::anyhow!("HUMANHOURS_CLIENT_IP_HEADER '{h}' is not a header name")
                    })?
                    .as_str()
                    .to_owned(),
            ),
        };
        if self.org_read_concurrency == Some(0) {
            bail!("HUMANHOURS_ORG_READ_CONCURRENCY must be at least 1");
        }
        let allow_nets = webhooks::address::AllowNets::parse(&self.webhook_allow_nets)
            .map_err(|bad| {
                anyhow::anyhow!(
                    "HUMANHOURS_WEBHOOK_ALLOW_NETS: '{bad}' is not a network (write e.g. 10.0.0.0/8 or 127.0.0.1/32)"
                )
            })?;
        if !(1..=60).contains(&self.webhook_timeout_secs) {
            bail!("HUMANHOURS_WEBHOOK_TIMEOUT_SECS must be from 1 to 60");
        }
        if !(1..=4096).contains(&self.webhook_concurrency) {
            bail!("HUMANHOURS_WEBHOOK_CONCURRENCY must be from 1 to 4096");
        }
        if !(1..=4096).contains(&self.webhook_org_concurrency) {
            bail!("HUMANHOURS_WEBHOOK_ORG_CONCURRENCY must be from 1 to 4096");
        }
        if !(1..=1024).contains(&self.webhook_endpoint_concurrency) {
            bail!("HUMANHOURS_WEBHOOK_ENDPOINT_CONCURRENCY must be from 1 to 1024");
        }
        Ok(ServerConfig {
            webhooks: app::webhooks::WebhookConfig {
                allow_nets,
                timeout: Duration::from_secs(self.webhook_timeout_secs),
                concurrency: self.webhook_concurrency,
                org_concurrency: self.webhook_org_concurrency,
                endpoint_concurrency: self.webhook_endpoint_concurrency,
                poll_interval: Duration::from_millis(self.job_poll_ms),
                ..app::webhooks::WebhookConfig::default()
            },
            client_ip_header,
            org_read_concurrency: self
                .org_read_concurrency
                .unwrap_or_else(app::read::gate::default_concurrency),
            session_ttl: Duration::from_secs(self.session_ttl_hours * 3600),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            jobs: JobsConfig {
                mode: self.jobs,
                poll_interval: Duration::from_millis(self.job_poll_ms),
                sweep_every: Duration::from_secs(self.retention_sweep_secs),
                digests: app::digests::DigestConfig {
                    public_url: self.mail.public_url()?,
                    ..app::digests::DigestConfig::default()
                },
                feeds: self.feeds.config()?,
                ..JobsConfig::default()
            },
            mail: self.mail.settings()?,
            public_url: self.mail.public_url()?,
            mcp_allowed_origins: crate::http::mcp::parse_origins(&self.mcp_allowed_origins)?,
            key_cache_ttl: Duration::from_secs(self.key_cache_ttl_secs),
            plan_limits: limits,
            prices_refresh: Duration::from_secs(self.prices_refresh_secs.max(1)),
            writer: store::WriterConfig {
                queue_capacity: self.write_queue.max(1),
                max_batch: self.write_batch.max(1),
                rollup_interval: Duration::from_millis(self.rollup_interval_ms.clamp(1, 60_000)),
                ..store::WriterConfig::default()
            },
            ..ServerConfig::default()
        })
    }
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (creates an org and a key on an empty database).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage orgs.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage agents.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Manage the model price book.
    #[command(subcommand)]
    Prices(PricesCommand),
    /// Manage USD exchange rates.
    #[command(subcommand)]
    Fx(FxCommand),
    /// Read-only share links to an org's dashboard overview.
    #[command(subcommand)]
    Share(ShareCommand),
    /// Weekly digests: preview one, or send one again.
    #[command(subcommand)]
    Digest(DigestCommand),
    /// Retention: delete events past their org's retention now (servers do it every 10
    /// minutes).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Development tools.
    #[command(subcommand)]
    Dev(DevCommand),
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Delete every org's events past its retention (with their audit samples), in chunks;
    /// rollups are kept. Prints how many went.
    Sweep {
        /// At most this many chunks of 500 events (the scheduled sweep does 2,000).
        #[arg(long, default_value_t = 1_000_000)]
        max_chunks: u32,
        /// Milliseconds between two chunks. On SQLite a running server's writer is another
        /// process here, which SQLite's lock does not queue fairly: leave it room.
        #[arg(long, default_value_t = 200)]
        pause_ms: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShareCommand {
    /// Create a share link; prints its URL alone on stdout (the only time the token is shown).
    Create {
        /// Org id or name.
        #[arg(long)]
        org: String,
        /// How long the link works: 30d, 12h, 2w, or never.
        #[arg(long, default_value = "30d")]
        expires: String,
        /// A note shown on the shared page and in `share list` (e.g. who it is for).
        #[arg(long)]
        label: Option<String>,
        /// The server's address as people reach it; the link is printed under it.
        #[arg(
            long,
            env = "HUMANHOURS_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        public_url: String,
    },
    /// List an org's share links (ids and token prefixes, never tokens).
    List {
        /// Org id or name.
        #[arg(long)]
        org: String,
    },
    /// Revoke a share link by its id, its token's 8-character prefix, or the whole link.
    Revoke {
        /// The link's id (`shr_…`), its token's prefix, or the whole URL.
        token_prefix_or_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Write realistic events (with their rollups) for benchmarks and demos. They do not count
    /// toward the monthly quota.
    Seed {
        /// The org (id or name).
        #[arg(long)]
        org: String,
        /// How many events.
        #[arg(long)]
        events: u64,
        /// Spread over this many days before now.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// How many agents.
        #[arg(long, default_value_t = 25)]
        agents: usize,
        /// Random seed (same seed, same events).
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an org; prints its id alone on stdout.
    Create {
        /// A unique name (also accepted wherever a command takes an org).
        #[arg(long)]
        name: String,
        /// free, pro, agency or enterprise (API.md §3, §12: rate limits, quota, Pro features).
        /// A workspace (--parent) is always agency.
        #[arg(long, default_value = "free", value_parser = ["free", "pro", "agency", "enterprise"], default_value_if("parent", clap::builder::ArgPredicate::IsPresent, "agency"))]
        plan: String,
        /// ISO 4217 code of the org's money figures.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// Cost of one human hour in that currency, when no agent or task sets one.
        #[arg(long, default_value = "45")]
        hourly_rate: String,
        /// Baseline minutes for a task type the catalogue does not know (default: such an
        /// event is refused with 422 unknown_task_type).
        #[arg(long)]
        fallback_baseline_minutes: Option<String>,
        /// Hard cap on events per calendar month (not on the agency plan).
        #[arg(long)]
        monthly_event_cap: Option<u64>,
        /// Make the org a workspace of this agency anchor (id or name): it shares the
        /// anchor's monthly pool, and the anchor's keys may read it (at most 4 per anchor).
        #[arg(long)]
        parent: Option<String>,
    },
    /// List orgs.
    List,
    /// Change an org's settings.
    Set {
        /// Org id or name.
        org: String,
        /// A new unique name.
        #[arg(long)]
        name: Option<String>,
        /// free, pro, agency or enterprise (not for a workspace, nor an anchor with workspaces).
        #[arg(long, value_parser = ["free", "pro", "agency", "enterprise"])]
        plan: Option<String>,
        /// ISO 4217 code; stored events keep the currency they were valued in.
        #[arg(long)]
        currency: Option<String>,
        /// Cost of one human hour, for events valued from now on.
        #[arg(long)]
        hourly_rate: Option<String>,
        /// Minutes, or `none` to clear.
        #[arg(long)]
        fallback_baseline_minutes: Option<String>,
        /// Events, or `none` to clear.
        #[arg(long)]
        monthly_event_cap: Option<String>,
        /// IANA time zone of the org's weeks (digests): Europe/Berlin, America/New_York, UTC.
        #[arg(long)]
        timezone: Option<String>,
        /// Digest recipients, comma-separated (at most 10), or `none` to clear.
        #[arg(long)]
        digest_to: Option<String>,
        /// Days events are kept (1 to 3650), or `none` for the plan's (free 30, pro and agency
        /// 365, enterprise 730). Older events are deleted by the background sweep.
        #[arg(long)]
        retention_days: Option<String>,
    },
    /// Write everything held about an org as JSON lines (settings, agents, task types,
    /// overrides, keys without hashes, webhooks without secrets, digests, every kept event).
    Export {
        /// Org id or name.
        org: String,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Delete an org and every row of it, at once. Irreversible: export it first. An agency
    /// anchor's workspaces must be deleted before it.
    Delete {
        /// Org id or name.
        org: String,
        /// The org's name again, to confirm.
        #[arg(long)]
        confirm: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// Print an org's weekly digest without sending it.
    Preview {
        /// Org id or name.
        #[arg(long)]
        org: String,
        /// ISO week, e.g. 2026-W48. Default: the last complete week in the org's zone.
        #[arg(long)]
        week: Option<String>,
        /// text, html or json (the webhook's data).
        #[arg(long, default_value = "text", value_parser = ["text", "html", "json"])]
        format: String,
        #[command(flatten)]
        mail: MailArgs,
    },
    /// Send an org's weekly digest again, on purpose: email to its current recipients and the
    /// `weekly.digest` webhook. Queued: a running server (with jobs on) sends it.
    Send {
        /// Org id or name.
        #[arg(long)]
        org: String,
        /// ISO week, e.g. 2026-W48.
        #[arg(long)]
        week: String,
        #[command(flatten)]
        mail: MailArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key; prints it alone on stdout (the only time it is shown).
    Create {
        /// Org id or name.
        #[arg(long)]
        org: String,
        /// A test key (`hh_test_…`).
        #[arg(long)]
        test: bool,
        /// What the key may do: any of track, read, admin, comma-separated (default: all
        /// three). Give an agent a `track`-only key.
        #[arg(long, default_value = "track,read,admin")]
        scopes: String,
        /// What the key is for (shown in `key list` and `GET /api/v1/keys`).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List an org's keys (prefixes only).
    List {
        /// Org id or name.
        #[arg(long)]
        org: String,
    },
    /// Revoke a key by its 8-character prefix.
    Revoke {
        /// The 8 characters after `hh_live_` or `hh_test_` (as `key list` shows them).
        prefix: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Set an agent's own hourly rate (`none` clears it).
    SetRate {
        /// Org id or name.
        #[arg(long)]
        org: String,
        /// The agent, as its events name it (created if it has sent none yet).
        agent_id: String,
        /// Cost of one human hour in the org's currency, or `none` to use the org's.
        rate: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Import prices: the shipped CSV format or an OpenRouter models JSON document.
    Import {
        /// The file: CSV `model_id,input_usd_per_mtok,output_usd_per_mtok,effective_from[,source]`
        /// (as `fixtures/price-book.csv`) or OpenRouter's `/api/v1/models` JSON.
        file: PathBuf,
        /// Import as this org's own prices (default: instance-wide).
        #[arg(long)]
        org: Option<String>,
        /// effective_from for an OpenRouter document's rows (default: today, UTC).
        #[arg(long)]
        effective_from: Option<String>,
    },
    /// Run the daily price sync once now: fetch the listing, add today's rows for changed and
    /// new models, print what changed.
    Sync {
        /// The listing to read (default: HUMANHOURS_PRICES_SYNC_URL, OpenRouter's public one).
        #[arg(long, env = "HUMANHOURS_PRICES_SYNC_URL", default_value = app::feeds::DEFAULT_PRICES_URL)]
        url: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum FxCommand {
    /// Import rates: CSV `currency,usd_to,effective_from[,source]`.
    Import {
        /// The CSV file (`usd_to`: units of the currency for one US dollar).
        file: PathBuf,
    },
    /// Run the daily FX sync once now: fetch the reference rates, add today's rows for changed
    /// rates, print what changed.
    Sync {
        /// The feed to read (default: HUMANHOURS_FX_SYNC_URL, the ECB's daily XML).
        #[arg(long, env = "HUMANHOURS_FX_SYNC_URL", default_value = app::feeds::DEFAULT_FX_URL)]
        url: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        if cmd.get_about().is_none() {
            missing.push(format!("{path}: no text"));
        }
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id != "help" && id != "version" && a.get_help().is_none() {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }

    /// Every command, flag and argument says what it is in its `--help`.
    #[test]
    fn every_command_and_argument_has_help() {
        let cmd = Cli::command();
        let mut missing = Vec::new();
        walk(&cmd, "humanhours", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:?}");
        let about = cmd.get_about().map(ToString::to_string).unwrap_or_default();
        assert!(about.contains("what AI agents are worth"), "{about}");
    }

    #[test]
    fn database_urls_of_other_schemes_and_missing_directories_are_refused_by_name() {
        let args = |url: &str| DbArgs {
            database_url: url.to_owned(),
            db_pool_size: 8,
            db_timeout_ms: 5000,
            sqlite_synchronous: "full".to_owned(),
            pepper: None,
            pepper_file: None,
        };
        let err = |url: &str| args(url).db_config().unwrap_err().to_string();
        assert!(err("mysql://x@y/z").contains("'mysql://' is not supported"));
        assert!(err("sqlite:///no/such/dir/h.db").contains("the directory /no/such/dir"));
        assert!(err("/no/such/dir/h.db").contains("the directory /no/such/dir"));
        assert!(args("sqlite://humanhours.db").db_config().is_ok());
        assert!(args("postgres://u@h/db").db_config().is_ok());
    }
}
