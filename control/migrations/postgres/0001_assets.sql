-- Assets, their events and the transactional outbox (PostgreSQL).
-- Keep in step with ../sqlite/0001_assets.sql: same tables, columns and meanings.

-- An asset's state of record. `doc` is the asset as JSON (the lifecycle state machine's
-- value, without its events); the columns beside it are what queries filter and sort on.
-- `version` grows by one with every write: writers name the version they read.
CREATE TABLE assets (
    id          TEXT    PRIMARY KEY,
    status      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    event_seq   BIGINT  NOT NULL,
    version     BIGINT  NOT NULL,
    doc         TEXT    NOT NULL
);
CREATE INDEX assets_newest_first ON assets (created_at DESC, id DESC);
CREATE INDEX assets_by_status ON assets (status);

-- Every event of every asset, in its per-asset sequence (the SSE and webhook ids).
CREATE TABLE asset_events (
    asset_id    TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    PRIMARY KEY (asset_id, seq)
);

-- What a committed change implies outside the database (event fan-out, webhook messages,
-- the edge's projection and its purge), written in the change's transaction and applied by
-- the relay, in id order, until done. A row is deleted once applied.
CREATE TABLE outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    asset_id      TEXT,
    kind          TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    created_ms    BIGINT  NOT NULL,
    attempts      BIGINT  NOT NULL DEFAULT 0,
    not_before_ms BIGINT  NOT NULL DEFAULT 0,
    leased_by     TEXT,
    lease_until_ms BIGINT  NOT NULL DEFAULT 0,
    last_error    TEXT
);
CREATE INDEX outbox_due ON outbox (not_before_ms, id);
CREATE INDEX outbox_by_asset ON outbox (asset_id, id);
