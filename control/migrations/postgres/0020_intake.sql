-- S3 event intake: every object version under the intake prefix the control plane acted on
-- (became a video, or was refused), so a notification delivered twice, or an older version's
-- delivered after a newer one's, changes nothing. `version` names the object version (its
-- padded sequencer, or its ETag where the event had no sequencer); `sequencer` orders the
-- versions of one key. A taken version's row is written in the transaction that makes its
-- asset. Keep in step with ../sqlite/0020_intake.sql.
CREATE TABLE intake_objects (
    object_key  TEXT NOT NULL,
    version     TEXT NOT NULL,
    sequencer   TEXT,
    outcome     TEXT NOT NULL,
    asset_id    TEXT,
    detail      TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL,
    PRIMARY KEY (object_key, version)
);
