//! Connecting, pooling, migrating, and the two macros that run one repository body on either
//! backend.

use std::time::Duration;

use anyhow::Context as _;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PoolError};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Runs `$body` with `$c: &mut` a pooled connection of whichever backend the store uses. The
/// body is compiled once per backend.
macro_rules! with_conn {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.pools {
            $crate::db::Pools::Sqlite { read, .. } => {
                let mut pooled = read.get().map_err($crate::StoreError::from)?;
                let $c: &mut diesel::sqlite::SqliteConnection = &mut pooled;
                $body
            }
            $crate::db::Pools::Pg(pool) => {
                let mut pooled = pool.get().map_err($crate::StoreError::from)?;
                let $c: &mut diesel::pg::PgConnection = &mut pooled;
                $body
            }
        }
    };
}

/// Runs `$body` (which returns `Result<T, E>` with `E: From<diesel::result::Error>`) in a write
/// transaction: `BEGIN IMMEDIATE` on SQLite's single writer connection, so the transaction holds
/// the write lock from its first statement and never fails on a lock upgrade; a plain
/// transaction on PostgreSQL, where row locks and unique constraints do the serializing.
macro_rules! with_tx {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.pools {
            $crate::db::Pools::Sqlite { write, .. } => {
                let mut pooled = write.get().map_err($crate::StoreError::from)?;
                let conn: &mut diesel::sqlite::SqliteConnection = &mut pooled;
                conn.immediate_transaction(|$c| $body)
            }
            $crate::db::Pools::Pg(pool) => {
                let mut pooled = pool.get().map_err($crate::StoreError::from)?;
                let conn: &mut diesel::pg::PgConnection = &mut pooled;
                diesel::Connection::transaction(conn, |$c| $body)
            }
        }
    };
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite's `synchronous` setting under WAL: what a committed transaction survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSync {
    /// Survives a crash of the process; the last commits may be lost on power loss or an OS
    /// crash (the WAL is fsynced at checkpoints, not at every commit).
    Normal,
    /// Survives power loss too: every commit fsyncs the WAL.
    Full,
}

impl SqliteSync {
    /// Parses `normal` or `full`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "normal" => Some(Self::Normal),
            "full" => Some(Self::Full),
            _ => None,
        }
    }

    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `postgres://…`/`postgresql://…`, or for SQLite `sqlite://PATH`, `sqlite:PATH` or a path.
    pub url: String,
    /// Connections in the pool (PostgreSQL) or readers (SQLite; SQLite has one writer).
    pub pool_size: u32,
    /// How long a request waits for a connection before the store answers `Unavailable`.
    pub connect_timeout: Duration,
    pub sqlite_sync: SqliteSync,
}

impl DbConfig {
    /// A config with the defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            sqlite_sync: SqliteSync::Full,
        }
    }

    /// The backend the URL names.
    pub fn backend(&self) -> Backend {
        if self.url.starts_with("postgres://") || self.url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The SQLite file path the URL names.
    pub fn sqlite_path(&self) -> &str {
        let u = self.url.as_str();
        u.strip_prefix("sqlite://")
            .or_else(|| u.strip_prefix("sqlite:"))
            .unwrap_or(u)
    }
}

/// A storage failure. `Unavailable` means the database could not be reached in time (answered
/// as 503 with Retry-After); `Query` is anything else the database said.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(diesel::result::Error),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A batch the caller was part of failed for another item's or the commit's reason.
    #[error("write failed: {0}")]
    Failed(String),
    /// A rule checked inside the transaction refused the change (e.g. an anchor that still has
    /// workspaces); nothing was written. The message is for the operator.
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    /// True when a unique constraint refused the write (e.g. a name another row has).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &e {
            // SQLite answers "database is locked" once busy_timeout has passed: the database is
            // there but cannot take the write now, which is an outage to the caller.
            Error::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().contains("database is locked") =>
            {
                StoreError::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            // libpq reports a connection lost mid-statement with these words, whatever kind
            // diesel gives it: the database went away, it did not refuse the statement.
            Error::DatabaseError(_, info)
                if [
                    "server closed the connection",
                    "terminating connection",
                    "could not connect",
                    "no connection to the server",
                    "connection to server",
                ]
                .iter()
                .any(|m| info.message().contains(m)) =>
            {
                StoreError::Unavailable(info.message().to_owned())
            }
            _ => StoreError::Query(e),
        }
    }
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// WAL pages after which the writer connection checkpoints inside its own commit. The
/// checkpointer thread (`writer.rs`) normally copies the WAL back long before that, out of the
/// writer's way; this is the backstop that bounds the WAL (about 40 MB) when it cannot, because
/// under continuous writes only a checkpoint run by the writer between two of its own
/// transactions lets the WAL start over. SQLite's default (1,000) checkpointed about 40 times
/// a second under load, each time fsyncing and rewriting the same hot index pages: a quarter of
/// the writer's time (`docs/decisions.md`, "Where ingest time goes").
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 10_000;

