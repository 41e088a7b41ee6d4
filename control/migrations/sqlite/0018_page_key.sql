-- The web app's own signing key: the key the watch page mints playback tokens with, so an
-- owner (or a moderator) plays a private video, whose only playback id is signed. One row;
-- its public half is an ordinary signing key (signing_keys, projected for the edges). The
-- private half is kept here, as trusted as the rest of the database.
-- Keep in step with ../postgres/0018_page_key.sql.
CREATE TABLE page_signing_key (
    id           SMALLINT PRIMARY KEY CHECK (id = 1),
    kid          TEXT NOT NULL,
    private_pem  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
