-- The words of each video's captions, one row per cue, for search that finds the moment: an
-- index derived from the captions files (rewritten whenever a file is), never the truth.
-- Keep in step with ../sqlite/0010_transcripts.sql.
CREATE TABLE transcript_cues (
    video_id  TEXT NOT NULL,
    language  TEXT NOT NULL,
    start_ms  BIGINT NOT NULL,
    end_ms    BIGINT NOT NULL,
    text      TEXT NOT NULL,
    PRIMARY KEY (video_id, language, start_ms)
);
