-- In-app notifications, written in the transaction of the fact they tell of: a status
-- event of a video (to its owner), a subscription's new public video (to each subscriber,
-- once), a comment on one's video or a reply to one's comment, a decided report (to the
-- reporter). `subject` is always the video; `detail` the comment id or the decision. The id
-- says what it is about and for whom, so the same fact never notifies anyone twice.
-- Keep in step with ../sqlite/0015_notifications.sql.
CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    actor_id    TEXT,
    detail      TEXT NOT NULL DEFAULT '',
    created_ms  BIGINT NOT NULL,
    read_ms     BIGINT
);
CREATE INDEX notifications_by_user ON notifications (user_id, created_ms);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_ms IS NULL;
CREATE INDEX notifications_by_subject ON notifications (subject);
