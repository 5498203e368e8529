-- Sums of money in the hourly rollups, split into two 64-bit halves (issue 14, finding 4).
-- One event's agent cost may be 10^15 millionths, so about 9,224 such events in one org, hour
-- and value overflowed a 64-bit sum: SQLite then stored a REAL (and every report over it failed),
-- PostgreSQL refused the write. Now value = hi * 100000000 + lo, where every event adds its
-- own value / 10^8 to hi and value % 10^8 to lo (the same truncating division in Rust, SQLite
-- and PostgreSQL), so a row or a report's sum stays exact up to about 9.2 * 10^10 events, and
-- reports add the halves in 128 bits. net_saved_cents goes: an aggregate's net is
-- sum(cost_saved) - sum(agent_cost), computed from the exact sums (API.md section 8).
-- PostgreSQL refused every write that would have overflowed, so its rows are converted in place.
ALTER TABLE rollup_hourly
    ADD COLUMN cost_saved_cents_hi BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cost_saved_cents_lo BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN agent_cost_micros_hi BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN agent_cost_micros_lo BIGINT NOT NULL DEFAULT 0;
UPDATE rollup_hourly SET
    cost_saved_cents_hi = cost_saved_cents / 100000000,
    cost_saved_cents_lo = cost_saved_cents % 100000000,
    agent_cost_micros_hi = agent_cost_micros / 100000000,
    agent_cost_micros_lo = agent_cost_micros % 100000000;
ALTER TABLE rollup_hourly
    DROP COLUMN cost_saved_cents,
    DROP COLUMN agent_cost_micros,
    DROP COLUMN net_saved_cents,
    ALTER COLUMN cost_saved_cents_hi DROP DEFAULT,
    ALTER COLUMN cost_saved_cents_lo DROP DEFAULT,
    ALTER COLUMN agent_cost_micros_hi DROP DEFAULT,
    ALTER COLUMN agent_cost_micros_lo DROP DEFAULT;
