-- The index of due rows names `next_attempt_at IS NOT NULL` (every waiting
-- row has one, so it holds the same rows as before): the sweeper's claim,
-- which asks `next_attempt_at <= now()`, still uses it, and the expiry,
-- which does not, can no longer. With statistics taken while the table held
-- no waiting row (a busy table between two analyses, then a burst of sends
-- waiting for their rate), the planner found a walk of this whole index as
-- cheap as a look into `deliveries_expiring`, and the expiry, run several
-- times a second by every worker, read every waiting row each time.
DROP INDEX deliveries_due_by_connection;
CREATE INDEX deliveries_due_by_connection ON deliveries (connection, next_attempt_at)
    WHERE status = 'waitForSending' AND next_attempt_at IS NOT NULL;
