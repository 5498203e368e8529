DROP TABLE pool_usage;
DROP INDEX orgs_parent;
ALTER TABLE orgs DROP COLUMN parent_id;
