-- One row per provider call: a call's attempt row is keyed by its delivery
-- and the time the call started, so an outcome written again (its first
-- statement's answer lost) adds nothing. `id` stays, for the order.
DELETE FROM delivery_attempts a USING delivery_attempts b
    WHERE a.delivery_id = b.delivery_id AND a.started_at = b.started_at AND a.id > b.id;
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_pkey;
ALTER TABLE delivery_attempts ADD PRIMARY KEY (delivery_id, started_at);
