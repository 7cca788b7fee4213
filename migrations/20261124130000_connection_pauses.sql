-- Connections a provider's quota refusal paused (OneBox's "time limit
-- reached ..."), shared by every worker: until `paused_until`, no worker
-- calls the provider for that connection. One row per connection; a new
-- refusal only moves `paused_until` later. Workers keep a copy in memory,
-- refreshed every second, so the per-delivery check costs no statement.
CREATE TABLE connection_pauses (
    connection   text        PRIMARY KEY,
    paused_until timestamptz NOT NULL,
    -- The refusal that paused it, as the adapter worded it (no secrets).
    reason       text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
