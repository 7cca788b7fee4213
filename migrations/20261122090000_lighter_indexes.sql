-- Fewer index entries per delivery on the hot path. A delivery is written
-- twice (accepted, then its outcome) and every index gains an entry each
-- time; these two were paid for by every delivery and used only by
-- operators.

-- `herald list` orders by created_at (deliveries_created) and filters the
-- rest; the one status operators list most, `failed`, keeps an index of its
-- own, which successful deliveries never enter.
DROP INDEX deliveries_list;
CREATE INDEX deliveries_failed ON deliveries (created_at DESC) WHERE status = 'failed';

-- One index for attempts: unique per attempt, ordered within a delivery.
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_pkey;
DROP INDEX delivery_attempts_delivery;
ALTER TABLE delivery_attempts ADD PRIMARY KEY (delivery_id, id);
