-- Content warnings. `assets.flags` is the mask of content flags moderation publishes the
-- video behind (the automatic verdict's, or a person's latest decision): a column derived
-- from the asset's document in the same statement that writes it, for lists to filter on.
-- `videos.flags` and `videos.warning_summary` are the uploader's own flags and their words.
-- `users.content_policy` is a viewer's choice per flag (JSON; NULL: the instance's policy).
-- Bit n of a mask is the n-th flag of `ContentFlag::ALL` (sex, violence, shocking, drugs).
-- Keep in step with ../sqlite/0011_content_warnings.sql.
ALTER TABLE assets ADD COLUMN flags BIGINT NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN flags BIGINT NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN warning_summary TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN content_policy TEXT;
