//! Operator actions shared by the CLI, the first start and the tests: orgs, keys, agent rates,
//! share links, price and FX imports. Each validates its input with the domain types before writing.

use ::digests::period::Zone;
use ::digests::Recipients;
use anyhow::{bail, Context as _};
use catalogue::{parse_fx_csv, parse_openrouter_models, parse_price_csv, Currency, PriceRow};
use ratelimit::Plan;
use roi_engine::{BaselineMinutes, HourlyRate};
use store::{ApiKeyRow, FxDbRow, OrgChanges, OrgRow, PriceDbRow, ShareLinkRow, Store};
use time::{Date, OffsetDateTime};

use crate::clock;
use crate::keys::{generate_key, KeyHasher, KeyMode};

/// The fields of a new org.
#[derive(Debug, Clone)]
pub struct NewOrg {
    pub name: String,
    pub plan: Plan,
    pub currency: Currency,
    pub hourly_rate: HourlyRate,
    pub fallback_baseline_minutes: Option<BaselineMinutes>,
    pub monthly_event_cap: Option<u64>,
    /// The anchor (id or name) when the org is an agency workspace (API.md §12).
    pub parent: Option<String>,
}

impl NewOrg {
    /// An org with the contract's defaults: EUR, 45 per hour, no fallback, no cap.
    pub fn named(name: &str, plan: Plan) -> Self {
        Self {
            name: name.to_owned(),
            plan,
            currency: Currency::parse("EUR").unwrap_or(Currency::USD),
            hourly_rate: HourlyRate::DEFAULT,
            fallback_baseline_minutes: None,
            monthly_event_cap: None,
            parent: None,
        }
    }
}

/// Why an agency org takes no monthly cap: the tree shares one pool, counted on the anchor.
const AGENCY_NO_CAP: &str = "an agency org takes no monthly event cap: its tree shares one pool \
     of 25,000 events a month, and events past it are counted as the anchor's overage";

pub(crate) fn check_name(name: &str) -> anyhow::Result<()> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        bail!("an org name must be 1 to 200 characters");
    }
    Ok(())
}

fn cap_to_i64(cap: u64) -> anyhow::Result<i64> {
    i64::try_from(cap).context("the monthly event cap is too large")
}

/// Creates an org; returns its row.
pub fn create_org(store: &Store, new: &NewOrg, now: OffsetDateTime) -> anyhow::Result<OrgRow> {
    check_name(&new.name)?;
    if store.find_org(&new.name)?.is_some() {
        bail!("an org named '{}' exists already", new.name);
    }
    let parent = match &new.parent {
        None => None,
        Some(anchor) => {
            if new.plan != Plan::Agency {
                bail!(
                    "a workspace (--parent) is on its anchor's plan, agency, not {}",
                    new.plan
                );
            }
            Some(org(store, anchor)?.id)
        }
    };
    if !new.plan.takes_cap() && new.monthly_event_cap.is_some() {
        bail!(AGENCY_NO_CAP);
    }
    let row = OrgRow {
        id: format!("org_{}", clock::ulid(now)),
        name: new.name.clone(),
        plan: new.plan.as_str().to_owned(),
        currency: new.currency.as_str().to_owned(),
        hourly_rate: new.hourly_rate.to_string(),
        fallback_baseline_minutes: new.fallback_baseline_minutes.map(|b| b.to_string()),
        monthly_event_cap: new.monthly_event_cap.map(cap_to_i64).transpose()?,
        created_at: clock::unix_ms(now),
        timezone: "UTC".to_owned(),
        digest_recipients: String::new(),
        retention_days: None,
        parent_id: parent,
    };
    match row.parent_id {
        Some(_) => store.create_workspace(
            &row,
            Plan::Agency.as_str(),
            i64::from(Plan::Agency.max_workspaces()),
        )?,
        None => store.create_org(&row)?,
    }
    Ok(row)
}

/// A retention in days as stored, if it is one an org may set.
fn retention_to_i32(days: u32) -> anyhow::Result<i32> {
    if !(1..=crate::retention::MAX_DAYS).contains(&days) {
        bail!(
            "retention must be 1 to {} days, got {days}",
            crate::retention::MAX_DAYS
        );
    }
    Ok(i32::try_from(days)?)
}

/// Finds an org by id or name, or says clearly that there is none.
pub fn org(store: &Store, id_or_name: &str) -> anyhow::Result<OrgRow> {
    store.find_org(id_or_name)?.with_context(|| {
        format!("no org with id or name '{id_or_name}' (see 'humanhours org list')")
    })
}

