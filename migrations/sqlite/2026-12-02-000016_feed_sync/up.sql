-- The daily price and FX syncs (API.md §6): one row per feed ('prices', 'fx'), so any
-- instance can say how the syncs fare (/metrics) and a failure streak is logged once.
-- last_success_at / last_failure_at: Unix ms. failing_since: the first failure of the
-- current streak (NULL while the last run succeeded). rows_added: rows every successful run
-- has added, in all.
CREATE TABLE feed_sync (
    feed TEXT PRIMARY KEY NOT NULL,
    last_success_at BIGINT,
    last_failure_at BIGINT,
    failing_since BIGINT,
    last_error TEXT,
    rows_added BIGINT NOT NULL
);
