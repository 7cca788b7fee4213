-- connection_tokens keeps provider credentials sealed (src/secrets): the
-- configured refresh tokens the row was seeded from, and the one the row
-- holds, are kept only as digests from here on (hex SHA-256, as
-- herald::secrets::digest computes it), so the plain seeds go now. The pair
-- itself is sealed with [secrets] key, which SQL does not have: `herald
-- setup` (with a key) and `herald secrets rotate` seal the rows a version
-- before this left in plain text, and a worker reads such a row as it is
-- and seals it at its next write.
ALTER TABLE connection_tokens ADD COLUMN refresh_digest text;
UPDATE connection_tokens SET
    refresh_digest = encode(sha256(convert_to(refresh_token, 'UTF8')), 'hex'),
    seeded_from = encode(sha256(convert_to(seeded_from, 'UTF8')), 'hex'),
    seeded = ARRAY(SELECT encode(sha256(convert_to(s, 'UTF8')), 'hex') FROM unnest(seeded) AS s);
ALTER TABLE connection_tokens ALTER COLUMN refresh_digest SET NOT NULL;
