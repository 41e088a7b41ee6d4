-- Full-text search: an FTS5 index of each video's title, description and channel name, and
-- one of the caption cues' words. Both are derived by triggers in the same transaction as
-- the rows they index (any writer — the app, an import, a script — keeps them true). The
-- indexes keep their own copy of the words (not contentless: contentless deletes need
-- SQLite 3.43, and an operator's older sqlite3 shell must still be able to write a video).
-- An index row's rowid is the id of its key row, stable whatever happens to the indexed
-- table (a VACUUM may renumber a table's own rowids). Ranked by BM25 with the title weighing
-- most, then the channel name, then the description. Tokens: Unicode words without
-- diacritics, no stemming (videos are in many languages); prefixes of 2 and 3 characters
-- are indexed for suggestions while typing.
-- PostgreSQL does the same with tsvector columns: ../postgres/0012_search.sql.
CREATE TABLE video_search_keys (
    id        INTEGER PRIMARY KEY,
    video_id  TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE video_search USING fts5(
    title, description, channel,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
INSERT INTO video_search (video_search, rank) VALUES ('rank', 'bm25(10.0, 1.0, 4.0)');

CREATE TRIGGER videos_search_insert AFTER INSERT ON videos BEGIN
    INSERT INTO video_search_keys (video_id) VALUES (new.asset_id);
    INSERT INTO video_search (rowid, title, description, channel)
    VALUES ((SELECT id FROM video_search_keys WHERE video_id = new.asset_id),
            new.title, new.description,
            COALESCE((SELECT display_name FROM users WHERE id = new.owner_id), ''));
END;
CREATE TRIGGER videos_search_update AFTER UPDATE OF title, description, owner_id ON videos BEGIN
    DELETE FROM video_search
    WHERE rowid = (SELECT id FROM video_search_keys WHERE video_id = old.asset_id);
    INSERT INTO video_search (rowid, title, description, channel)
    VALUES ((SELECT id FROM video_search_keys WHERE video_id = new.asset_id),
            new.title, new.description,
            COALESCE((SELECT display_name FROM users WHERE id = new.owner_id), ''));
END;
CREATE TRIGGER videos_search_delete AFTER DELETE ON videos BEGIN
    DELETE FROM video_search
    WHERE rowid = (SELECT id FROM video_search_keys WHERE video_id = old.asset_id);
    DELETE FROM video_search_keys WHERE video_id = old.asset_id;
END;
CREATE TRIGGER users_search_rename AFTER UPDATE OF display_name ON users BEGIN
    DELETE FROM video_search WHERE rowid IN (
        SELECT k.id FROM video_search_keys k JOIN videos v ON v.asset_id = k.video_id
        WHERE v.owner_id = new.id);
    INSERT INTO video_search (rowid, title, description, channel)
    SELECT k.id, v.title, v.description, new.display_name
    FROM video_search_keys k JOIN videos v ON v.asset_id = k.video_id
    WHERE v.owner_id = new.id;
END;

INSERT INTO video_search_keys (video_id) SELECT asset_id FROM videos;
INSERT INTO video_search (rowid, title, description, channel)
SELECT k.id, v.title, v.description, COALESCE(u.display_name, '')
FROM videos v JOIN video_search_keys k ON k.video_id = v.asset_id
LEFT JOIN users u ON u.id = v.owner_id;

CREATE TABLE cue_search_keys (
    id        INTEGER PRIMARY KEY,
    video_id  TEXT NOT NULL,
    language  TEXT NOT NULL,
    start_ms  BIGINT NOT NULL,
    UNIQUE (video_id, language, start_ms)
);
CREATE VIRTUAL TABLE cue_search USING fts5(
    text,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER cues_search_insert AFTER INSERT ON transcript_cues BEGIN
    INSERT INTO cue_search_keys (video_id, language, start_ms)
    VALUES (new.video_id, new.language, new.start_ms);
    INSERT INTO cue_search (rowid, text)
    VALUES ((SELECT id FROM cue_search_keys WHERE video_id = new.video_id
             AND language = new.language AND start_ms = new.start_ms), new.text);
END;
CREATE TRIGGER cues_search_delete AFTER DELETE ON transcript_cues BEGIN
    DELETE FROM cue_search WHERE rowid = (SELECT id FROM cue_search_keys
        WHERE video_id = old.video_id AND language = old.language AND start_ms = old.start_ms);
    DELETE FROM cue_search_keys
    WHERE video_id = old.video_id AND language = old.language AND start_ms = old.start_ms;
END;

INSERT INTO cue_search_keys (video_id, language, start_ms)
SELECT video_id, language, start_ms FROM transcript_cues;
INSERT INTO cue_search (rowid, text)
SELECT k.id, t.text FROM transcript_cues t JOIN cue_search_keys k
    ON k.video_id = t.video_id AND k.language = t.language AND k.start_ms = t.start_ms;