#[derive(Debug)]
struct SqlitePragmas {
    sync: SqliteSync,
    /// `wal_autocheckpoint` for this connection; `None` keeps SQLite's default.
    autocheckpoint: Option<u32>,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // busy_timeout first, so the statements after it wait for a busy database instead of
        // failing. journal_mode=WAL is persistent: set once when the store opens.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = {};",
            self.sync.pragma()
        ))
        .map_err(diesel::r2d2::Error::QueryError)?;
        if let Some(pages) = self.autocheckpoint {
            conn.batch_execute(&format!("PRAGMA wal_autocheckpoint = {pages};"))
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

pub(crate) type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;
pub(crate) type PgPool = Pool<ConnectionManager<PgConnection>>;

pub(crate) enum Pools {
    /// Readers share a pool; every write goes through the single writer connection, so writers
    /// queue in-process instead of spinning on SQLite's lock.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        /// The writer's `synchronous` setting (outbox transactions lower it for their own
        /// commit and put it back: `repo/webhooks.rs`).
        sync: SqliteSync,
    },
    Pg(PgPool),
}

/// What a WAL checkpoint did: `log` pages in the WAL, `checkpointed` of them now in the
/// database file; `busy` when another checkpoint or a writer kept it from finishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::QueryableByName)]
pub struct Checkpoint {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub busy: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub log: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub checkpointed: i32,
}

/// One pool's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub name: &'static str,
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

/// The database: pools plus every repository method (in `repo`).
pub struct Store {
    pub(crate) pools: Pools,
    /// The local delivery worker: handed a commit's fresh deliveries, woken when others are
    /// due (`repo/webhooks.rs`).
    pub(crate) outbox_sink: std::sync::OnceLock<std::sync::Arc<dyn crate::OutboxSink>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish()
    }
}

/// Initialises OpenSSL, which libpq uses for TLS, WITHOUT the exit handler it would otherwise
/// register. That handler (`OPENSSL_cleanup`) frees OpenSSL's global state while the process
/// exits, and a connection pool's thread that is opening or closing a PostgreSQL connection at
/// that moment then crashes the process with SIGSEGV (openssl/openssl#6214; CI saw a test
/// binary that had passed die this way). Must run before the first PostgreSQL connection:
/// whoever initialises OpenSSL first decides. [`Store::open`] calls it; so must anything else
/// that connects to PostgreSQL with diesel or libpq directly (the tests' admin connections).
pub fn init_tls() {
    openssl_sys::init();
}

