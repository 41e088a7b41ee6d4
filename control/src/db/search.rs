//! Search in the database: ranked full-text search over videos (title, channel name,
//! description) and over their caption cues (the moment a word is said), on SQLite's FTS5
//! or PostgreSQL's tsvector indexes (migrations `0012_search.sql`, kept by triggers). Every
//! word of a query must match — whole words, except the last word of what someone is still
//! typing, which matches as a prefix (a prefix of a common word costs a merge of every word
//! it starts, so a submitted search does not pay it); the best-ranked first, newer first among equals,
//! among the newest [`CANDIDATES`] matches. Only what [`listable`] lets a viewer see is found.
//! A search first finds ids (reading no asset document), then reads those few videos.

use sqlx::Row;

use super::videos::{listable, listed_of, Listed, COLUMNS, FROM};
use super::{Backend, Db, DbError};
use crate::domain::warnings::Flags;

/// The words of a query, as the index knows them: lower-cased runs of letters and digits
/// (anything else separates words and never reaches the engine's query syntax), at most 8
/// words of at most 40 characters; and whether the last one is a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    words: Vec<String>,
    prefix_last: bool,
}

impl Terms {
    /// The whole words of a submitted search (`None` when it has no word).
    pub fn words(query: &str) -> Option<Terms> {
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(8)
            .map(|w| w.chars().take(40).collect::<String>().to_lowercase())
            .collect();
        (!words.is_empty()).then_some(Terms {
            words,
            prefix_last: false,
        })
    }

    /// The words of what someone is typing: the last one may be unfinished (a prefix).
    pub fn typed(query: &str) -> Option<Terms> {
        Terms::words(query).map(|t| Terms {
            prefix_last: true,
            ..t
        })
    }

    fn is_prefix(&self, i: usize) -> bool {
        self.prefix_last && i + 1 == self.words.len()
    }

