-- Every configured refresh token a connection's row was seeded from. A
-- worker reseeds the row only from a configured token the row has not seen:
-- during a rollout, workers still configured with an older token leave the
-- row (and the pair rotated since) alone.
ALTER TABLE connection_tokens ADD COLUMN seeded text[] NOT NULL DEFAULT '{}';
UPDATE connection_tokens SET seeded = ARRAY[seeded_from];

-- Status callbacks for a message id no delivery of the connection holds yet:
-- Chatwoot names its own message id, which herald stores as `remote_id`
-- only once the send's outcome is written, and its status update may come
-- first. Kept here (answered 202), applied by the workers' sweepers when
-- the delivery with that remote_id appears (provider_status only forward),
-- and forgotten after 10 minutes if none does.
CREATE TABLE early_callbacks (
    connection  text        NOT NULL,
    remote_id   text        NOT NULL,
    status      smallint    NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, remote_id)
);
