-- Sign-in with other providers (OpenID Connect, GitHub-style OAuth 2.0): a sign-in under
-- way (sso_attempts, taken once by the provider's redirect back, for ten minutes) and who
-- each provider's subject is here (user_identities). An account made this way has no
-- password until its person sets one.
-- Keep in step with ../sqlite/0017_sso.sql.
CREATE TABLE sso_attempts (
    state       TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    verifier    TEXT NOT NULL,
    next_path   TEXT NOT NULL,
    expires_ms  BIGINT NOT NULL
);
CREATE INDEX sso_attempts_by_expiry ON sso_attempts (expires_ms);

CREATE TABLE user_identities (
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    email       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX user_identities_by_user ON user_identities (user_id);
