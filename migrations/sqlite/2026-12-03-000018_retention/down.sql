ALTER TABLE orgs DROP COLUMN retention_days;
