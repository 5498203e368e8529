-- SQLite folds events into rollup_hourly after their commit, not inside it (group commit keeps
-- the upserts out of the path a track request waits on; crates/store/src/repo/fold.rs).
-- The invariant: rollup_hourly holds exactly the events whose rowid <= folded_through. Reports
-- add the events past it (a rowid range scan), so they stay exact whatever is not folded yet.
-- Events are never deleted, so new rowids only grow (MAX(rowid) + 1).
CREATE TABLE rollup_state (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    folded_through BIGINT NOT NULL
);
-- Until now every write kept the rollups in its own transaction: everything is folded.
INSERT INTO rollup_state (id, folded_through) VALUES (1, COALESCE((SELECT MAX(rowid) FROM events), 0));
