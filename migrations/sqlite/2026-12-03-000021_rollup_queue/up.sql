-- PostgreSQL's rollup_queue (issue 21): there the crossed and daily rollups are folded after
-- commit from a queue the track transaction inserts into. SQLite needs none: its writer folds
-- every rollup after commit, and the events past the watermark are its queue
-- (crates/store/src/repo/fold.rs). The migration exists so both backends keep the same list.
SELECT 1;
