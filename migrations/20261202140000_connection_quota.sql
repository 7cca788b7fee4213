-- Daily quotas, shared by every worker: per connection and calendar day (in
-- the connection's zone), the calls counted so far. A worker reserves calls
-- in small blocks (`last_grant` is the size of the last one granted).
CREATE TABLE connection_quota (
    connection  text        NOT NULL,
    day         date        NOT NULL,
    used        bigint      NOT NULL DEFAULT 0 CHECK (used >= 0),
    last_grant  bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, day)
);
