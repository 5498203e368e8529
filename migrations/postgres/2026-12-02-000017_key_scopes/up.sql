-- Key scopes and names (API.md §13). scopes: the names space-separated in the order track,
-- read, admin; keys made before scopes existed get all three. last_used_at: Unix ms, written
-- by each instance at most once a minute per key (never per request).
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'track read admin';
ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
