-- Rates, shared by every worker: per connection, the theoretical arrival
-- time (`tat`) of its next send slot, the state of a GCRA whose spacing and
-- tolerance each worker derives from the connection's limits
-- (`domain::rate`). A worker reserves a run of slots in one call of
-- reserve_rate_slots and makes each call at its slot's time.
CREATE TABLE connection_rate (
    connection  text        PRIMARY KEY,
    tat         timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Reserves up to `want` slots of `p_connection`, none later than
-- `horizon_us` from now: slot k (from 0) is at
-- greatest(now_at, first_at + k × spacing_us). The row is inserted before
-- it is locked, so that two first reservations cannot both start from
-- "now"; the time is read after the lock (clock_timestamp(), not the
-- transaction's now()), so that the slots of successive reservations
-- follow the order the row's lock gave them. `Gcra::reserve` is the same
-- arithmetic, tested against this function.
CREATE FUNCTION reserve_rate_slots(
    p_connection text,
    spacing_us   bigint,
    tolerance_us bigint,
    want         bigint,
    horizon_us   bigint,
    OUT now_at   timestamptz,
    OUT first_at timestamptz,
    OUT granted  bigint,
    OUT tat_at   timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
    us CONSTANT interval := interval '1 microsecond';
    held timestamptz;
    start timestamptz;
BEGIN
    INSERT INTO connection_rate (connection, tat)
    VALUES (p_connection, '-infinity')
    ON CONFLICT (connection) DO NOTHING;
    SELECT r.tat INTO held FROM connection_rate r
    WHERE r.connection = p_connection FOR UPDATE;
    now_at := clock_timestamp();
    start := greatest(held, now_at);
    first_at := start - tolerance_us * us;
    IF first_at > now_at + horizon_us * us THEN
        granted := 0;
    ELSE
        granted := least(want, floor(
            extract(epoch FROM (now_at + horizon_us * us) - first_at) * 1000000 / spacing_us
        )::bigint + 1);
    END IF;
    tat_at := start + granted * spacing_us * us;
    UPDATE connection_rate SET tat = tat_at, updated_at = now_at
    WHERE connection = p_connection;
END
$$;
