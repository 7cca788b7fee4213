-- The sweeper claims due deliveries per connection, at most what this
-- worker has room for on each: it reads the due rows of one connection at a
-- time. Only waiting rows are in the index; the hot path's rows (born
-- claimed, then done) never enter it.
CREATE INDEX deliveries_due_by_connection ON deliveries (connection, next_attempt_at)
    WHERE status = 'waitForSending';
