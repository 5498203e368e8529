-- Per-dimension hourly rollups of events, maintained in the same transaction as each event
-- (crates/store/src/repo/track.rs) so reports read hours x distinct values, not events.
-- One row per (org, dimension, UTC hour, value): dim is 'agent', 'task_type', 'model',
-- 'outcome' or 'client'; key '' stands for "none" (an event without model or client).
-- hour is the Unix millisecond at which the UTC hour starts. Sums are the events' own frozen
-- integers (milli-hours, cents, micro-units), so every report is exact.
CREATE TABLE rollup_hourly (
    org_id TEXT NOT NULL,
    dim TEXT NOT NULL,
    hour BIGINT NOT NULL,
    key TEXT NOT NULL,
    events BIGINT NOT NULL,
    hours_saved_milli BIGINT NOT NULL,
    cost_saved_cents BIGINT NOT NULL,
    agent_cost_micros BIGINT NOT NULL,
    costed_events BIGINT NOT NULL,
    net_saved_cents BIGINT NOT NULL,
    PRIMARY KEY (org_id, dim, hour, key)
);

-- The task_type filter of the reports, when it cannot be answered from the rollups.
CREATE INDEX events_org_task_type_occurred ON events(org_id, task_type, occurred_at);

-- Events stored before this migration get their rollups now.
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli,
    cost_saved_cents, agent_cost_micros, costed_events, net_saved_cents)
SELECT org_id, 'agent', occurred_at - (occurred_at % 3600000), agent_id, COUNT(*),
    SUM(hours_saved_milli), SUM(cost_saved_cents), SUM(COALESCE(agent_cost_micros, 0)),
    COUNT(agent_cost_micros), SUM(net_saved_cents)
FROM events
GROUP BY org_id, occurred_at - (occurred_at % 3600000), agent_id;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli,
    cost_saved_cents, agent_cost_micros, costed_events, net_saved_cents)
SELECT org_id, 'task_type', occurred_at - (occurred_at % 3600000), task_type, COUNT(*),
    SUM(hours_saved_milli), SUM(cost_saved_cents), SUM(COALESCE(agent_cost_micros, 0)),
    COUNT(agent_cost_micros), SUM(net_saved_cents)
FROM events
GROUP BY org_id, occurred_at - (occurred_at % 3600000), task_type;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli,
    cost_saved_cents, agent_cost_micros, costed_events, net_saved_cents)
SELECT org_id, 'model', occurred_at - (occurred_at % 3600000), COALESCE(model, ''), COUNT(*),
    SUM(hours_saved_milli), SUM(cost_saved_cents), SUM(COALESCE(agent_cost_micros, 0)),
    COUNT(agent_cost_micros), SUM(net_saved_cents)
FROM events
GROUP BY org_id, occurred_at - (occurred_at % 3600000), COALESCE(model, '');
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli,
    cost_saved_cents, agent_cost_micros, costed_events, net_saved_cents)
SELECT org_id, 'outcome', occurred_at - (occurred_at % 3600000), outcome, COUNT(*),
    SUM(hours_saved_milli), SUM(cost_saved_cents), SUM(COALESCE(agent_cost_micros, 0)),
    COUNT(agent_cost_micros), SUM(net_saved_cents)
FROM events
GROUP BY org_id, occurred_at - (occurred_at % 3600000), outcome;
INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli,
    cost_saved_cents, agent_cost_micros, costed_events, net_saved_cents)
SELECT org_id, 'client', occurred_at - (occurred_at % 3600000), COALESCE(client, ''), COUNT(*),
    SUM(hours_saved_milli), SUM(cost_saved_cents), SUM(COALESCE(agent_cost_micros, 0)),
    COUNT(agent_cost_micros), SUM(net_saved_cents)
FROM events
GROUP BY org_id, occurred_at - (occurred_at % 3600000), COALESCE(client, '');
