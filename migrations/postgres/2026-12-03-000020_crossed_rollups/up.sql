-- Crossed and daily rollups (issue 21) are kept on SQLite only, where the writer folds them after
-- commit. PostgreSQL writes rollups in each event's transaction, and the crossed ones cut /track
-- to 0.57x there (docs/decisions.md, "Crossed rollups on SQLite only"), so it keeps the hourly single fields
-- (crates/store/src/repo/rollup.rs, PG_ROLLUPS). The migration exists so both backends keep the
-- same list.
SELECT 1;
