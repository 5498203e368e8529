//! The command line: `serve`, `migrate` and the operator commands. Output meant for scripts
//! (a new org id, a new key) is printed alone on stdout; everything else goes to stderr.

pub mod config;

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use catalogue::Currency;
use ratelimit::Plan;
use roi_engine::{BaselineMinutes, HourlyRate};
use store::Store;
use tracing_subscriber::EnvFilter;

use crate::cli::config::{
    AgentCommand, Cli, Command, DevCommand, DigestCommand, FxCommand, KeyCommand, OrgCommand,
    PricesCommand, RetentionCommand, ServeArgs, ShareCommand,
};
use app::background::JobsMode;
use app::clock;
use app::keys::{KeyHasher, KeyMode};
use app::orgs::{self, NewOrg, OrgUpdate};
use app::pricing::parse_date;
use app::{App, ServerConfig};

/// Logs to stderr through a non-blocking writer: a request formats its line and hands it to a
/// background thread, never waiting for the terminal or the pipe (a line at `info` costs about
/// 2.3 µs of CPU, some 3 % of a `/track`: bench/RESULTS.md). When the writer falls more than its
/// buffer behind, lines are dropped rather than requests slowed. Colour only on a terminal.
/// Keep the guard until the end: dropping it flushes what is buffered.
fn init_logging(filter: &str) -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    use std::io::IsTerminal as _;
    let filter = EnvFilter::try_new(filter).map_err(|e| {
        anyhow::anyhow!(
            "HUMANHOURS_LOG '{filter}' is not a log filter (error, warn, info, debug): {e}"
        )
    })?;
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer)
        .try_init();
    Ok(guard)
}

fn plan(s: &str) -> anyhow::Result<Plan> {
    Plan::parse(s).map_err(|_| anyhow::anyhow!("plan must be free, pro or enterprise, got '{s}'"))
}

fn currency(s: &str) -> anyhow::Result<Currency> {
    Currency::parse(s)
        .map_err(|_| anyhow::anyhow!("currency must be an ISO 4217 code like EUR, got '{s}'"))
}

fn rate(s: &str) -> anyhow::Result<HourlyRate> {
    HourlyRate::parse(s).map_err(|e| anyhow::anyhow!("hourly rate '{s}' {e}"))
}

fn baseline(s: &str) -> anyhow::Result<BaselineMinutes> {
    BaselineMinutes::parse(s).map_err(|e| anyhow::anyhow!("baseline minutes '{s}' {e}"))
}

