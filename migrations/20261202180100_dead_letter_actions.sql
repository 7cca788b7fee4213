-- The audit trail of the dead-letter queue: a row for every replay and
-- purge an operator ran (`herald dead replay | purge`), with when, who,
-- why, and which dead letters it took. Dead letters are commands, not
-- deliveries, so they have a table of their own beside delivery_events.
--
-- A row is written before the action touches the queue (`started_at`,
-- what was asked) and completed once when it ends (`finished_at`, `count`,
-- `letters`, and `error` where it stopped early); rows are never deleted,
-- and a completed row never changes again. A row left without
-- `finished_at` is an action whose process died before it could say what
-- it did: up to everything it asked for may have been replayed or purged.
CREATE TABLE dead_letter_actions (
    id          bigserial   PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    action      text        NOT NULL CHECK (action IN ('replay', 'purge')),
    -- Who: `cli` or `api`; `operator` names the person where given.
    actor       text        NOT NULL,
    operator    text,
    reason      text,
    -- The dead-letter queue it worked on.
    queue       text        NOT NULL,
    -- What was asked: the handles named, or null for every dead letter
    -- (`replay --all`, a purge of the `asked_count` counted).
    handles     text[],
    asked_count integer,
    -- How many it replayed or purged, and each one's identity:
    -- [{"handle", "message_id", "type", "id", "error"}].
    count       integer,
    letters     jsonb       NOT NULL DEFAULT '[]',
    -- Why it stopped before the end, where it did.
    error       text,
    CHECK ((finished_at IS NULL) = (count IS NULL))
);
