-- People: accounts (email + argon2id password hash; role; approval status; the counters of
-- failed sign-ins that lock an account for a while) and their sessions (the cookie's token
-- stored as its SHA-256 only, with the session's CSRF token). Keep in step with
-- ../sqlite/0007_accounts.sql.
CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    email            TEXT NOT NULL UNIQUE,
    display_name     TEXT NOT NULL,
    password_hash    TEXT,
    role             TEXT NOT NULL,
    status           TEXT NOT NULL,
    failed_signins   BIGINT NOT NULL DEFAULT 0,
    locked_until_ms  BIGINT NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf          TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    expires_ms    BIGINT NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_id);