/// `none` clears an optional value.
fn clearable<T>(s: &str, parse: impl Fn(&str) -> anyhow::Result<T>) -> anyhow::Result<Option<T>> {
    if s.eq_ignore_ascii_case("none") {
        Ok(None)
    } else {
        parse(s).map(Some)
    }
}

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let _log = init_logging(&cli.log)?;
    let db = cli.db.db_config()?;
    if !matches!(cli.command, Command::Serve(_) | Command::Migrate) {
        cli.db.require_existing_database()?;
    }
    match cli.command {
        Command::Serve(args) => serve(&cli.db, args),
        Command::Migrate => {
            // A new SQLite database gets its key pepper now, with the database, as `serve`
            // would make it: later commands refuse a database without one.
            if db.backend() == store::Backend::Sqlite
                && !std::path::Path::new(db.sqlite_path()).exists()
                && cli.db.pepper.is_none()
            {
                cli.db.pepper()?;
            }
            Store::open(&db)?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Org(cmd) => {
            let store = Store::open(&db)?;
            org_command(&store, cmd)
        }
        Command::Key(cmd) => {
            let store = Store::open(&db)?;
            match cmd {
                KeyCommand::Create {
                    org,
                    test,
                    scopes,
                    name,
                } => {
                    let hasher = KeyHasher::new(cli.db.pepper()?);
                    let mode = if test { KeyMode::Test } else { KeyMode::Live };
                    let scopes = ratelimit::Scopes::parse(&scopes)?;
                    let org = orgs::org(&store, &org)?;
                    let (key, _) =
                        orgs::new_key(&store, &hasher, &org.id, mode, scopes, &name, clock::now())?;
                    println!("{key}");
                }
                KeyCommand::List { org } => {
                    let org = orgs::org(&store, &org)?;
                    let at = |t: Option<i64>| {
                        t.map(|t| clock::format_ms(clock::from_unix_ms(t)))
                            .unwrap_or_else(|| "-".into())
                    };
                    println!("prefix\tmode\tscopes\tname\tcreated_at\tlast_used_at\trevoked_at");
                    for k in store.list_keys(&org.id)? {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            k.prefix,
                            k.mode,
                            k.scopes.replace(' ', ","),
                            if k.name.is_empty() { "-" } else { &k.name },
                            at(Some(k.created_at)),
                            at(k.last_used_at),
                            at(k.revoked_at)
                        );
                    }
                }
                KeyCommand::Revoke { prefix } => {
                    if !store.revoke_key(&prefix, clock::unix_ms(clock::now()))? {
                        bail!("no active key with prefix '{prefix}'");
                    }
                    eprintln!(
                        "key {prefix} revoked; running servers refuse it within their key cache TTL (HUMANHOURS_KEY_CACHE_TTL_SECS, at most 60 s)"
                    );
                }
            }
            Ok(())
        }
        Command::Agent(AgentCommand::SetRate {
            org,
            agent_id,
            rate: r,
        }) => {
            let store = Store::open(&db)?;
            orgs::set_agent_rate(&store, &org, &agent_id, clearable(&r, rate)?, clock::now())?;
            eprintln!("agent {agent_id}: hourly rate set to {r}");
            Ok(())
        }
        Command::Prices(PricesCommand::Import {
            file,
            org,
            effective_from,
        }) => {
            let store = Store::open(&db)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let date = match effective_from {
                Some(d) => parse_date(&d)
                    .with_context(|| format!("effective_from '{d}' must be YYYY-MM-DD"))?,
                None => clock::now().date(),
            };
            let source = format!("imported from {}", file.display());
            let report = orgs::import_prices(&store, &text, org.as_deref(), date, &source)?;
            for s in &report.skipped {
                eprintln!("skipped {s}");
            }
            eprintln!(
                "imported {} price rows ({} skipped); running servers use them within HUMANHOURS_PRICES_REFRESH_SECS",
                report.imported,
                report.skipped.len()
            );
            Ok(())
        }
        Command::Dev(DevCommand::Seed {
            org,
            events,
            days,
            agents,
            seed,
        }) => {
            anyhow::ensure!(days >= 1, "--days must be at least 1");
            let store = Store::open(&db)?;
            let org = orgs::org(&store, &org)?;
            let started = clock::instant();
            let spec = app::seed::SeedSpec {
                events,
                days,
                agents,
                seed,
                now_ms: clock::unix_ms(clock::now()),
            };
            let step = (events / 10).max(1);
            let mut next = step;
            app::seed::seed(&store, &org, &spec, |n| {
                if n >= next || n == events {
                    eprintln!("seeded {n} of {events} events");
                    next = n + step;
                }
            })?;
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "seeded {events} events over {days} days into org {} in {secs:.1} s ({:.0} events/s)",
                org.id,
                events as f64 / secs.max(0.001)
            );
            Ok(())
        }
        Command::Share(cmd) => {
            let store = Store::open(&db)?;
            share_command(&store, cmd)
        }
        Command::Digest(cmd) => {
            let store = Store::open(&db)?;
            digest_command(&store, cmd)
        }
        Command::Prices(PricesCommand::Sync { url }) => {
            let store = Arc::new(Store::open(&db)?);
            feed_sync(
                &store,
                app::feeds::Feed::Prices,
                &url,
                "HUMANHOURS_PRICES_SYNC_URL",
            )
        }
        Command::Retention(RetentionCommand::Sweep {
            max_chunks,
            pause_ms,
        }) => {
            let store = Arc::new(Store::open(&db)?);
            let started = clock::instant();
            let swept = app::retention::sweep(
                &store,
                clock::now(),
                &app::retention::Limits {
                    max_chunks,
                    max_time: std::time::Duration::MAX,
                    pause: std::time::Duration::from_millis(pause_ms),
                },
            )?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "swept {} events of {} orgs in {secs:.1} s ({:.0} events/s){}",
                swept.events,
                swept.orgs,
                swept.events as f64 / secs.max(0.001),
                if swept.more { "; more left" } else { "" }
            );
            Ok(())
        }
        Command::Fx(FxCommand::Sync { url }) => {
            let store = Arc::new(Store::open(&db)?);
            feed_sync(&store, app::feeds::Feed::Fx, &url, "HUMANHOURS_FX_SYNC_URL")
        }
        Command::Fx(FxCommand::Import { file }) => {
            let store = Store::open(&db)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let report =
                orgs::import_fx(&store, &text, &format!("imported from {}", file.display()))?;
            eprintln!(
                "imported {} FX rows; running servers use them within HUMANHOURS_PRICES_REFRESH_SECS",
                report.imported
            );
            Ok(())
        }
    }
}

