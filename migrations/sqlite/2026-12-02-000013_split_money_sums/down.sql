-- Back to one 64-bit column per sum and a stored net, rebuilt from the folded events.
CREATE TABLE rollup_hourly_old (
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
) WITHOUT ROWID;
INSERT INTO rollup_hourly_old (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents, agent_cost_micros, costed_events, net_saved_cents)
SELECT org_id, 'agent', (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), agent_id,
    COUNT(*), SUM(hours_saved_milli), SUM(cost_saved_cents),
    SUM(COALESCE(agent_cost_micros, 0)), COUNT(agent_cost_micros), SUM(net_saved_cents)
FROM events NOT INDEXED
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), agent_id;
INSERT INTO rollup_hourly_old (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents, agent_cost_micros, costed_events, net_saved_cents)
SELECT org_id, 'task_type', (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), task_type,
    COUNT(*), SUM(hours_saved_milli), SUM(cost_saved_cents),
    SUM(COALESCE(agent_cost_micros, 0)), COUNT(agent_cost_micros), SUM(net_saved_cents)
FROM events NOT INDEXED
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), task_type;
INSERT INTO rollup_hourly_old (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents, agent_cost_micros, costed_events, net_saved_cents)
SELECT org_id, 'model', (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), COALESCE(model, ''),
    COUNT(*), SUM(hours_saved_milli), SUM(cost_saved_cents),
    SUM(COALESCE(agent_cost_micros, 0)), COUNT(agent_cost_micros), SUM(net_saved_cents)
FROM events NOT INDEXED
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), COALESCE(model, '');
INSERT INTO rollup_hourly_old (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents, agent_cost_micros, costed_events, net_saved_cents)
SELECT org_id, 'outcome', (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), outcome,
    COUNT(*), SUM(hours_saved_milli), SUM(cost_saved_cents),
    SUM(COALESCE(agent_cost_micros, 0)), COUNT(agent_cost_micros), SUM(net_saved_cents)
FROM events NOT INDEXED
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), outcome;
INSERT INTO rollup_hourly_old (org_id, dim, hour, key, events, hours_saved_milli, cost_saved_cents, agent_cost_micros, costed_events, net_saved_cents)
SELECT org_id, 'client', (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), COALESCE(client, ''),
    COUNT(*), SUM(hours_saved_milli), SUM(cost_saved_cents),
    SUM(COALESCE(agent_cost_micros, 0)), COUNT(agent_cost_micros), SUM(net_saved_cents)
FROM events NOT INDEXED
WHERE rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1)
GROUP BY org_id, (occurred_at - (((occurred_at % 3600000) + 3600000) % 3600000)), COALESCE(client, '');
DROP TABLE rollup_hourly;
ALTER TABLE rollup_hourly_old RENAME TO rollup_hourly;
