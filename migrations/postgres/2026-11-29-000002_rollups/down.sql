DROP INDEX events_org_task_type_occurred;
DROP TABLE rollup_hourly;