impl Store {
    /// Connects, runs pending migrations, and builds the pools. Fails with the database's own
    /// message when it cannot be reached.
    pub fn open(config: &DbConfig) -> anyhow::Result<Store> {
        init_tls();
        match config.backend() {
            Backend::Sqlite => {
                let path = config.sqlite_path();
                if path.is_empty() || path == ":memory:" {
                    anyhow::bail!(
                        "an in-memory SQLite database cannot be shared by a connection pool; give a file path"
                    );
                }
                let mut conn = SqliteConnection::establish(path)
                    .with_context(|| format!("opening SQLite database {path}"))?;
                SqlitePragmas {
                    sync: config.sqlite_sync,
                    autocheckpoint: None,
                }
                .on_acquire(&mut conn)
                .context("configuring SQLite")?;
                conn.batch_execute("PRAGMA journal_mode = WAL")
                    .context("switching SQLite to WAL mode")?;
                conn.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(|e| anyhow::anyhow!("running SQLite migrations: {e}"))?;
                // The watermark is never above the highest rowid while a server runs (fold.rs);
                // a `VACUUM` after a clean stop (everything folded) may renumber the events'
                // rowids down, and then the watermark comes down with them.
                conn.batch_execute(
                    "UPDATE rollup_state SET folded_through = \
                     MIN(folded_through, COALESCE((SELECT MAX(rowid) FROM events), 0)) WHERE id = 1",
                )
                .context("checking the rollup watermark")?;
                // Events committed but not yet folded when the last process stopped (a crash
                // loses the writer's in-memory sums, never the events).
                let folded = conn
                    .immediate_transaction(|c| crate::repo::fold::fold(c, None))
                    .context("folding unfolded events into the rollups")?;
                if folded.events > 0 {
                    tracing::info!(
                        events = folded.events,
                        "folded events the last run left unfolded"
                    );
                }
                drop(conn);
                let build = |size: u32, autocheckpoint: Option<u32>| {
                    Pool::builder()
                        .max_size(size)
                        .connection_timeout(config.connect_timeout)
                        .connection_customizer(Box::new(SqlitePragmas {
                            sync: config.sqlite_sync,
                            autocheckpoint,
                        }))
                        .build(ConnectionManager::<SqliteConnection>::new(path))
                };
                Ok(Store {
                    outbox_sink: std::sync::OnceLock::new(),
                    pools: Pools::Sqlite {
                        read: build(config.pool_size.max(1), None).context("SQLite read pool")?,
                        write: build(1, Some(WRITER_AUTOCHECKPOINT_PAGES))
                            .context("SQLite write pool")?,
                        sync: config.sqlite_sync,
                    },
                })
            }
            Backend::Postgres => {
                // Connect the concrete connection first so an operator sees the real cause
                // (auth, host, database) rather than a pool time-out.
                let mut conn = PgConnection::establish(&config.url)
                    .map_err(|e| anyhow::anyhow!("connecting to PostgreSQL: {e}"))?;
                // Many instances may start at once: one migrates, the others wait.
                conn.batch_execute("SELECT pg_advisory_lock(7265746)")
                    .context("taking the migration lock")?;
                let migrated = conn
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|_| ())
                    .map_err(|e| anyhow::anyhow!("running PostgreSQL migrations: {e}"));
                conn.batch_execute("SELECT pg_advisory_unlock(7265746)")
                    .context("releasing the migration lock")?;
                migrated?;
                // Events queued for the rollups when the instances stopped (every running
                // instance folds them; this one may be the first).
                let folded = crate::repo::fold::fold_queue(&mut conn)
                    .context("folding queued events into the rollups")?;
                if folded > 0 {
                    tracing::info!(events = folded, "folded events queued for the rollups");
                }
                let pool = Pool::builder()
                    .max_size(config.pool_size.max(1))
                    .connection_timeout(config.connect_timeout)
                    .build(ConnectionManager::<PgConnection>::new(&config.url))
                    .context("PostgreSQL pool")?;
                Ok(Store {
                    outbox_sink: std::sync::OnceLock::new(),
                    pools: Pools::Pg(pool),
                })
            }
        }
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Pg(_) => Backend::Postgres,
        }
    }

    /// Connections of each pool, for monitoring.
    pub fn pool_states(&self) -> Vec<PoolState> {
        let state = |name: &'static str, s: diesel::r2d2::State, max: u32| PoolState {
            name,
            connections: s.connections,
            idle: s.idle_connections,
            max,
        };
        match &self.pools {
            Pools::Sqlite { read, write, .. } => vec![
                state("sqlite_read", read.state(), read.max_size()),
                state("sqlite_write", write.state(), write.max_size()),
            ],
            Pools::Pg(pool) => vec![state("postgres", pool.state(), pool.max_size())],
        }
    }

    /// Copies what it can of SQLite's WAL back into the database file without blocking
    /// anyone (`PRAGMA wal_checkpoint(PASSIVE)`, on a reader's connection); `None` on
    /// PostgreSQL. The writer's checkpointer thread calls it.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        match &self.pools {
            Pools::Sqlite { read, .. } => {
                let mut conn = read.get()?;
                let row: Checkpoint = diesel::RunQueryDsl::get_result(
                    diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)"),
                    &mut *conn,
                )?;
                Ok(Some(row))
            }
            Pools::Pg(_) => Ok(None),
        }
    }

    /// A cheap round trip, for readiness checks.
    pub fn ping(&self) -> Result<(), StoreError> {
        with_conn!(self, |c| c
            .batch_execute("SELECT 1")
            .map_err(StoreError::from))
    }
}
