-- The due-sweeper fails expired waiting deliveries every 250 ms; this keeps
-- that scan to the waiting rows that have an `expires_at`. Rows enter only
-- while they wait with one, so the hot path's accepts and outcomes mostly
-- never touch it.
CREATE INDEX deliveries_expiring ON deliveries (expires_at)
    WHERE status = 'waitForSending' AND expires_at IS NOT NULL;
