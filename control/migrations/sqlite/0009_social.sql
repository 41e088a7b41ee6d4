-- What people do with videos and each other: likes (one per account and video), subscriptions
-- to channels (a channel is an account), comments (one level of replies; a deleted comment
-- keeps its place for its replies, without its words). Keep in step with
-- ../postgres/0009_social.sql.
CREATE TABLE likes (
    video_id    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (video_id, user_id)
);

CREATE TABLE subscriptions (
    subscriber_id  TEXT NOT NULL,
    channel_id     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (subscriber_id, channel_id)
);

CREATE INDEX subscriptions_by_channel ON subscriptions (channel_id);

CREATE TABLE comments (
    id          TEXT PRIMARY KEY,
    video_id    TEXT NOT NULL,
    author_id   TEXT NOT NULL,
    parent_id   TEXT,
    body        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    edited_ms   BIGINT,
    deleted     BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX comments_by_video ON comments (video_id, parent_id, created_ms);
CREATE INDEX comments_by_author ON comments (author_id, created_ms);
