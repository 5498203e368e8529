-- An org's own retention in days (API.md §12); NULL: its plan's (free 30, pro 365,
-- enterprise 730). Events older than it are deleted by the retention sweep; rollups are kept.
ALTER TABLE orgs ADD COLUMN retention_days INTEGER;
