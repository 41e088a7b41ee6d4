//! Search in the database: ranked full-text search over videos (title, channel name,
//! description) and over their caption cues (the moment a word is said), on SQLite's FTS5
//! or PostgreSQL's tsvector indexes (migrations `0012_search.sql`, kept by triggers). Every
//! word of a query must match, as a prefix; the best-ranked first, newer first among equals.
//! Only what [`listable`] lets a viewer see is found.

use sqlx::Row;

use super::videos::{listable, listed_of, Listed, COLUMNS};
use super::{Backend, Db, DbError};
use crate::domain::warnings::Flags;

/// The words of a query, as the index knows them: lower-cased runs of letters and digits
/// (anything else separates words and never reaches the engine's query syntax), at most 8
/// words of at most 40 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms(Vec<String>);

impl Terms {
    /// The terms of `query` (`None` when it has no word).
    pub fn of(query: &str) -> Option<Terms> {
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(8)
            .map(|w| w.chars().take(40).collect::<String>().to_lowercase())
            .collect();
        (!words.is_empty()).then_some(Terms(words))
    }

    /// An FTS5 query: every term as a quoted prefix (`"walk"* "park"*`).
    fn fts5(&self) -> String {
        self.0
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A `to_tsquery('simple', …)` text: every term as a prefix, all required.
    fn tsquery(&self) -> String {
        self.0
            .iter()
            .map(|w| format!("{w}:*"))
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

const JOINS: &str = "JOIN assets a ON a.id = v.asset_id LEFT JOIN users u ON u.id = v.owner_id";

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
            "SELECT {COLUMNS} FROM video_search \
             JOIN video_search_keys k ON k.id = video_search.rowid \
             JOIN videos v ON v.asset_id = k.video_id {JOINS} \
             WHERE video_search MATCH $2 AND {filter} \
             ORDER BY video_search.rank, v.created_at DESC LIMIT $1"
        ),
        Backend::Postgres => format!(
            "SELECT {COLUMNS} FROM videos v {JOINS} \
             WHERE v.search_doc @@ to_tsquery('simple', $2) AND {filter} \
             ORDER BY ts_rank(v.search_doc, to_tsquery('simple', $2)) DESC, v.created_at DESC \
             LIMIT $1"
        ),
    };
    sqlx::query(&sql)
        .bind(i64::from(limit))
        .bind(terms.query(db.backend()))
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(listed_of)
        .collect()
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
            "SELECT {COLUMNS}, t.start_ms AS at_ms, t.text AS at_text FROM cue_search \
             JOIN cue_search_keys k ON k.id = cue_search.rowid \
             JOIN transcript_cues t ON t.video_id = k.video_id AND t.language = k.language \
                  AND t.start_ms = k.start_ms \
             JOIN videos v ON v.asset_id = k.video_id {JOINS} \
             WHERE cue_search MATCH $2 AND {filter} \
             ORDER BY cue_search.rank, v.created_at DESC, t.start_ms LIMIT $1"
        ),
        Backend::Postgres => format!(
            "SELECT {COLUMNS}, t.start_ms AS at_ms, t.text AS at_text FROM transcript_cues t \
             JOIN videos v ON v.asset_id = t.video_id {JOINS} \
             WHERE t.search_doc @@ to_tsquery('simple', $2) AND {filter} \
             ORDER BY ts_rank(t.search_doc, to_tsquery('simple', $2)) DESC, v.created_at DESC, \
                      t.start_ms LIMIT $1"
        ),
    };
    let rows = sqlx::query(&sql)
        .bind(i64::from(limit) * 20)
        .bind(terms.query(db.backend()))
        .fetch_all(db.pool())
        .await?;
    let mut out: Vec<(Listed, u64, String)> = Vec::new();
    for row in rows {
        let id: String = row.try_get("asset_id")?;
        if out.iter().any(|(l, _, _)| l.video.asset_id == id) {
            continue;
        }
        let at: i64 = row.try_get("at_ms")?;
        let text: String = row.try_get("at_text")?;
        out.push((listed_of(&row)?, u64::try_from(at).unwrap_or(0), text));
        if out.len() >= limit as usize {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_only_words_so_no_engine_syntax_gets_through() {
        let t = Terms::of("  Walk\"* OR park:* & (NEAR) ").unwrap();
        assert_eq!(t.0, vec!["walk", "or", "park", "near"]);
        assert_eq!(t.fts5(), "\"walk\"* \"or\"* \"park\"* \"near\"*");
        assert_eq!(t.tsquery(), "walk:* & or:* & park:* & near:*");
        assert!(Terms::of("%_* \"").is_none());
        let many = Terms::of(&"a ".repeat(20)).unwrap();
        assert_eq!(many.0.len(), 8);
        assert_eq!(Terms::of("Émilie").unwrap().0, vec!["émilie"]);
    }
}
