-- An idempotency record no longer keeps a copy of its answer. The 201 body of /track is a
-- function of the stored event alone (every value it shows is frozen on the event), so a
-- replay renders it again from the event the record points to: the same bytes. The copy was
-- about 470 of the record's 680 bytes, and the records were 60% of what each event wrote
-- (docs/decisions.md, "An idempotent answer is rendered from its event").
ALTER TABLE idempotency_keys DROP COLUMN response;
