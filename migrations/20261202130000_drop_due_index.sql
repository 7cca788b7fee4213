-- The sweeper reads due rows per connection (deliveries_due_by_connection);
-- nothing reads waiting rows by due time alone any more, and every waiting
-- row (a retry, a scheduled send, a deferral) paid for an entry in both.
DROP INDEX IF EXISTS deliveries_due;
