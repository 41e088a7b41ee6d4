-- What a channel shows of its person besides their name: a description, and a picture
-- (decoded once from what they uploaded and stored as a small JPEG, nothing of the upload
-- kept). One row per account that set either.
-- Keep in step with ../postgres/0019_profiles.sql.
CREATE TABLE profiles (
    user_id      TEXT PRIMARY KEY,
    description  TEXT NOT NULL DEFAULT '',
    picture      BLOB,
    picture_ms   BIGINT NOT NULL DEFAULT 0
);