    /// An FTS5 query: every word quoted, the unfinished one a prefix (`"walk" "par"*`).
    fn fts5(&self) -> String {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| format!("\"{w}\"{}", if self.is_prefix(i) { "*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A `to_tsquery('simple', …)` text: every word required, the unfinished one a prefix.
    fn tsquery(&self) -> String {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| format!("{w}{}", if self.is_prefix(i) { ":*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" & ")
    }

    /// The engine's query text for `backend`.
    fn query(&self, backend: Backend) -> String {
        match backend {
            Backend::Sqlite => self.fts5(),
            Backend::Postgres => self.tsquery(),
        }
    }
}

/// How many of the newest matches a query ranks. A word in a third of 100,000 videos would
/// otherwise rank every one of them on every search; capped, a search costs about the same
/// whatever it matches, and what it finds is the best of the newest 1,000 matches. Videos
/// (and cues) are numbered in the order they were indexed, so "newest" is by that number.
pub const CANDIDATES: u32 = 500;

/// The listable videos matching `terms` for a viewer hiding `hidden`, best first: at most
/// `limit`.
pub async fn videos(
    db: &Db,
    terms: &Terms,
    hidden: Flags,
    limit: u32,
) -> Result<Vec<Listed>, DbError> {
    let filter = listable(hidden);
    let sql = match db.backend() {
        Backend::Sqlite => format!(
            "WITH recent AS (SELECT rowid AS id FROM video_search WHERE video_search MATCH $2 \
                 ORDER BY rowid DESC LIMIT {CANDIDATES}) \
             SELECT v.asset_id FROM video_search \
             JOIN video_search_keys k ON k.id = video_search.rowid \
             JOIN videos v ON v.asset_id = k.video_id JOIN assets a ON a.id = v.asset_id \
             WHERE video_search MATCH $2 AND video_search.rowid >= (SELECT MIN(id) FROM recent) \
                 AND {filter} \
             ORDER BY video_search.rank, v.created_at DESC LIMIT $1"
        ),
        Backend::Postgres => format!(
            "WITH recent AS (SELECT v.asset_id, v.search_doc, v.created_at FROM videos v \
                 JOIN assets a ON a.id = v.asset_id \
                 WHERE v.search_doc @@ to_tsquery('simple', $2) AND {filter} \
                 ORDER BY v.created_at DESC LIMIT {CANDIDATES}) \
             SELECT asset_id FROM recent \
             ORDER BY ts_rank(search_doc, to_tsquery('simple', $2)) DESC, created_at DESC \
             LIMIT $1"
        ),
    };
    let ids: Vec<String> = sqlx::query(&sql)
        .bind(i64::from(limit))
        .bind(terms.query(db.backend()))
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|row| row.try_get("asset_id"))
        .collect::<Result<_, _>>()?;
    get_many(db, &ids).await
}

/// The listable videos with a caption cue matching `terms` for a viewer hiding `hidden`:
/// each video once, at its best-ranked such cue (its start in ms and its words), best
/// first; at most `limit`.
pub async fn moments(
    db: &Db,
    terms: &Terms,
    hidden: Flags,
    limit: u32,
) -> Result<Vec<(Listed, u64, String)>, DbError> {
    let filter = listable(hidden);
    let sql = match db.backend() {
        Backend::Sqlite => format!(
            "WITH recent AS (SELECT rowid AS id FROM cue_search WHERE cue_search MATCH $2 \
                 ORDER BY rowid DESC LIMIT {CANDIDATES}) \
             SELECT v.asset_id, t.start_ms AS at_ms, t.text AS at_text FROM cue_search \
             JOIN cue_search_keys k ON k.id = cue_search.rowid \
             JOIN transcript_cues t ON t.video_id = k.video_id AND t.language = k.language \
                  AND t.start_ms = k.start_ms \
             JOIN videos v ON v.asset_id = k.video_id JOIN assets a ON a.id = v.asset_id \
             WHERE cue_search MATCH $2 AND cue_search.rowid >= (SELECT MIN(id) FROM recent) \
                 AND {filter} \
             ORDER BY cue_search.rank, v.created_at DESC, t.start_ms LIMIT $1"
        ),
        Backend::Postgres => format!(
            "WITH recent AS (SELECT t.video_id AS asset_id, t.start_ms, t.text, t.search_doc, \
                     v.created_at FROM transcript_cues t \
                 JOIN videos v ON v.asset_id = t.video_id JOIN assets a ON a.id = v.asset_id \
                 WHERE t.search_doc @@ to_tsquery('simple', $2) AND {filter} \
                 ORDER BY v.created_at DESC, t.start_ms LIMIT {CANDIDATES}) \
             SELECT asset_id, start_ms AS at_ms, text AS at_text FROM recent \
             ORDER BY ts_rank(search_doc, to_tsquery('simple', $2)) DESC, created_at DESC, \
                      start_ms LIMIT $1"
        ),
    };
    let rows = sqlx::query(&sql)
        .bind(i64::from(limit) * 4)
        .bind(terms.query(db.backend()))
        .fetch_all(db.pool())
        .await?;
    let mut best: Vec<(String, u64, String)> = Vec::new();
    for row in rows {
        let id: String = row.try_get("asset_id")?;
        if best.iter().any(|(v, _, _)| *v == id) {
            continue;
        }
        let at: i64 = row.try_get("at_ms")?;
        best.push((id, u64::try_from(at).unwrap_or(0), row.try_get("at_text")?));
        if best.len() >= limit as usize {
            break;
        }
    }
    let ids: Vec<String> = best.iter().map(|(v, _, _)| v.clone()).collect();
    let found = get_many(db, &ids).await?;
    Ok(best
        .into_iter()
        .filter_map(|(id, at, text)| {
            found
                .iter()
                .find(|l| l.video.asset_id == id)
                .map(|l| (l.clone(), at, text))
        })
        .collect())
}

/// Videos `ids` with their assets and owners, in that order (those gone meanwhile left out).
async fn get_many(db: &Db, ids: &[String]) -> Result<Vec<Listed>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE v.asset_id IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id.as_str());
    }
    let mut found: Vec<Listed> = q
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(listed_of)
        .collect::<Result<_, _>>()?;
    found.sort_by_key(|l| ids.iter().position(|id| *id == l.video.asset_id));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_only_words_so_no_engine_syntax_gets_through() {
        let t = Terms::words("  Walk\"* OR park:* & (NEAR) ").unwrap();
        assert_eq!(t.words, vec!["walk", "or", "park", "near"]);
        assert_eq!(t.fts5(), "\"walk\" \"or\" \"park\" \"near\"");
        assert_eq!(t.tsquery(), "walk & or & park & near");
        let typed = Terms::typed("walk pa").unwrap();
        assert_eq!(typed.fts5(), "\"walk\" \"pa\"*");
        assert_eq!(typed.tsquery(), "walk & pa:*");
        assert!(Terms::words("%_* \"").is_none());
        let many = Terms::words(&"a ".repeat(20)).unwrap();
        assert_eq!(many.words.len(), 8);
        assert_eq!(Terms::words("Émilie").unwrap().words, vec!["émilie"]);
    }
}
