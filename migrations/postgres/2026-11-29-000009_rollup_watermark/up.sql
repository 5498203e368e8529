-- Nothing to store on PostgreSQL: several instances write at once and sequence values are not
-- in commit order, so no watermark could say which events are folded. Every write keeps the
-- rollups in its own transaction here, as before (SQLite's migration of this name adds the
-- watermark that lets it fold after commit instead).
COMMENT ON TABLE rollup_hourly IS 'Per-dimension hourly sums of events, maintained in the transaction of each write.';
