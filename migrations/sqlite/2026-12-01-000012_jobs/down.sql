DROP TABLE job_schedules;
DROP TABLE background_jobs;
