DROP TABLE rollup_queue;
DELETE FROM rollup_hourly WHERE dim NOT IN ('agent', 'task_type', 'model', 'outcome', 'client');
