-- Two-factor sign-in (TOTP, RFC 6238): the account's secret (base32) once it is on, the
-- secret being set up until its first code proves the authenticator has it, the last time
-- step a code was accepted at (a code works once), and the SHA-256 of each unused recovery
-- code (a JSON list). Keep in step with ../sqlite/0014_two_factor.sql.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_pending TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_recovery TEXT NOT NULL DEFAULT '[]';
