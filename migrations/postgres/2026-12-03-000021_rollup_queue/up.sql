-- PostgreSQL keeps every rollup SQLite keeps (issue 21). The hourly single fields are still
-- upserted in each track transaction; the other twelve (each single field by UTC day, the
-- crossed fields by hour and by day) are folded after commit from rollup_queue: the track
-- transaction inserts one plain row per new event there, and a fold deletes queued rows and adds
-- them to those rollups in one statement (crates/store/src/repo/fold.rs). Reports read the
-- rollups and the org's queued rows in one snapshot.
--
-- No primary key or index: rows are only ever read whole, by a fold (by ctid) or by a report
-- (the queue holds a fold interval of events). Vacuumed often: every row is deleted within a
-- fold interval of its insert.
CREATE TABLE rollup_queue (
    org_id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    agent_id TEXT NOT NULL,
    task_type TEXT NOT NULL,
    model TEXT,
    outcome TEXT NOT NULL,
    client TEXT,
    hours_saved_milli BIGINT NOT NULL,
    cost_saved_cents BIGINT NOT NULL,
    agent_cost_micros BIGINT
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 20000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 20000);

-- The new rollups, from what is stored. The single fields' day rows are summed from their hour
-- rows, so they keep the events deleted past retention; the crossed ones from the events (before
-- this migration a crossed report read the events, so for ranges whose events were deleted it
-- answers what it answered before). Every instance of an older version must be stopped first:
-- its writes would reach the hourly rollups but not the queue.
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, dim || '@day', hour - (((hour % 86400000) + 86400000) % 86400000), key,
    SUM(events), SUM(hours_saved_milli), SUM(cost_saved_cents_hi), SUM(cost_saved_cents_lo),
    SUM(agent_cost_micros_hi), SUM(agent_cost_micros_lo), SUM(costed_events)
FROM rollup_hourly
WHERE dim IN ('agent', 'task_type', 'model', 'outcome', 'client')
GROUP BY org_id, dim, hour - (((hour % 86400000) + 86400000) % 86400000), key;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'agent+task_type', occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), agent_id || chr(31) || task_type,
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
GROUP BY org_id, occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), agent_id || chr(31) || task_type;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'agent+task_type@day', occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || chr(31) || task_type,
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
GROUP BY org_id, occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || chr(31) || task_type;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'agent+client', occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), agent_id || chr(31) || COALESCE(client, ''),
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
GROUP BY org_id, occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), agent_id || chr(31) || COALESCE(client, '');
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'agent+client@day', occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || chr(31) || COALESCE(client, ''),
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
GROUP BY org_id, occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || chr(31) || COALESCE(client, '');
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'task_type+model+outcome', occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), task_type || chr(31) || COALESCE(model, '') || chr(31) || outcome,
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
GROUP BY org_id, occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000), task_type || chr(31) || COALESCE(model, '') || chr(31) || outcome;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'task_type+model+outcome@day', occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), task_type || chr(31) || COALESCE(model, '') || chr(31) || outcome,
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
GROUP BY org_id, occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), task_type || chr(31) || COALESCE(model, '') || chr(31) || outcome;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'agent+task_type+model+outcome@day', occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || chr(31) || task_type || chr(31) || COALESCE(model, '') || chr(31) || outcome,
    COUNT(*), COALESCE(SUM(hours_saved_milli), 0),
    COALESCE(SUM(cost_saved_cents / 100000000), 0), COALESCE(SUM(cost_saved_cents % 100000000), 0),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events
GROUP BY org_id, occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000), agent_id || chr(31) || task_type || chr(31) || COALESCE(model, '') || chr(31) || outcome;
