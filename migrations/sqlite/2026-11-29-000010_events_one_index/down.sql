DROP INDEX events_org_occurred_dims;
CREATE INDEX events_org_occurred ON events(org_id, occurred_at);
CREATE INDEX events_org_agent_occurred ON events(org_id, agent_id, occurred_at);
CREATE INDEX events_org_task_type_occurred ON events(org_id, task_type, occurred_at);