fn time_or(ms: Option<i64>, none: &str) -> String {
    ms.map(|t| clock::format_ms(clock::from_unix_ms(t)))
        .unwrap_or_else(|| none.to_owned())
}

fn share_command(store: &Store, cmd: ShareCommand) -> anyhow::Result<()> {
    match cmd {
        ShareCommand::Create {
            org,
            expires,
            label,
            public_url,
        } => {
            let expires = orgs::parse_share_expiry(&expires)?;
            let (row, token) =
                orgs::create_share(store, &org, expires, label.as_deref(), clock::now())?;
            println!("{}", orgs::share_url(&public_url, &token));
            eprintln!(
                "share link {} (prefix {}) for org {}: read-only, {}; the URL is shown only this once",
                row.id,
                row.token_prefix,
                row.org_id,
                row.expires_at
                    .map(|e| format!("works until {}", time_or(Some(e), "")))
                    .unwrap_or_else(|| "works until revoked".into())
            );
        }
        ShareCommand::List { org } => {
            let org = orgs::org(store, &org)?;
            let now = clock::unix_ms(clock::now());
            println!("id\tprefix\tstatus\tcreated_at\texpires_at\trevoked_at\tlabel");
            for l in store.list_shares(&org.id)? {
                let status = if l.revoked_at.is_some() {
                    "revoked"
                } else if l.expires_at.is_some_and(|e| e <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    l.id,
                    l.token_prefix,
                    status,
                    time_or(Some(l.created_at), "-"),
                    time_or(l.expires_at, "never"),
                    time_or(l.revoked_at, "-"),
                    l.label.as_deref().unwrap_or("-")
                );
            }
        }
        ShareCommand::Revoke { token_prefix_or_id } => {
            let link = orgs::revoke_share(store, &token_prefix_or_id, clock::now())?;
            eprintln!(
                "share link {} (prefix {}) revoked; it now shows a 'revoked' page",
                link.id, link.token_prefix
            );
        }
    }
    Ok(())
}

/// `prices sync` / `fx sync`: one run now, with what changed on stdout.
fn feed_sync(
    store: &Arc<Store>,
    feed: app::feeds::Feed,
    url: &str,
    setting: &str,
) -> anyhow::Result<()> {
    let Some(url) = crate::cli::config::feed_url(url, setting)? else {
        bail!("{setting} is off: give --url to sync from a listing anyway");
    };
    let client = crate::outbound::FeedClient::new(app::feeds::FeedConfig::default().timeout)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = rt
        .block_on(app::feeds::run(store, &client, feed, &url))
        .map_err(|e| {
            anyhow::anyhow!(
                "{} sync from {url} failed, nothing changed: {e}",
                feed.as_str()
            )
        })?;
    for line in &outcome.changes {
        println!("{line}");
    }
    eprintln!(
        "{}: {} row(s) added effective {}, {} unchanged; running servers use them within HUMANHOURS_PRICES_REFRESH_SECS",
        feed.as_str(),
        outcome.added,
        outcome.day,
        outcome.unchanged
    );
    Ok(())
}

fn digest_command(store: &Store, cmd: DigestCommand) -> anyhow::Result<()> {
    use app::digests::{compose, resend, OrgDigest};
    use digests::period::{last_complete_week, week_period, IsoWeek};
    let now = clock::unix_ms(clock::now());
    match cmd {
        DigestCommand::Preview {
            org,
            week,
            format,
            mail,
        } => {
            let od = OrgDigest::of(&orgs::org(store, &org)?)?;
            let week = match week {
                Some(w) => IsoWeek::parse(&w)?,
                None => last_complete_week(now, &od.zone)?,
            };
            let period = week_period(week, &od.zone)?;
            let d = compose(store, &od, &period, &mail.public_url()?, now)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&d)?),
                "html" => println!("{}", crate::digest::html(&d)),
                _ => print!("{}", crate::digest::text(&d)),
            }
        }
        DigestCommand::Send { org, week, mail } => {
            let od = OrgDigest::of(&orgs::org(store, &org)?)?;
            let week = IsoWeek::parse(&week)?;
            let (_, emails) = resend(store, &od, week, &mail.public_url()?, now)?;
            eprintln!(
                "digest {week} of org {} queued: {emails} email(s) (sent by a running server with jobs on and HUMANHOURS_SMTP_URL set), and the weekly.digest webhook for subscribed endpoints",
                od.org.id
            );
        }
    }
    Ok(())
}

