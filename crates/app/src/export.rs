//! `humanhours org export` (API.md §12): everything held about an org as JSON lines, streamed,
//! one record per line with its `type` first: `org`, `agent`, `override`, `task_type`, `key`,
//! `webhook`, `digest`, then every `event` newest first.
//!
//! Never a secret: keys are their prefix, name, scopes and times (no hash); webhooks have no
//! signing secret; sessions and share-link tokens are left out. Events are the ones retention
//! keeps, each as its `POST /track` answer plus `received_at`, `client`, `metadata` and
//! `audit_sample`, read a page at a time so memory stays flat whatever the org holds.

use std::io::Write;

use serde_json::{json, Map, Value};
use store::{EventFilter, Store};

use crate::auth::OrgSettings;
use crate::clock;

/// Events read per page.
const PAGE: i64 = 1_000;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    pub lines: u64,
    pub events: u64,
}

fn ms(t: i64) -> String {
    clock::format_ms(clock::from_unix_ms(t))
}

fn line(out: &mut impl Write, kind: &str, fields: Value, n: &mut u64) -> anyhow::Result<()> {
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    serde_json::to_writer(&mut *out, &Value::Object(m))?;
    out.write_all(b"\n")?;
    *n += 1;
    Ok(())
}

fn stored_json(text: Option<&str>) -> anyhow::Result<Value> {
    Ok(match text {
        Some(t) => serde_json::from_str(t)?,
        None => Value::Null,
    })
}

/// Writes the org `org_id` to `out` (blocking), as of `now`.
pub fn export(
    store: &Store,
    org_id: &str,
    now: time::OffsetDateTime,
    out: &mut impl Write,
) -> anyhow::Result<Exported> {
    let row = store
        .find_org(org_id)?
        .ok_or_else(|| anyhow::anyhow!("no org '{org_id}'"))?;
    let org = OrgSettings::try_from(&row)?;
    let mut n = 0u64;
    line(
        out,
        "org",
        json!({
            "id": row.id,
            "name": row.name,
            "plan": row.plan,
            "currency": row.currency,
            "hourly_rate": row.hourly_rate,
            "fallback_baseline_minutes": row.fallback_baseline_minutes,
            "monthly_event_cap": row.monthly_event_cap,
            "timezone": row.timezone,
            "digest_recipients": row.digest_recipients.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            "retention_days": crate::retention::days(&org),
            "parent_id": row.parent_id,
            "created_at": ms(row.created_at),
        }),
        &mut n,
    )?;
    for a in store.list_agents(&org.id)? {
        line(
            out,
            "agent",
            json!({
                "agent_id": a.agent_id,
                "hourly_rate": a.hourly_rate,
                "first_seen_at": ms(a.first_seen_at),
                "last_seen_at": ms(a.last_seen_at),
            }),
            &mut n,
        )?;
    }
    for o in store.list_overrides(&org.id)? {
        line(
            out,
            "override",
            json!({
                "task_type": o.task_type,
                "baseline_minutes": o.baseline_minutes,
                "reason": o.reason,
                "updated_at": ms(o.updated_at),
            }),
            &mut n,
        )?;
    }
    for t in store.list_custom_types(&org.id)? {
        line(
            out,
            "task_type",
            json!({
                "key": t.key,
                "display_name": t.display_name,
                "category": t.category,
                "baseline_minutes": t.baseline_minutes,
                "baseline_source": t.baseline_source,
                "created_at": ms(t.created_at),
                "archived_at": t.archived_at.map(ms),
            }),
            &mut n,
        )?;
    }
    for k in store.list_keys(&org.id)? {
        line(
            out,
            "key",
            json!({
                "prefix": k.prefix,
                "name": k.name,
                "mode": k.mode,
                "scopes": k.scopes.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                "created_at": ms(k.created_at),
                "revoked_at": k.revoked_at.map(ms),
                "last_used_at": k.last_used_at.map(ms),
            }),
            &mut n,
        )?;
    }
    for w in store.list_endpoints(&org.id)? {
        line(
            out,
            "webhook",
            json!({
                "id": w.id,
                "url": w.url,
                "event_types": w.event_types.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                "description": w.description,
                "status": w.status,
                "created_at": ms(w.created_at),
                "updated_at": ms(w.updated_at),
            }),
            &mut n,
        )?;
    }
    for d in store.list_digests(&org.id, i64::MAX)? {
        line(
            out,
            "digest",
            json!({
                "kind": d.kind,
                "label": d.label,
                "period_start": ms(d.period_start),
                "period_end": ms(d.period_end),
                "data": stored_json(Some(&d.data))?,
                "created_at": ms(d.created_at),
                "finished_at": d.finished_at.map(ms),
            }),
            &mut n,
        )?;
    }
    let filter = EventFilter {
        from: crate::retention::cutoff_ms(&org, clock::unix_ms(now)),
        to: i64::MAX,
        ..EventFilter::default()
    };
    let mut before: Option<(i64, String)> = None;
    let mut events = 0u64;
    loop {
        let page = store.list_events(
            &org.id,
            &filter,
            before.as_ref().map(|(at, id)| (*at, id.as_str())),
            PAGE,
        )?;
        for e in &page {
            let answer = crate::track::event_answer(e)?;
            let Value::Object(mut fields) = serde_json::from_str::<Value>(&answer)? else {
                anyhow::bail!("event {}: its answer is not an object", e.id);
            };
            fields.insert("received_at".into(), json!(ms(e.received_at)));
            fields.insert("client".into(), json!(e.client));
            fields.insert("metadata".into(), stored_json(e.metadata.as_deref())?);
            fields.insert(
                "audit_sample".into(),
                stored_json(e.audit_sample.as_deref())?,
            );
            line(out, "event", Value::Object(fields), &mut n)?;
            events += 1;
        }
        match page.last() {
            Some(last) if page.len() == usize::try_from(PAGE).unwrap_or(usize::MAX) => {
                before = Some((last.occurred_at, last.id.clone()));
            }
            _ => break,
        }
    }
    out.flush()?;
    Ok(Exported { lines: n, events })
}
