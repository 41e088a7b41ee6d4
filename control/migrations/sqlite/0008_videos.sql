-- Videos: what people upload, as the platform shows them — the owner, a title and a
-- description, and who may watch (public, unlisted: by link, private: the owner). One row
-- per asset, written in the asset's own transaction; the media lifecycle stays the asset's.
-- Keep in step with ../postgres/0008_videos.sql.
CREATE TABLE videos (
    asset_id     TEXT PRIMARY KEY,
    owner_id     TEXT NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    visibility   TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE INDEX videos_by_owner ON videos (owner_id, created_at);
CREATE INDEX videos_by_visibility ON videos (visibility, created_at);
