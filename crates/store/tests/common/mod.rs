//! A fresh database of the pass's backend for each store test: a SQLite file, or with
//! `HUMANHOURS_TEST_BACKEND=postgres` a PostgreSQL database (created on
//! `HUMANHOURS_TEST_POSTGRES_URL`, by default `postgres://postgres@127.0.0.1:5432/postgres`, and
//! dropped afterwards). A PostgreSQL that cannot be reached fails the PostgreSQL pass.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "shared by several test binaries, each using a part"
)]
#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failure should fail loudly"
)]

use std::sync::atomic::{AtomicU32, Ordering};

use store::{DbConfig, SqliteSync, Store};

/// A database for one test, dropped with it.
pub enum Db {
    /// The directory is kept for its Drop.
    Sqlite(tempfile::TempDir, String),
    Pg {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl Db {
    pub fn url(&self) -> &str {
        match self {
            Db::Sqlite(_, url) | Db::Pg { url, .. } => url,
        }
    }

    pub fn open(&self) -> Store {
        let mut c = DbConfig::new(self.url());
        c.sqlite_sync = SqliteSync::Normal;
        c.pool_size = 4;
        Store::open(&c).unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Db::Pg {
            admin_url, name, ..
        } = self
        {
            use diesel::connection::SimpleConnection as _;
            use diesel::Connection as _;
            if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "the tests read their own settings"
)]
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn sqlite_db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    Db::Sqlite(dir, url)
}

fn pg_db() -> Db {
    use diesel::connection::SimpleConnection as _;
    use diesel::Connection as _;
    static N: AtomicU32 = AtomicU32::new(0);
    let admin_url = env("HUMANHOURS_TEST_POSTGRES_URL")
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    store::init_tls();
    let mut admin = diesel::PgConnection::establish(&admin_url)
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
    let name = format!(
        "hh_store_test_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    Db::Pg {
        admin_url,
        name,
        url,
    }
}

/// Runs `check` on a fresh database of this pass's backend.
pub fn on_this_backend(check: impl Fn(&Db)) {
    if env("HUMANHOURS_TEST_BACKEND").as_deref() == Some("postgres") {
        check(&pg_db());
    } else {
        check(&sqlite_db());
    }
}
