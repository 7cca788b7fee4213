-- Every configured refresh token a connection's row was seeded from. A
-- worker reseeds the row only from a configured token the row has not seen:
-- during a rollout, workers still configured with an older token leave the
-- row (and the pair rotated since) alone.
ALTER TABLE connection_tokens ADD COLUMN seeded text[] NOT NULL DEFAULT '{}';
UPDATE connection_tokens SET seeded = ARRAY[seeded_from];
