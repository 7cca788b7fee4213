-- The token of the consumption that accepted a send: a retry of the same
-- accept (its first statement's answer lost, perhaps still running) finds
-- its own row by it and carries on with that row, where a second copy of
-- the command, consumed with another token, is a duplicate. Null for rows
-- accepted before this column existed and for rejected commands.
ALTER TABLE deliveries ADD COLUMN accept_token uuid;