/// A change to an org from the CLI. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct OrgUpdate {
    pub name: Option<String>,
    pub plan: Option<Plan>,
    pub currency: Option<Currency>,
    pub hourly_rate: Option<HourlyRate>,
    pub fallback_baseline_minutes: Option<Option<BaselineMinutes>>,
    pub monthly_event_cap: Option<Option<u64>>,
    /// The zone the org's digest weeks are cut in.
    pub timezone: Option<Zone>,
    /// Digest recipients (an empty list: none).
    pub digest_recipients: Option<Recipients>,
    /// Days events are kept (1 to 3,650); `Some(None)`: the plan's.
    pub retention_days: Option<Option<u32>>,
}

/// Applies a change to an org.
pub fn update_org(store: &Store, id_or_name: &str, u: &OrgUpdate) -> anyhow::Result<OrgRow> {
    let current = org(store, id_or_name)?;
    if let Some(name) = &u.name {
        check_name(name)?;
    }
    let changes = OrgChanges {
        name: u.name.clone(),
        plan: u.plan.map(|p| p.as_str().to_owned()),
        currency: u.currency.map(|c| c.as_str().to_owned()),
        hourly_rate: u.hourly_rate.map(|r| r.to_string()),
        fallback_baseline_minutes: u
            .fallback_baseline_minutes
            .map(|f| f.map(|b| b.to_string())),
        monthly_event_cap: u
            .monthly_event_cap
            .map(|c| c.map(cap_to_i64).transpose())
            .transpose()?,
        timezone: u.timezone.as_ref().map(|z| z.name().to_owned()),
        digest_recipients: u.digest_recipients.as_ref().map(Recipients::stored),
        retention_days: u
            .retention_days
            .map(|d| d.map(retention_to_i32).transpose())
            .transpose()?,
    };
    if changes.name.is_none()
        && changes.plan.is_none()
        && changes.currency.is_none()
        && changes.hourly_rate.is_none()
        && changes.fallback_baseline_minutes.is_none()
        && changes.monthly_event_cap.is_none()
        && changes.timezone.is_none()
        && changes.digest_recipients.is_none()
        && changes.retention_days.is_none()
    {
        bail!("nothing to change: give at least one option");
    }
    check_tree_rules(&current, u)?;
    // The anchor rule again, under the org's lock: a workspace may be created meanwhile.
    store.update_org_keeping_tree(&current.id, &changes)?;
    org(store, &current.id)
}

/// Creates a key with every scope for an org; returns the raw key (shown once, never stored).
pub fn create_key(
    store: &Store,
    hasher: &KeyHasher,
    org_id: &str,
    mode: KeyMode,
    now: OffsetDateTime,
) -> anyhow::Result<String> {
    let org = org(store, org_id)?;
    Ok(new_key(
        store,
        hasher,
        &org.id,
        mode,
        ratelimit::Scopes::ALL,
        "",
        now,
    )?
    .0)
}

/// Longest key name.
pub const MAX_KEY_NAME: usize = 100;

/// Checks a key's name: at most 100 characters, no control characters.
pub fn check_key_name(name: &str) -> Result<(), String> {
    if name.chars().count() > MAX_KEY_NAME || name.chars().any(char::is_control) {
        return Err(format!(
            "a key name is at most {MAX_KEY_NAME} characters without control characters"
        ));
    }
    Ok(())
}

/// Creates a key of `org_id` (which must exist) with these scopes and name; returns the raw
/// key (shown once, never stored) and its row.
pub fn new_key(
    store: &Store,
    hasher: &KeyHasher,
    org_id: &str,
    mode: KeyMode,
    scopes: ratelimit::Scopes,
    name: &str,
    now: OffsetDateTime,
) -> anyhow::Result<(String, ApiKeyRow)> {
    check_key_name(name).map_err(|e| anyhow::anyhow!(e))?;
    let (key, prefix) = generate_key(mode);
    let row = ApiKeyRow {
        prefix,
        org_id: org_id.to_owned(),
        mode: mode.as_str().to_owned(),
        secret_hash: hasher.hash(&key)?,
        created_at: clock::unix_ms(now),
        revoked_at: None,
        scopes: scopes.to_string(),
        name: name.to_owned(),
        last_used_at: None,
    };
    store.insert_key(&row)?;
    Ok((key, row))
}

