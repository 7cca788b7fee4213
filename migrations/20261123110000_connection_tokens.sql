-- OAuth2 tokens of connections whose provider replaces the refresh token
-- on every refresh (HighQ): the current pair must outlive a restart and be
-- shared by every worker. One row per connection; a refresh takes the row
-- with FOR UPDATE, so one worker refreshes at a time, and `generation`
-- tells the others that it already happened.
CREATE TABLE connection_tokens (
    connection    text        PRIMARY KEY,
    access_token  text,
    refresh_token text        NOT NULL,
    -- When the access token is due for renewal; null when unknown.
    expires_at    timestamptz,
    -- Refreshes so far; a worker renews only the generation it was refused.
    generation    bigint      NOT NULL DEFAULT 0,
    -- The configured refresh token this row started from: a new one in the
    -- configuration (an operator's re-authorisation) starts the row again.
    seeded_from   text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
