-- Deliveries and their attempts (contract §4).

CREATE TABLE deliveries (
    id              uuid PRIMARY KEY,
    connection      text        NOT NULL,
    status          text        NOT NULL
        CHECK (status IN ('waitForSending', 'sending', 'success', 'failed')),
    provider_status smallint    CHECK (provider_status BETWEEN -3 AND 3),
    remote_id       text,
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    resends         integer     NOT NULL DEFAULT 0 CHECK (resends >= 0),
    next_attempt_at timestamptz,
    wait_reason     text
        CHECK (wait_reason IN ('retry', 'quota', 'window', 'rate', 'group', 'scheduled')),
    fail_reason     text,
    -- The validated send command (message, group, metadata); null for a
    -- command that was rejected before it could be read.
    command         jsonb,
    not_before      timestamptz,
    expires_at      timestamptz,
    group_id        text,
    group_order     integer,
    -- When the command was accepted: the start of the delivery latency.
    accepted_at     timestamptz NOT NULL DEFAULT now(),
    -- When the current claim was taken; a `sending` row older than the
    -- sending lease belongs to a lost worker.
    claimed_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'failed' OR fail_reason IS NOT NULL),
    CHECK (status <> 'waitForSending' OR next_attempt_at IS NOT NULL),
    CHECK (status <> 'sending' OR claimed_at IS NOT NULL)
);

-- The due-sweeper's scan: waiting rows by due time.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'waitForSending';
-- Lease recovery: rows in `sending` by claim time.
CREATE INDEX deliveries_sending ON deliveries (claimed_at) WHERE status = 'sending';
-- `herald list` and bulk resend: newest first, by status and connection.
CREATE INDEX deliveries_list ON deliveries (status, connection, created_at DESC);
CREATE INDEX deliveries_created ON deliveries (created_at DESC);

CREATE TABLE delivery_attempts (
    id          bigserial   PRIMARY KEY,
    delivery_id uuid        NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    round       integer     NOT NULL DEFAULT 0,
    attempt     integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    http_status integer,
    outcome     text        NOT NULL
        CHECK (outcome IN ('success', 'retryable', 'permanent', 'deferred')),
    error       text
);

CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
