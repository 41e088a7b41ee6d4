-- Webhook endpoints made through the API (those of the config file live there), and every
-- message's delivery: the database is the queue webhooks are delivered from, so a message
-- outlives any process and is never delivered with a body other than the one recorded.
-- Keep in step with ../postgres/0004_webhooks.sql: same tables, columns and meanings.

-- `secret` signs deliveries; `previous_secret` also signs them until `previous_until_ms`
-- after a rotation, so receivers can switch without dropping a message.
CREATE TABLE webhook_endpoints (
    id                TEXT    PRIMARY KEY,
    url               TEXT    NOT NULL,
    description       TEXT    NOT NULL,
    secret            TEXT    NOT NULL,
    previous_secret   TEXT,
    previous_until_ms INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT    NOT NULL
);

-- One message to one endpoint. `state` is pending, delivered or failed (every attempt
-- failed, or its endpoint is gone). A pending row is due at `due_ms`; a dispatcher that
-- takes it (`leased_by`) holds it until `lease_until_ms`. `seq` orders listings.
CREATE TABLE webhook_deliveries (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id         TEXT    NOT NULL UNIQUE,
    endpoint_id    TEXT    NOT NULL,
    asset_id       TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    body           TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    leased_by      TEXT,
    due_ms         INTEGER NOT NULL,
    lease_until_ms INTEGER NOT NULL DEFAULT 0,
    created_ms     INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, due_ms);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, seq);

-- Every attempt of every delivery, numbered from 1.
CREATE TABLE webhook_attempts (
    msg_id      TEXT    NOT NULL,
    n           INTEGER NOT NULL,
    at          TEXT    NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (msg_id, n)
);
