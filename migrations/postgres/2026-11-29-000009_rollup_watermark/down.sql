COMMENT ON TABLE rollup_hourly IS NULL;
