//! Search in the database: ranked full-text search over videos (title, channel name,
//! description) and over their caption cues (the moment a word is said), on SQLite's FTS5
//! or PostgreSQL's tsvector indexes (migrations `0012_search.sql`, kept by triggers). Every
//! word of a query must match — whole words, except the last word of what someone is still
//! typing, which matches as a prefix (a prefix of a common word costs a merge of every word
//! it starts, so a submitted search does not pay it); the best-ranked first, newer first among equals,
//! among the newest [`CANDIDATES`] matches. Only what [`listable`] lets a viewer see is found.
//! A search first finds ids (reading no asset document), then reads those few videos.
//!
//! On SQLite the candidates are read first and then joined, in that order (`CROSS JOIN`: the
//! planner would otherwise walk every public video by the `visibility` index and look each
//! up among the candidates), and ranked here (`domain::ranking`, FTS5's BM25) with word counts
//! kept in [`Frequencies`], not by FTS5's `bm25()`, which counts a word's documents on every
//! query by walking its whole index. PostgreSQL's `ts_rank` needs no such count.

use std::time::Duration;

use moka::future::Cache;
use sqlx::Row;

use super::videos::{listable, listed_of, Listed, COLUMNS, FROM};
use super::{Backend, Db, DbError};
use crate::domain::ranking::{self, Bm25, QueryWord};
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

    /// Each word alone, as an FTS5 query and folded for ranking.
    fn each(&self) -> Vec<(String, QueryWord)> {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let one = Terms {
                    words: vec![w.clone()],
                    prefix_last: self.is_prefix(i),
                };
                let word = QueryWord {
                    word: ranking::fold(w),
                    prefix: self.is_prefix(i),
                };
                (one.fts5(), word)
            })
            .collect()
    }
}

/// A SQLite full-text index searched here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Index {
    /// `video_search`: title, description, channel.
    Videos,
    /// `cue_search`: a caption cue's text.
    Cues,
}

impl Index {
    /// The FTS5 table, and the table numbering its documents (one row per document).
    fn tables(self) -> (&'static str, &'static str) {
        match self {
            Index::Videos => ("video_search", "video_search_keys"),
            Index::Cues => ("cue_search", "cue_search_keys"),
        }
    }

    /// Its columns' weights (title, description, channel: the `rank` migration 0012 set).
    fn weights(self) -> &'static [f64] {
        match self {
            Index::Videos => &[10.0, 1.0, 4.0],
            Index::Cues => &[1.0],
        }
    }
}

/// How long a count of documents is used before it is counted again: ranking needs only
/// their proportions, which a few minutes of uploads barely move.
const COUNTS_TTL: Duration = Duration::from_secs(300);

/// How many documents each SQLite index holds and how many contain each searched word:
/// counted on first need (a count walks the word's whole index), then kept for
/// [`COUNTS_TTL`], shared by every search.
pub struct Frequencies {
    counts: Cache<(Index, String), u64>,
}

impl Default for Frequencies {
    fn default() -> Frequencies {
        Frequencies {
            counts: Cache::builder()
                .max_capacity(20_000)
                .time_to_live(COUNTS_TTL)
                .build(),
        }
    }
}

impl Frequencies {
    /// Documents in `index` containing `fts5` (a one-word query), or all of them for "".
    async fn count(&self, db: &Db, index: Index, fts5: &str) -> Result<u64, DbError> {
        let key = (index, fts5.to_owned());
        if let Some(n) = self.counts.get(&key).await {
            return Ok(n);
        }
        let (table, keys) = index.tables();
        let row = if fts5.is_empty() {
            sqlx::query(&format!("SELECT COUNT(*) AS n FROM {keys}"))
                .fetch_one(db.pool())
                .await?
        } else {
            sqlx::query(&format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE {table} MATCH $1"
            ))
            .bind(fts5)
            .fetch_one(db.pool())
            .await?
        };
        let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
        self.counts.insert(key, n).await;
        Ok(n)
    }

    /// The BM25 ranking of `terms` over `index`.
    async fn ranking(&self, db: &Db, index: Index, terms: &Terms) -> Result<Bm25, DbError> {
        let documents = self.count(db, index, "").await?;
        let mut words = Vec::new();
        let mut containing = Vec::new();
        for (fts5, word) in terms.each() {
            containing.push(self.count(db, index, &fts5).await?);
            words.push(word);
        }
        Ok(Bm25::new(words, documents, &containing, index.weights()))
    }
}

