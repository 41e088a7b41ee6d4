-- Uploads in progress (tus and direct): the record of what arrived; the bytes themselves
-- are in object storage (uploads/{id}/...). `doc` is the upload as JSON; `version` grows by
-- one with every write. `finishing_until` is the lease (Unix ms) of the one process
-- assembling a complete upload's source; `complete` is 1 once every declared byte arrived.
CREATE TABLE uploads (
    id              TEXT    PRIMARY KEY,
    asset_id        TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    expires_at      BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    finishing_until BIGINT NOT NULL DEFAULT 0,
    complete        BIGINT NOT NULL DEFAULT 0,
    doc             TEXT    NOT NULL
);
CREATE INDEX uploads_by_asset ON uploads (asset_id);
CREATE INDEX uploads_by_status ON uploads (status, expires_at);
