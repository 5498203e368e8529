-- Sums of money in the hourly rollups, split into two 64-bit halves (issue 14, finding 4).
-- One event's agent cost may be 10^15 millionths, so about 9,224 such events in one org, hour
-- and value overflowed a 64-bit sum: SQLite then stored a REAL (and every report over it failed),
-- PostgreSQL refused the write. Now value = hi * 100000000 + lo, where every event adds its
-- own value / 10^8 to hi and value % 10^8 to lo (the same truncating division in Rust, SQLite
-- and PostgreSQL), so a row or a report's sum stays exact up to about 9.2 * 10^10 events, and
-- reports add the halves in 128 bits. net_saved_cents goes: an aggregate's net is
-- sum(cost_saved) - sum(agent_cost), computed from the exact sums (API.md section 8).
-- SQLite rebuilds the table from the events it held (rowid <= the watermark), which also
-- repairs any row that had overflowed into a REAL.
CREATE TABLE rollup_hourly_split (
    org_id TEXT NOT NULL,
    dim TEXT NOT NULL,
    hour BIGINT NOT NULL,
    key TEXT NOT NULL,
    events BIGINT NOT NULL,
    hours_saved_milli BIGINT NOT NULL,
    cost_saved_cents_hi BIGINT NOT NULL,
    cost_saved_cents_lo BIGINT NOT NULL,
    agent_cost_micros_hi BIGINT NOT NULL,
    agent_cost_micros_lo BIGINT NOT NULL,
    costed_events BIGINT NOT NULL,
    PRIMARY KEY (org_id, dim, hour, key)
) WITHOUT ROWID;
INSERT INTO rollup_hourly_split (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'agent', (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), agent_id,
    COUNT(*), SUM(hours_saved_milli),
    SUM(cost_saved_cents / 100000000), SUM(cost_saved_cents % 100000000),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events NOT INDEXED
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), agent_id;
INSERT INTO rollup_hourly_split (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'task_type', (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), task_type,
    COUNT(*), SUM(hours_saved_milli),
    SUM(cost_saved_cents / 100000000), SUM(cost_saved_cents % 100000000),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events NOT INDEXED
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), task_type;
INSERT INTO rollup_hourly_split (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'model', (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), COALESCE(model, ''),
    COUNT(*), SUM(hours_saved_milli),
    SUM(cost_saved_cents / 100000000), SUM(cost_saved_cents % 100000000),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events NOT INDEXED
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), COALESCE(model, '');
INSERT INTO rollup_hourly_split (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'outcome', (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), outcome,
    COUNT(*), SUM(hours_saved_milli),
    SUM(cost_saved_cents / 100000000), SUM(cost_saved_cents % 100000000),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events NOT INDEXED
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), outcome;
INSERT INTO rollup_hourly_split (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, agent_cost_micros_lo, costed_events)
SELECT org_id, 'client', (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), COALESCE(client, ''),
    COUNT(*), SUM(hours_saved_milli),
    SUM(cost_saved_cents / 100000000), SUM(cost_saved_cents % 100000000),
    COALESCE(SUM(agent_cost_micros / 100000000), 0), COALESCE(SUM(agent_cost_micros % 100000000), 0),
    COUNT(agent_cost_micros)
FROM events NOT INDEXED
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), COALESCE(client, '');
DROP TABLE rollup_hourly;
ALTER TABLE rollup_hourly_split RENAME TO rollup_hourly;
