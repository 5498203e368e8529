DROP TABLE digest_emails;
DROP TABLE digests;
ALTER TABLE orgs DROP COLUMN digest_recipients;
ALTER TABLE orgs DROP COLUMN timezone;
