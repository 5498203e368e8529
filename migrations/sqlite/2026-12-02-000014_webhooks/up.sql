-- Webhooks (API.md §9): endpoints, the durable outbox of deliveries, and each delivery's
-- attempts.
--
-- webhook_endpoints: secret is the signing secret as shown to the user (`whsec_…`); it must be
--   kept in clear to sign, so it is never logged or answered after creation. During a rotation
--   previous_secret signs beside it until previous_secret_until (Unix ms). status is active,
--   failing or disabled (disabled_by: user, gone, failures); failed_in_a_row counts deliveries
--   that ended failed since the last success (crates/webhooks/src/health.rs).
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    description TEXT NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until BIGINT,
    status TEXT NOT NULL,
    disabled_by TEXT,
    failed_in_a_row BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints(org_id);

-- One row per (message, endpoint), written in the transaction of its cause (the tracked
-- event's), only for endpoints subscribed to its type.
-- id: whdel_<ULID>, so newest first is id order. message_id: whmsg_<ULID>, the `id` of the
--   body, the same on every attempt (receivers deduplicate on it).
-- event_id: for event.created and agent.first_event, the event whose 201 body is the data
--   (rendered from the event row at each attempt, byte for byte the 201 answer); payload: the
--   data of the other types.
-- status: pending (due at next_attempt_at), succeeded, failed (out of attempts), skipped (the
--   endpoint was disabled; recover re-queues it).
-- attempts: every attempt made (numbering webhook_attempts); round_attempts: those since the
--   delivery was last queued (redeliver and recover start a new round of 5).
-- A claim moves next_attempt_at to the end of its lease and sets locked_by, so a crashed
--   instance's claim comes due again by itself; the result is written only by the claimer
--   (WHERE locked_by = it).
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event_id TEXT,
    payload TEXT,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    round_attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_by TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, id);

-- Each attempt: when, the HTTP status or the error, how long, and the first 2 KiB of the
-- receiver's answer.
CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    response_body TEXT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- When an agent's first event was stored (NULL for an agent created by PUT /agents/{id} that
-- has no event yet), so agent.first_event fires once, for the first event, however the agent
-- came to exist. Agents that exist already have events (or are treated as having them).
ALTER TABLE agents ADD COLUMN first_event_at BIGINT;
UPDATE agents SET first_event_at = first_seen_at;
