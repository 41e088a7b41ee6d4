-- The public halves of the keys playback tokens are signed with (the private half is shown
-- once, when the key is made, and never stored). `keys/signing/{id}.pub` in storage, which
-- the edges read, is a projection of this table written by the outbox relay.
-- Keep in step with ../postgres/0005_signing_keys.sql.
CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