fn org_command(store: &Store, cmd: OrgCommand) -> anyhow::Result<()> {
    match cmd {
        OrgCommand::Export { org, output } => {
            let row = orgs::org(store, &org)?;
            let written = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    app::export::export(
                        store,
                        &row.id,
                        clock::now(),
                        &mut std::io::BufWriter::new(file),
                    )?
                }
                None => app::export::export(
                    store,
                    &row.id,
                    clock::now(),
                    &mut std::io::BufWriter::new(std::io::stdout().lock()),
                )?,
            };
            eprintln!(
                "org {}: {} lines written, {} of them events",
                row.id, written.lines, written.events
            );
        }
        OrgCommand::Delete { org, confirm } => {
            let row = orgs::org(store, &org)?;
            if confirm != row.name {
                anyhow::bail!(
                    "--confirm must be the org's name, '{}'; nothing was deleted",
                    row.name
                );
            }
            let deleted = store.delete_org(&row.id)?;
            let total: usize = deleted.iter().map(|(_, n)| n).sum();
            eprintln!(
                "org {} ({}) deleted: {total} rows ({}); its keys stop working on running servers within their key cache TTL",
                row.id,
                row.name,
                deleted
                    .iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(t, n)| format!("{t} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        OrgCommand::Create {
            name,
            plan: p,
            currency: c,
            hourly_rate,
            fallback_baseline_minutes,
            monthly_event_cap,
            parent,
        } => {
            let new = NewOrg {
                name,
                plan: plan(&p)?,
                currency: currency(&c)?,
                hourly_rate: rate(&hourly_rate)?,
                fallback_baseline_minutes: fallback_baseline_minutes
                    .as_deref()
                    .map(baseline)
                    .transpose()?,
                monthly_event_cap,
                parent,
            };
            let row = orgs::create_org(store, &new, clock::now())?;
            println!("{}", row.id);
        }
        OrgCommand::List => {
            println!("id\tname\tplan\tcurrency\thourly_rate\tfallback_baseline_minutes\tmonthly_event_cap\ttimezone\tdigest_to\tretention_days\tparent");
            for o in orgs::tree_order(store.list_orgs()?) {
                let retention = app::auth::OrgSettings::try_from(&o)
                    .map(|s| app::retention::days(&s).to_string())
                    .unwrap_or_else(|_| "?".into());
                // A workspace's name is indented under its anchor's row.
                let name = match &o.parent_id {
                    Some(_) => format!("  └ {}", o.name),
                    None => o.name.clone(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    o.id,
                    name,
                    o.plan,
                    o.currency,
                    o.hourly_rate,
                    o.fallback_baseline_minutes.as_deref().unwrap_or("-"),
                    o.monthly_event_cap
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "-".into()),
                    o.timezone,
                    if o.digest_recipients.is_empty() {
                        "-".to_owned()
                    } else {
                        o.digest_recipients.replace(' ', ",")
                    },
                    retention,
                    o.parent_id.as_deref().unwrap_or("-")
                );
            }
        }
        OrgCommand::Set {
            org,
            name,
            plan: p,
            currency: c,
            hourly_rate,
            fallback_baseline_minutes,
            monthly_event_cap,
            timezone,
            digest_to,
            retention_days,
        } => {
            let update = OrgUpdate {
                timezone: timezone
                    .as_deref()
                    .map(digests::period::Zone::parse)
                    .transpose()?,
                digest_recipients: digest_to
                    .as_deref()
                    .map(|s| {
                        if s.trim() == "none" {
                            Ok(digests::Recipients::default())
                        } else {
                            digests::Recipients::parse(s)
                        }
                    })
                    .transpose()?,
                name,
                plan: p.as_deref().map(plan).transpose()?,
                currency: c.as_deref().map(currency).transpose()?,
                hourly_rate: hourly_rate.as_deref().map(rate).transpose()?,
                fallback_baseline_minutes: fallback_baseline_minutes
                    .as_deref()
                    .map(|s| clearable(s, baseline))
                    .transpose()?,
                monthly_event_cap: monthly_event_cap
                    .as_deref()
                    .map(|s| {
                        clearable(s, |s| {
                            s.parse::<u64>().with_context(|| {
                                format!("monthly event cap '{s}' must be a whole number")
                            })
                        })
                    })
                    .transpose()?,
                retention_days: retention_days
                    .as_deref()
                    .map(|s| {
                        clearable(s, |s| {
                            s.parse::<u32>().with_context(|| {
                                format!("retention '{s}' must be a whole number of days")
                            })
                        })
                    })
                    .transpose()?,
            };
            let row = orgs::update_org(store, &org, &update)?;
            // A plan change can change the retention too (free keeps 30 days): say so.
            if update.retention_days.is_some() || update.plan.is_some() {
                let settings = app::auth::OrgSettings::try_from(&row)?;
                eprintln!(
                    "retention of org {} is {} days; the background sweep deletes older events within minutes",
                    row.id,
                    app::retention::days(&settings)
                );
            }
            eprintln!(
                "org {} updated; running servers use the change within their key cache TTL",
                row.id
            );
        }
    }
    Ok(())
}

