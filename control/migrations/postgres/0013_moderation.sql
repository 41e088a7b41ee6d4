-- The moderation queue's own facts. Reports: who reported which video, why, where in it
-- (ms; NULL: the whole video), and once decided what came of it — one open report per
-- person and video. The audit log: every decision people make in the queue and on accounts
-- (who, what, on what, why, when); a held or reported video's decision is also in its
-- asset's events. Keep in step with ../sqlite/0013_moderation.sql.
CREATE TABLE reports (
    id           TEXT PRIMARY KEY,
    video_id     TEXT NOT NULL,
    reporter_id  TEXT NOT NULL,
    reason       TEXT NOT NULL,
    details      TEXT NOT NULL,
    start_ms     BIGINT,
    end_ms       BIGINT,
    created_ms   BIGINT NOT NULL,
    decision     TEXT,
    decided_ms   BIGINT
);
CREATE INDEX reports_by_video ON reports (video_id, created_ms);
CREATE INDEX reports_by_reporter ON reports (reporter_id, created_ms);
CREATE INDEX reports_open ON reports (created_ms) WHERE decided_ms IS NULL;
CREATE UNIQUE INDEX reports_one_open ON reports (video_id, reporter_id) WHERE decided_ms IS NULL;

CREATE TABLE audit_log (
    id        TEXT PRIMARY KEY,
    at_ms     BIGINT NOT NULL,
    actor_id  TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    reason    TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at_ms, id);
