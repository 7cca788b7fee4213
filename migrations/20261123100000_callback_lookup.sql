-- Status callbacks find a delivery by its provider's id within a
-- connection (Chatwoot names its message id, not herald's). Rows enter only
-- once a provider has given an id.
CREATE INDEX deliveries_remote ON deliveries (connection, remote_id) WHERE remote_id IS NOT NULL;
