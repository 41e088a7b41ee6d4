-- Full-text search: a tsvector of each video's title (weight A), channel name (B) and
-- description (D), kept by triggers in the same transaction as the rows it reads (any
-- writer keeps it true), and one of each caption cue's words (a generated column). Both
-- behind GIN indexes; ranked by ts_rank. The 'simple' configuration: no stemming (videos are
-- in many languages); queries match prefixes. SQLite does the same with FTS5:
-- ../sqlite/0012_search.sql.
CREATE FUNCTION video_search_doc(title TEXT, description TEXT, channel TEXT) RETURNS tsvector
LANGUAGE sql IMMUTABLE AS $$
    SELECT setweight(to_tsvector('simple', title), 'A')
        || setweight(to_tsvector('simple', channel), 'B')
        || setweight(to_tsvector('simple', description), 'D')
$$;

ALTER TABLE videos ADD COLUMN search_doc tsvector NOT NULL DEFAULT ''::tsvector;

CREATE FUNCTION videos_search_doc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_doc := video_search_doc(NEW.title, NEW.description,
        COALESCE((SELECT display_name FROM users WHERE id = NEW.owner_id), ''));
    RETURN NEW;
END
$$;
CREATE TRIGGER videos_search_doc BEFORE INSERT OR UPDATE OF title, description, owner_id
    ON videos FOR EACH ROW EXECUTE FUNCTION videos_search_doc();

CREATE FUNCTION users_search_rename() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE videos SET search_doc = video_search_doc(title, description, NEW.display_name)
    WHERE owner_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_search_rename AFTER UPDATE OF display_name ON users FOR EACH ROW
    WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name)
    EXECUTE FUNCTION users_search_rename();

UPDATE videos v SET search_doc = video_search_doc(v.title, v.description,
    COALESCE((SELECT display_name FROM users u WHERE u.id = v.owner_id), ''));
CREATE INDEX videos_search ON videos USING GIN (search_doc);

ALTER TABLE transcript_cues ADD COLUMN search_doc tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED;
CREATE INDEX transcript_cues_search ON transcript_cues USING GIN (search_doc);
