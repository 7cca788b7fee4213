-- Operators page through deliveries newest first with a cursor, the
-- `(created_at, id)` of the last row shown: `WHERE (created_at, id) < ($1,
-- $2) ORDER BY created_at DESC, id DESC`. An index on `created_at` alone
-- cannot take that row comparison as its bound (each page would scan from
-- the newest row) nor give the order among equal times; these two can.
-- They replace the two they extend, so the hot path keeps as many index
-- entries per write as before.
CREATE INDEX deliveries_newest ON deliveries (created_at DESC, id DESC);
DROP INDEX deliveries_created;
CREATE INDEX deliveries_failed_newest ON deliveries (created_at DESC, id DESC)
    WHERE status = 'failed';
DROP INDEX deliveries_failed;
