-- The audit trail: an append-only row for every change of a delivery that
-- no attempt row tells (a deferral, a release or abort in its group, a lease
-- taken back, an operator's resend or cancel, an expiry, a provider status
-- moved by a callback), written in the transaction of the change.
-- Acceptance is the delivery row itself (`accepted_at`, `not_before`), and
-- every call is its attempt row: a send accepted and delivered has none.
CREATE TABLE delivery_events (
    id          bigserial   PRIMARY KEY,
    delivery_id uuid        NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text        NOT NULL,
    from_status text,
    to_status   text,
    -- Why: a wait or fail reason, the operator's reason, the provider's status.
    reason      text,
    -- Until when the delivery waits after this change, where it waits.
    until       timestamptz,
    -- Who: `worker`, `cli`, `api`, `callback`, or `producer` (a command
    -- published by other means); `operator` names the person where given.
    actor       text        NOT NULL,
    operator    text
);

CREATE INDEX delivery_events_delivery ON delivery_events (delivery_id, id);
