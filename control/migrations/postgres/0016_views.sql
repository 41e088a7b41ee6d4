-- Views, counted from the edges' receipts (sunomi_origin::views): a receipt counts once
-- (view_receipts, kept until its ticket expires) and a viewer counts once per video and
-- window (view_marks). `viewer` is an account id, or for a guest a keyed digest of the
-- address and the day: addresses are never stored. `videos.views` is the count, changed in
-- the transaction that writes the mark.
-- Keep in step with ../sqlite/0016_views.sql.
ALTER TABLE videos ADD COLUMN views BIGINT NOT NULL DEFAULT 0;
CREATE INDEX videos_by_views ON videos (visibility, views, created_at);

CREATE TABLE view_marks (
    video_id    TEXT NOT NULL,
    viewer      TEXT NOT NULL,
    counted_at  BIGINT NOT NULL,
    PRIMARY KEY (video_id, viewer)
);
CREATE INDEX view_marks_by_time ON view_marks (counted_at);
CREATE INDEX view_marks_by_viewer ON view_marks (viewer);

CREATE TABLE view_receipts (
    nonce       TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX view_receipts_by_expiry ON view_receipts (expires_at);
