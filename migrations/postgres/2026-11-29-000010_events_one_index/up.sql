-- One index on the events table instead of three. Every event used to go into
-- (org_id, occurred_at), (org_id, agent_id, occurred_at) and (org_id, task_type, occurred_at):
-- the last two have an insertion point per agent and per task type, so each group commit
-- touched (and on SQLite wrote to the WAL, then checkpointed) a page per agent and per task
-- type of the batch, and that was the largest part of the writer's time. One index ordered by
-- time, carrying the two dimensions, grows at one point per org; a query filtered by agent or
-- task type scans the range's index entries and reads only the rows that match. The per-agent
-- and per-task-type sums come from the hourly rollups (docs/decisions.md, "Where ingest time
-- goes").
DROP INDEX events_org_agent_occurred;
DROP INDEX events_org_task_type_occurred;
DROP INDEX events_org_occurred;
CREATE INDEX events_org_occurred_dims ON events(org_id, occurred_at, agent_id, task_type);