/// On an empty database: creates the org `default` (enterprise) and one key, returned once.
pub fn ensure_default_org(
    store: &Store,
    hasher: &KeyHasher,
    now: OffsetDateTime,
) -> anyhow::Result<Option<String>> {
    if !store.list_orgs()?.is_empty() {
        return Ok(None);
    }
    let org = match create_org(store, &NewOrg::named("default", Plan::Enterprise), now) {
        Ok(org) => org,
        // Several instances starting on one empty database race here; one wins, and the
        // others must start normally rather than fail.
        Err(_) if !store.list_orgs()?.is_empty() => return Ok(None),
        Err(e) => return Err(e),
    };
    create_key(store, hasher, &org.id, KeyMode::Live, now).map(Some)
}

/// Sets (or with `None` clears) an agent's own hourly rate.
pub fn set_agent_rate(
    store: &Store,
    org_id: &str,
    agent_id: &str,
    rate: Option<HourlyRate>,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    let org = org(store, org_id)?;
    let agent_id = catalogue::AgentId::parse(agent_id)
        .map_err(|_| anyhow::anyhow!("an agent id {}", catalogue::AgentId::RULE))?;
    let agent_id = agent_id.as_str();
    let rate = rate.map(|r| r.to_string());
    store.set_agent_rate(&org.id, agent_id, rate.as_deref(), clock::unix_ms(now))?;
    Ok(())
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub imported: usize,
    /// Entries left out, with the reason (OpenRouter documents only).
    pub skipped: Vec<String>,
}

