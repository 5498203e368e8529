-- Agency workspaces (API.md §12): a child workspace names its anchor org; an anchor and its
-- children share one monthly pool of events, counted here under the anchor's id, under the
-- same row lock (PostgreSQL) or write lock (SQLite) that makes every org's own count exact.
ALTER TABLE orgs ADD COLUMN parent_id TEXT REFERENCES orgs(id);
CREATE INDEX orgs_parent ON orgs (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE pool_usage (
    anchor_id TEXT NOT NULL REFERENCES orgs(id),
    month TEXT NOT NULL,
    events BIGINT NOT NULL,
    overage_events BIGINT NOT NULL,
    PRIMARY KEY (anchor_id, month)
);
