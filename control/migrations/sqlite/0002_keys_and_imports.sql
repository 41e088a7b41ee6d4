-- API keys (their SHA-256 only; the key itself is shown once, when created) and the record
-- of stores whose earlier-version records were imported.

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

-- One row per object store whose earlier-version JSON records (videos/*/asset.json,
-- keys/api/*.json) were imported, so the import runs once per store.
CREATE TABLE store_imports (
    store       TEXT PRIMARY KEY,
    imported_at TEXT NOT NULL
);
