-- The answers of records written since cannot be restored; replays need the code that renders
-- them from the event.
ALTER TABLE idempotency_keys ADD COLUMN response TEXT NOT NULL DEFAULT '';