/// `found`, best first by `rank`'s score of each one's `text` (its columns), then by `tie`.
fn best_first<T>(
    rank: &Bm25,
    found: Vec<T>,
    text: impl Fn(&T) -> Vec<&str>,
    tie: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> Vec<T> {
    let docs: Vec<Vec<&str>> = found.iter().map(&text).collect();
    let scores = rank.scores(&docs);
    let mut scored: Vec<(f64, T)> = scores.into_iter().zip(found).collect();
    scored.sort_by(|(a, x), (b, y)| b.total_cmp(a).then_with(|| tie(x, y)));
    scored.into_iter().map(|(_, f)| f).collect()
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
    counts: &Frequencies,
    terms: &Terms,
    hidden: Flags,
    limit: u32,
) -> Result<Vec<Listed>, DbError> {
    let filter = listable(hidden);
    let ids: Vec<String> = match db.backend() {
        Backend::Sqlite => {
            let sql = format!(
                "WITH recent AS (SELECT rowid AS id, title, description, channel FROM video_search \
                     WHERE video_search MATCH $1 ORDER BY rowid DESC LIMIT {CANDIDATES}) \
                 SELECT v.asset_id, v.created_at, r.title AS t, r.description AS d, \
                     r.channel AS c FROM recent r \
                 CROSS JOIN video_search_keys k ON k.id = r.id \
                 CROSS JOIN videos v ON v.asset_id = k.video_id \
                 CROSS JOIN assets a ON a.id = v.asset_id \
                 WHERE {filter}"
            );
            let rows = sqlx::query(&sql)
                .bind(terms.query(db.backend()))
                .fetch_all(db.pool())
                .await?;
            let mut found = Vec::with_capacity(rows.len());
            for row in &rows {
                let text: [String; 3] = [row.try_get("t")?, row.try_get("d")?, row.try_get("c")?];
                let id: String = row.try_get("asset_id")?;
                let created: String = row.try_get("created_at")?;
                found.push((id, created, text));
            }
            let rank = counts.ranking(db, Index::Videos, terms).await?;
            best_first(
                &rank,
                found,
                |(_, _, text)| text.iter().map(String::as_str).collect(),
                |a, b| b.1.cmp(&a.1),
            )
            .into_iter()
            .take(limit as usize)
            .map(|(id, _, _)| id)
            .collect()
        }
        Backend::Postgres => {
            let sql = format!(
                "WITH recent AS (SELECT v.asset_id, v.search_doc, v.created_at FROM videos v \
                     JOIN assets a ON a.id = v.asset_id \
                     WHERE v.search_doc @@ to_tsquery('simple', $2) AND {filter} \
                     ORDER BY v.created_at DESC LIMIT {CANDIDATES}) \
                 SELECT asset_id FROM recent \
                 ORDER BY ts_rank(search_doc, to_tsquery('simple', $2)) DESC, created_at DESC \
                 LIMIT $1"
            );
            sqlx::query(&sql)
                .bind(i64::from(limit))
                .bind(terms.query(db.backend()))
                .fetch_all(db.pool())
                .await?
                .iter()
                .map(|row| row.try_get("asset_id"))
                .collect::<Result<_, _>>()?
        }
    };
    get_many(db, &ids).await
}

/// The listable videos with a caption cue matching `terms` for a viewer hiding `hidden`:
/// each video once, at its best-ranked such cue (its start in ms and its words), best
/// first; at most `limit`.
pub async fn moments(
    db: &Db,
    counts: &Frequencies,
    terms: &Terms,
    hidden: Flags,
    limit: u32,
) -> Result<Vec<(Listed, u64, String)>, DbError> {
    let filter = listable(hidden);
    // Each a video, a cue's start (ms) and its words, best first.
    let ranked: Vec<(String, u64, String)> = match db.backend() {
        Backend::Sqlite => {
            let sql = format!(
                "WITH recent AS (SELECT rowid AS id FROM cue_search WHERE cue_search MATCH $1 \
                     ORDER BY rowid DESC LIMIT {CANDIDATES}) \
                 SELECT v.asset_id, v.created_at, t.start_ms AS at_ms, t.text AS at_text \
                 FROM recent r CROSS JOIN cue_search_keys k ON k.id = r.id \
                 CROSS JOIN transcript_cues t ON t.video_id = k.video_id \
                      AND t.language = k.language AND t.start_ms = k.start_ms \
                 CROSS JOIN videos v ON v.asset_id = k.video_id \
                 CROSS JOIN assets a ON a.id = v.asset_id \
                 WHERE {filter}"
            );
            let rows = sqlx::query(&sql)
                .bind(terms.query(db.backend()))
                .fetch_all(db.pool())
                .await?;
            let mut found = Vec::with_capacity(rows.len());
            for row in &rows {
                let at: i64 = row.try_get("at_ms")?;
                let created: String = row.try_get("created_at")?;
                let cue: (String, u64, String) = (
                    row.try_get("asset_id")?,
                    u64::try_from(at).unwrap_or(0),
                    row.try_get("at_text")?,
                );
                found.push((cue, created));
            }
            let rank = counts.ranking(db, Index::Cues, terms).await?;
            best_first(
                &rank,
                found,
                |((_, _, text), _)| vec![text.as_str()],
                |(a, a_created), (b, b_created)| b_created.cmp(a_created).then(a.1.cmp(&b.1)),
            )
            .into_iter()
            .map(|(cue, _)| cue)
            .collect()
        }
        Backend::Postgres => {
            let sql = format!(
                "WITH recent AS (SELECT t.video_id AS asset_id, t.start_ms, t.text, t.search_doc, \
                         v.created_at FROM transcript_cues t \
                     JOIN videos v ON v.asset_id = t.video_id JOIN assets a ON a.id = v.asset_id \
                     WHERE t.search_doc @@ to_tsquery('simple', $2) AND {filter} \
                     ORDER BY v.created_at DESC, t.start_ms LIMIT {CANDIDATES}) \
                 SELECT asset_id, start_ms AS at_ms, text AS at_text FROM recent \
                 ORDER BY ts_rank(search_doc, to_tsquery('simple', $2)) DESC, created_at DESC, \
                          start_ms LIMIT $1"
            );
            let rows = sqlx::query(&sql)
                .bind(i64::from(limit) * 4)
                .bind(terms.query(db.backend()))
                .fetch_all(db.pool())
                .await?;
            let mut cues = Vec::with_capacity(rows.len());
            for row in rows {
                let at: i64 = row.try_get("at_ms")?;
                cues.push((
                    row.try_get("asset_id")?,
                    u64::try_from(at).unwrap_or(0),
                    row.try_get("at_text")?,
                ));
            }
            cues
        }
    };
    let mut best: Vec<(String, u64, String)> = Vec::new();
    for (id, at, text) in ranked {
        if best.iter().any(|(v, _, _)| *v == id) {
            continue;
        }
        best.push((id, at, text));
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
