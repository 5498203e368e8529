-- The dashboard (bin/humanhours/src/dashboard): sign-in sessions and read-only share links.
-- Both are bearer tokens: the browser (or the shared URL) holds a random token of 240 bits, the
-- database only its SHA-256 (hex), so a copy of the database opens no dashboard. A fast hash is
-- enough for a random token of that size (unlike a password, it cannot be guessed).

-- One row per signed-in browser. key_prefix is the API key it signed in with: revoking that key
-- ends the session at its next request.
CREATE TABLE dashboard_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    key_prefix TEXT NOT NULL REFERENCES api_keys(prefix),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions(expires_at);

-- Read-only links to an org's overview. token_prefix (the token's first 8 characters) names a
-- link in `humanhours share list/revoke` without the whole token; expires_at NULL: never.
CREATE TABLE share_links (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    token_prefix TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX share_links_org ON share_links(org_id);
CREATE INDEX share_links_prefix ON share_links(token_prefix);
