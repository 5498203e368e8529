//! The two migration trees stay in step: the same migration names, each with up and down; and
//! a migration that rewrites stored data keeps it (on the backend of the pass, see `common`).

#![expect(
    clippy::unwrap_used,
    reason = "test helper: a failure should fail the test loudly"
)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{on_this_backend, Db};
use diesel::connection::SimpleConnection as _;
use diesel::Connection as _;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use store::{ReportQuery, Store};

fn migrations(backend: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(backend);
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        for file in ["up.sql", "down.sql"] {
            assert!(
                entry.path().join(file).is_file(),
                "{backend}/{name} lacks {file}"
            );
        }
        names.insert(name);
    }
    names
}

#[test]
fn sqlite_and_postgres_have_the_same_migrations() {
    let sqlite = migrations("sqlite");
    let postgres = migrations("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "every migration needs a twin of the same name in the other backend's tree"
    );
}

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Runs every migration named before `before`.
fn migrate_to<C: MigrationHarness<B>, B: diesel::backend::Backend>(
    c: &mut C,
    source: EmbeddedMigrations,
    before: &str,
) where
    EmbeddedMigrations: diesel::migration::MigrationSource<B>,
{
    for m in c.pending_migrations(source).unwrap() {
        if m.name().to_string().as_str() < before {
            c.run_migration(&*m).unwrap();
        }
    }
}

const T0: i64 = 1_764_547_200_000; // an hour's start

/// The org and `n` events at the largest agent cost (10^15 millionths), in one hour, and their
/// rollup rows as the schema before 000013 held them, with `agent_sum` as the agent-cost sum.
fn old_rows_sql(n: i64, agent_sum: &str, series: &str) -> String {
    let net = 149 * n - 100_000_000_000 * n;
    let mut sql = format!(
        "INSERT INTO orgs (id, name, plan, currency, hourly_rate, created_at) \
         VALUES ('o', 'o', 'pro', 'EUR', '45', 0);
         {series} INSERT INTO events (id, org_id, agent_id, task_type, outcome, occurred_at, \
         received_at, agent_duration_seconds, baseline_minutes, baseline_source, hourly_rate, \
         rate_source, currency, cost_source, hours_saved_milli, cost_saved_cents, \
         agent_cost_micros, net_saved_cents) \
         SELECT 'evt_' || i, 'o', 'a', 'ticket_routing', 'success', {T0} + i * 100, {T0}, '0', \
         '2', 'builtin', '45', 'org', 'EUR', 'provided', 33, 149, 1000000000000000, \
         149 - 100000000000 FROM n;\n"
    );
    for (dim, key) in [
        ("agent", "a"),
        ("task_type", "ticket_routing"),
        ("model", ""),
        ("outcome", "success"),
        ("client", ""),
    ] {
        sql += &format!(
            "INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, \
             cost_saved_cents, agent_cost_micros, costed_events, net_saved_cents) VALUES \
             ('o', '{dim}', {T0}, '{key}', {n}, {}, {}, {agent_sum}, {n}, {net});\n",
            33 * n,
            149 * n
        );
    }
    sql
}

/// Migration 000013 splits the rollups' sums of money into halves. On SQLite it rebuilds them
/// from the folded events, repairing a row whose 64-bit sum had overflowed into a REAL (what
/// 10,000 events at the largest agent cost left before); on PostgreSQL, which refused such
/// writes, it converts the rows in place. Either way every sum after it is the events' own.
#[test]
fn splitting_the_money_sums_keeps_the_rollups_and_repairs_an_overflowed_row() {
    on_this_backend(|db| {
        let n = match db {
            Db::Sqlite(_, url) => {
                let path = url.trim_start_matches("sqlite://");
                let mut c = diesel::SqliteConnection::establish(path).unwrap();
                migrate_to(&mut c, SQLITE, "2026-12-02-000013");
                let series = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                              WHERE i < 10000)";
                c.batch_execute(&old_rows_sql(10_000, "1.0e19", series))
                    .unwrap();
                c.batch_execute("UPDATE rollup_state SET folded_through = 10000")
                    .unwrap();
                10_000
            }
            Db::Pg { url, .. } => {
                let mut c = diesel::PgConnection::establish(url).unwrap();
                migrate_to(&mut c, POSTGRES, "2026-12-02-000013");
                let series = "WITH n(i) AS (SELECT generate_series(1, 9000))";
                c.batch_execute(&old_rows_sql(9_000, "9000000000000000000", series))
                    .unwrap();
                9_000
            }
        };
        let s: Store = db.open();
        let raw = s.sum_events("o").unwrap();
        assert_eq!(raw.events, n);
        assert_eq!(raw.agent_cost_micros, i128::from(n) * 1_000_000_000_000_000);
        for (dim, sums) in s.rollup_sums("o").unwrap() {
            assert_eq!(sums, raw, "{dim}");
        }
        let rows = s
            .report(&ReportQuery {
                org_id: "o".into(),
                from_ms: T0,
                to_ms: T0 + 3_600_000,
                dims: vec![],
                buckets: None,
                agent_id: None,
                task_type: None,
            })
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].sums, raw);
    });
}