/// `YYYY-MM-DD`, as price and FX rows store their dates.
pub(crate) fn date_text(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Imports prices from the shipped CSV format or an OpenRouter models document (detected by a
/// leading `{`). `org_id` None: the instance-wide book. OpenRouter rows take `effective_from`.
pub fn import_prices(
    store: &Store,
    text: &str,
    org_id: Option<&str>,
    effective_from: Date,
    source: &str,
) -> anyhow::Result<ImportReport> {
    let org_id = match org_id {
        Some(o) => org(store, o)?.id,
        None => String::new(),
    };
    let (rows, skipped): (Vec<PriceRow>, Vec<String>) = if text.trim_start().starts_with('{') {
        let import =
            parse_openrouter_models(text, effective_from).map_err(|e| anyhow::anyhow!("{e}"))?;
        let skipped = import
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.id.as_deref().unwrap_or("(no id)"), s.reason))
            .collect();
        (import.rows, skipped)
    } else {
        (
            parse_price_csv(text).map_err(|e| anyhow::anyhow!("{e}"))?,
            Vec::new(),
        )
    };
    // Reject duplicates inside the file before writing anything.
    catalogue::PriceBook::from_rows(rows.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let db_rows: Vec<PriceDbRow> = rows
        .iter()
        .map(|r| PriceDbRow {
            org_id: org_id.clone(),
            model_id: r.model_id.clone(),
            input_usd_per_mtok: r.price.input.to_string(),
            output_usd_per_mtok: r.price.output.to_string(),
            effective_from: date_text(r.effective_from),
            source: source.to_owned(),
        })
        .collect();
    let imported = store.upsert_prices(&db_rows)?;
    Ok(ImportReport { imported, skipped })
}

/// Imports FX rates (CSV: currency,usd_to,effective_from[,source]).
pub fn import_fx(store: &Store, text: &str, source: &str) -> anyhow::Result<ImportReport> {
    let rows = parse_fx_csv(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    catalogue::FxTable::from_rows(rows.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let db_rows: Vec<FxDbRow> = rows
        .iter()
        .map(|r| FxDbRow {
            currency: r.currency.as_str().to_owned(),
            effective_from: date_text(r.effective_from),
            usd_to: r.usd_to.to_string(),
            source: source.to_owned(),
        })
        .collect();
    let imported = store.upsert_fx(&db_rows)?;
    Ok(ImportReport {
        imported,
        skipped: Vec::new(),
    })
}

/// How long a share link works: `30d`, `12h`, `2w` (at most 3650 days), or `never`.
pub fn parse_share_expiry(s: &str) -> anyhow::Result<Option<i64>> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let bad = || anyhow::anyhow!("--expires must be like 30d, 12h, 2w or never, got '{s}'");
    let unit_ms: i64 = match s.chars().last() {
        Some('h') => 3_600_000,
        Some('d') => 86_400_000,
        Some('w') => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    let n: i64 = s[..s.len() - 1].parse().map_err(|_| bad())?;
    let ms = n.checked_mul(unit_ms).ok_or_else(bad)?;
    if n <= 0 || ms > 3650 * 86_400_000 {
        bail!("--expires must be from 1h to 3650d, got '{s}'");
    }
    Ok(Some(ms))
}

/// The URL of a share link: the public base URL (`HUMANHOURS_PUBLIC_URL`) and `/share/<token>`.
pub fn share_url(public_url: &str, token: &str) -> String {
    format!("{}/share/{token}", public_url.trim_end_matches('/'))
}

/// Creates a read-only share link to an org's overview. Returns the row and the token; the
/// token is shown once, only its SHA-256 is stored. `expires_in_ms`: `None` never expires.
pub fn create_share(
    store: &Store,
    org_id: &str,
    expires_in_ms: Option<i64>,
    label: Option<&str>,
    now: OffsetDateTime,
) -> anyhow::Result<(ShareLinkRow, String)> {
    let org = org(store, org_id)?;
    if let Some(l) = label {
        if l.chars().count() > 200 || l.chars().any(char::is_control) {
            bail!("a label must be at most 200 characters without control characters");
        }
    }
    let token = crate::tokens::new_token();
    let created = clock::unix_ms(now);
    let row = ShareLinkRow {
        id: format!("shr_{}", clock::ulid(now)),
        org_id: org.id,
        token_prefix: token[..crate::tokens::SHARE_PREFIX_LEN].to_owned(),
        token_hash: crate::tokens::token_hash(&token),
        label: label.map(str::to_owned),
        created_at: created,
        expires_at: expires_in_ms.map(|ms| created + ms),
        revoked_at: None,
    };
    store.insert_share(&row)?;
    Ok((row, token))
}

/// Revokes a share link named by its id (`shr_…`), its token's prefix, or the whole token.
pub fn revoke_share(
    store: &Store,
    which: &str,
    now: OffsetDateTime,
) -> anyhow::Result<ShareLinkRow> {
    let which = which.trim();
    let which = which.rsplit('/').next().unwrap_or(which);
    let found = if crate::tokens::looks_like_token(which) {
        store
            .find_share(&crate::tokens::token_hash(which))?
            .into_iter()
            .collect()
    } else {
        store.find_shares(which)?
    };
    let link = match found.as_slice() {
        [] => {
            bail!("no share link with id, token or prefix '{which}' (see 'humanhours share list')")
        }
        [one] => one.clone(),
        many => bail!(
            "'{which}' names {} share links ({}); give the id",
            many.len(),
            many.iter()
                .map(|l| l.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if !store.revoke_share(&link.id, clock::unix_ms(now))? {
        bail!("share link {} was revoked already", link.id);
    }
    Ok(link)
}

/// The agency rules a change must keep (API.md §12): a workspace is on its anchor's plan, an
/// anchor keeps the plan while it has workspaces, and an agency org takes no cap.
fn check_tree_rules(current: &OrgRow, u: &OrgUpdate) -> anyhow::Result<()> {
    let plan_now = Plan::parse(&current.plan)?;
    let plan_after = u.plan.unwrap_or(plan_now);
    // (That an anchor keeps its plan while it has workspaces is checked by the store, under
    // the org's lock: `Store::update_org_keeping_tree`.)
    if plan_after != plan_now && current.parent_id.is_some() {
        bail!(
            "{} is a workspace: it stays on its anchor's plan, agency",
            current.name
        );
    }
    let cap_after = match u.monthly_event_cap {
        Some(cap) => cap,
        None => current.monthly_event_cap.map(|c| c.max(0).unsigned_abs()),
    };
    if !plan_after.takes_cap() && cap_after.is_some() {
        bail!("{AGENCY_NO_CAP} (clear it with --monthly-event-cap none)");
    }
    Ok(())
}

/// Orgs in the order `org list` shows a tree: each top-level org (oldest first), then its
/// workspaces (oldest first) right below it. A workspace whose anchor is missing (it cannot
/// be: the foreign key) would come last rather than be dropped.
pub fn tree_order(rows: Vec<OrgRow>) -> Vec<OrgRow> {
    let (tops, mut children): (Vec<OrgRow>, Vec<OrgRow>) =
        rows.into_iter().partition(|o| o.parent_id.is_none());
    let mut out = Vec::with_capacity(tops.len() + children.len());
    for top in tops {
        let id = top.id.clone();
        out.push(top);
        let (mine, rest): (Vec<OrgRow>, Vec<OrgRow>) = children
            .into_iter()
            .partition(|c| c.parent_id.as_deref() == Some(id.as_str()));
        out.extend(mine);
        children = rest;
    }
    out.extend(children);
    out
}
