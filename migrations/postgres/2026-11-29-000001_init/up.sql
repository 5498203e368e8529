-- Portable schema (see crates/store/src/schema.rs): decimals that are frozen inputs are TEXT in
-- canonical decimal form; sums are BIGINT fixed point (milli-hours, cents, micro-units);
-- timestamps are BIGINT Unix milliseconds (UTC) so both backends compare and bucket alike.

CREATE TABLE orgs (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    plan TEXT NOT NULL,
    currency TEXT NOT NULL,
    hourly_rate TEXT NOT NULL,
    fallback_baseline_minutes TEXT,
    monthly_event_cap BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    prefix TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    mode TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_org ON api_keys(org_id);

CREATE TABLE agents (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    agent_id TEXT NOT NULL,
    hourly_rate TEXT,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, agent_id)
);

CREATE TABLE task_type_overrides (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    task_type TEXT NOT NULL,
    baseline_minutes TEXT NOT NULL,
    reason TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, task_type)
);

CREATE TABLE custom_task_types (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    key TEXT NOT NULL,
    display_name TEXT NOT NULL,
    category TEXT NOT NULL,
    baseline_minutes TEXT NOT NULL,
    baseline_source TEXT,
    created_at BIGINT NOT NULL,
    archived_at BIGINT,
    PRIMARY KEY (org_id, key)
);

-- org_id '' is the instance-wide book (imported by the operator), laid over the built-in one.
CREATE TABLE prices (
    org_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    input_usd_per_mtok TEXT NOT NULL,
    output_usd_per_mtok TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (org_id, model_id, effective_from)
);

CREATE TABLE fx_rates (
    currency TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    usd_to TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (currency, effective_from)
);

CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    agent_id TEXT NOT NULL,
    task_type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    agent_duration_seconds TEXT NOT NULL,
    model TEXT,
    tokens_in BIGINT,
    tokens_out BIGINT,
    baseline_minutes TEXT NOT NULL,
    baseline_source TEXT NOT NULL,
    hourly_rate TEXT NOT NULL,
    rate_source TEXT NOT NULL,
    currency TEXT NOT NULL,
    cost_source TEXT NOT NULL,
    price_input_usd_per_mtok TEXT,
    price_output_usd_per_mtok TEXT,
    fx_rate TEXT,
    hours_saved_milli BIGINT NOT NULL,
    cost_saved_cents BIGINT NOT NULL,
    agent_cost_micros BIGINT,
    net_saved_cents BIGINT NOT NULL,
    client TEXT,
    metadata TEXT,
    audit_sample TEXT,
    warnings TEXT
);
CREATE INDEX events_org_occurred ON events(org_id, occurred_at);
CREATE INDEX events_org_agent_occurred ON events(org_id, agent_id, occurred_at);

-- One row per (org, Idempotency-Key), written in the same transaction as its event.
CREATE TABLE idempotency_keys (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    idem_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    event_id TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

-- Accepted events per org and calendar month (UTC) of receipt.
CREATE TABLE monthly_usage (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    month TEXT NOT NULL,
    events BIGINT NOT NULL,
    overage_events BIGINT NOT NULL,
    PRIMARY KEY (org_id, month)
);
