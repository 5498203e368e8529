-- Digests (API.md §10).
--
-- orgs.timezone: the IANA zone the org's weeks are cut in (digests; the dashboard's default).
-- orgs.digest_recipients: up to 10 checked addresses, space-separated ('' = none).
ALTER TABLE orgs ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE orgs ADD COLUMN digest_recipients TEXT NOT NULL DEFAULT '';

-- One row per org, kind and period: its primary key is what makes a digest go out once
-- across restarts and instances. It is written (with its emails, its webhook deliveries and
-- the job that sends the emails) in one transaction by whoever claims the period first;
-- finished_at is set when no email is pending any more.
-- kind: weekly (monthly when agency anchors exist). period_start/period_end: Unix ms, [start,
--   end) in the org's zone at the time. label: 2026-W48. data: the digest as JSON, as sent.
CREATE TABLE digests (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    kind TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    label TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (org_id, kind, period_start)
);
-- A week goes out once even if the org changed its zone since (another period_start).
CREATE UNIQUE INDEX digests_week ON digests(org_id, kind, label);

-- One row per recipient of a digest: pending until the SMTP server accepts it (sent), refuses
-- the recipient for good (refused, with the server's answer), or the send job's last attempt
-- passes without acceptance (failed); attempts and last_error say how it fared.
CREATE TABLE digest_emails (
    org_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    address TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, kind, period_start, address),
    FOREIGN KEY (org_id, kind, period_start) REFERENCES digests(org_id, kind, period_start)
);