fn serve(db_args: &crate::cli::config::DbArgs, args: ServeArgs) -> anyhow::Result<()> {
    let config = args.server_config()?;
    let db = db_args.db_config()?;
    if config.jobs.mode == JobsMode::Only {
        return serve_jobs_only(&db, &config);
    }
    // The port first: a server that cannot listen writes nothing (no database, no pepper, no
    // first key printed for a database nobody will serve).
    let listener = TcpListener::bind(&args.bind)
        .with_context(|| format!("binding {} (HUMANHOURS_BIND)", args.bind))?;
    let hasher = KeyHasher::new(db_args.pepper()?);
    let store = Arc::new(Store::open(&db)?);
    if let Some(key) = orgs::ensure_default_org(&store, &hasher, clock::now())? {
        println!();
        println!("  New database: created the org 'default' (plan enterprise) and this API key.");
        println!("  It is shown only this once; keep it somewhere safe:");
        println!();
        println!("    {key}");
        println!();
    }
    let addr = listener.local_addr()?;
    let state = actix_web::web::Data::new(App::new(store, hasher, config)?);
    let mode = state.config.jobs.mode;
    let runs = match mode {
        JobsMode::Off => "HTTP and this instance's cache refreshes; no queued or scheduled jobs",
        _ => "HTTP, queued and scheduled jobs, and this instance's cache refreshes",
    };
    tracing::info!(%addr, backend = ?db.backend(), jobs = mode.as_str(), runs, "humanhours listening");
    if mode == JobsMode::Off && db.backend() == store::Backend::Sqlite {
        tracing::warn!("HUMANHOURS_JOBS=off on SQLite: no jobs run unless a `humanhours serve --jobs only` process uses the same database file");
    }
    actix_web::rt::System::new().block_on(async move {
        let (server, jobs) = crate::http::startup::start(listener, state, args.workers)?;
        let served = server.await;
        jobs.stop().await;
        served
    })?;
    Ok(())
}

/// `serve --jobs only`: the job runner without HTTP (no key pepper, no writer, no caches),
/// until SIGINT or SIGTERM; then running jobs get their grace period to finish.
fn serve_jobs_only(db: &store::DbConfig, config: &ServerConfig) -> anyhow::Result<()> {
    let store = Arc::new(Store::open(db)?);
    tracing::info!(
        backend = ?db.backend(),
        jobs = JobsMode::Only.as_str(),
        runs = "queued and scheduled jobs only; no HTTP",
        "humanhours running jobs"
    );
    actix_web::rt::System::new().block_on(async move {
        let hooks = crate::http::startup::start_webhooks(
            store.clone(),
            &config.webhooks,
            Default::default(),
        )?;
        let work = app::background::JobDeps {
            mailer: crate::digest::mail::from_settings(config.mail.as_ref())?,
            fetcher: Some(std::sync::Arc::new(crate::outbound::FeedClient::new(
                config.jobs.feeds.timeout,
            )?)),
            stats: Default::default(),
        };
        let running =
            app::background::start_jobs_only(store, &config.jobs, Default::default(), &work);
        shutdown_signal().await?;
        tracing::info!("stopping: running jobs and webhook attempts get their grace period");
        hooks.stop(std::time::Duration::from_secs(20)).await;
        running.stop().await;
        Ok::<_, anyhow::Error>(())
    })
}

/// SIGINT, or SIGTERM (how containers and systemd stop a service).
async fn shutdown_signal() -> anyhow::Result<()> {
    use actix_web::rt::signal;
    #[cfg(unix)]
    {
        let mut term = signal::unix::signal(signal::unix::SignalKind::terminate())
            .context("listening for SIGTERM")?;
        tokio::select! {
            r = signal::ctrl_c() => r.context("listening for SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    signal::ctrl_c().await.context("listening for Ctrl-C")?;
    Ok(())
}
