-- Rollups for the reports a person drills down with (issue 21): each single field by UTC day,
-- and the crossed fields by hour and by day, in the same table. dim names the rollup
-- ('agent@day', 'agent+task_type', 'agent+task_type@day', ...; crates/store/src/repo/rollup.rs
-- lists them), hour is the start of the slot (a UTC hour, or a UTC day for '@day'), and key the
-- fields' values joined by U+001F in the rollup's order ('' = none). Only client may contain
-- U+001F, and it is always last, so a key splits back unambiguously.
--
-- The day rows of the single fields are summed from their hour rows, so they keep the events
-- deleted past retention. The crossed rollups are summed from the events still stored and
-- folded (rowid at most the watermark: the rollups hold exactly those; the writer folds the
-- rest).
-- Before this migration a crossed report read the events, so for ranges whose events were
-- deleted it answers what it answered before; from now on those rollups keep everything.
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, dim || '@day', hour - (((hour % 86400000) + 86400000) % 86400000), key,
    SUM(events), SUM(hours_saved_milli), SUM(cost_saved_cents_hi), SUM(cost_saved_cents_lo),
    SUM(agent_cost_micros_hi), SUM(agent_cost_micros_lo), SUM(costed_events)
FROM rollup_hourly
WHERE dim IN ('agent', 'task_type', 'model', 'outcome', 'client')
GROUP BY org_id, dim, hour - (((hour % 86400000) + 86400000) % 86400000), key;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'agent+task_type', occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), agent_id || char(31) || task_type,
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), agent_id || char(31) || task_type;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'agent+task_type@day', occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || char(31) || task_type,
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || char(31) || task_type;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'agent+client', occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), agent_id || char(31) || COALESCE(client, ''),
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), agent_id || char(31) || COALESCE(client, '');
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'agent+client@day', occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || char(31) || COALESCE(client, ''),
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || char(31) || COALESCE(client, '');
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'task_type+model+outcome', occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), task_type || char(31) || COALESCE(model, '') || char(31) || outcome,
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), task_type || char(31) || COALESCE(model, '') || char(31) || outcome;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'task_type+model+outcome@day', occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), task_type || char(31) || COALESCE(model, '') || char(31) || outcome,
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), task_type || char(31) || COALESCE(model, '') || char(31) || outcome;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'agent+task_type+model+outcome@day', occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || char(31) || task_type || char(31) || COALESCE(model, '') || char(31) || outcome,
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || char(31) || task_type || char(31) || COALESCE(model, '') || char(31) || outcome;
