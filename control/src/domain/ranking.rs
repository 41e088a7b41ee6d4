//! Okapi BM25 over a search's candidates, computed here rather than by the database. SQLite's
//! FTS5 `bm25()` counts each query word's documents by walking that word's whole index on
//! every query — for a word in a third of 100,000 videos, most of a search's time. Here the
//! counts come from the caller (counted once, then cached: `db::search::Frequencies`), and
//! only the candidates' own text is read. The formula is FTS5's (k1 = 1.2, b = 0.75; per
//! word, its frequency summed over the columns by their weights; a document's length is its
//! words in every column; IDF floored just above zero), so ranking does not change with
//! where it runs; text is split and folded as FTS5's `unicode61 remove_diacritics 2`
//! tokenizer does (letters and digits, lower case, without diacritics).

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// The words of `text` as the index knows them: runs of letters and digits, lower case,
/// without diacritics (`Émilie's` → `emilie`, `s`).
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold)
}

/// `word` in lower case without diacritics.
pub fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A query word: folded, and whether it matches as a prefix (what someone is still typing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWord {
    /// The folded word.
    pub word: String,
    /// Matches every word it starts.
    pub prefix: bool,
}

impl QueryWord {
    fn matches(&self, token: &str) -> bool {
        if self.prefix {
            token.starts_with(&self.word)
        } else {
            token == self.word
        }
    }
}

/// Ranks documents of one index for one query.
#[derive(Debug, Clone)]
pub struct Bm25 {
    words: Vec<QueryWord>,
    idf: Vec<f64>,
    weights: Vec<f64>,
}

impl Bm25 {
    /// A ranking for `words` over an index of `documents` documents in which word `i` is in
    /// `containing[i]` of them, its columns weighted by `weights` (FTS5's `bm25(…)` weights).
    pub fn new(words: Vec<QueryWord>, documents: u64, containing: &[u64], weights: &[f64]) -> Bm25 {
        let n = documents as f64;
        let idf = words
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let has = containing.get(i).copied().unwrap_or(0) as f64;
                ((n - has + 0.5) / (has + 0.5)).ln().max(1e-6)
            })
            .collect();
        Bm25 {
            words,
            idf,
            weights: weights.to_vec(),
        }
    }

    /// The scores of `documents` (each its columns' text, in the weights' order), higher
    /// better; the average length is over these documents.
    pub fn scores(&self, documents: &[Vec<&str>]) -> Vec<f64> {
        let tokenized: Vec<Vec<Vec<String>>> = documents
            .iter()
            .map(|columns| columns.iter().map(|c| words(c).collect()).collect())
            .collect();
        let lengths: Vec<f64> = tokenized
            .iter()
            .map(|columns| columns.iter().map(Vec::len).sum::<usize>() as f64)
            .collect();
        let average = (lengths.iter().sum::<f64>() / lengths.len().max(1) as f64).max(1.0);
        tokenized
            .iter()
            .zip(&lengths)
            .map(|(columns, &length)| self.score(columns, length, average))
            .collect()
    }

    fn score(&self, columns: &[Vec<String>], length: f64, average: f64) -> f64 {
        let norm = K1 * (1.0 - B + B * length / average);
        self.words
            .iter()
            .zip(&self.idf)
            .map(|(w, idf)| {
                let freq: f64 = columns
                    .iter()
                    .zip(&self.weights)
                    .map(|(tokens, weight)| {
                        weight * tokens.iter().filter(|t| w.matches(t)).count() as f64
                    })
                    .sum();
                idf * freq * (K1 + 1.0) / (freq + norm)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(w: &str) -> QueryWord {
        QueryWord {
            word: w.into(),
            prefix: false,
        }
    }

    #[test]
    fn text_is_split_and_folded_as_the_index_does() {
        let got: Vec<String> = words("Émilie's CAFÉ — naïve, 2 ways").collect();
        assert_eq!(got, ["emilie", "s", "cafe", "naive", "2", "ways"]);
    }

    #[test]
    fn a_word_in_a_weightier_column_or_said_more_ranks_higher() {
        let rank = Bm25::new(vec![word("travel")], 1000, &[300], &[10.0, 1.0, 4.0]);
        let s = rank.scores(&[
            vec!["Travel notes", "a day out", "Ada"],
            vec!["Notes", "a day of travel", "Ada"],
            vec!["Notes", "travel, travel and more travel", "Ada"],
            vec!["Notes", "a day out", "Travel channel"],
        ]);
        assert!(s[0] > s[3] && s[3] > s[2] && s[2] > s[1], "{s:?}");
    }

    #[test]
    fn a_rare_word_counts_more_than_a_common_one() {
        let rank = Bm25::new(vec![word("lake"), word("walk")], 1000, &[10, 500], &[1.0]);
        let s = rank.scores(&[vec!["lake lake and a walk"], vec!["a lake and walk walk"]]);
        assert!(s[0] > s[1], "{s:?}");
    }

    #[test]
    fn a_prefix_matches_the_words_it_starts_and_an_unseen_word_scores_nothing() {
        let typed = QueryWord {
            word: "tra".into(),
            prefix: true,
        };
        let rank = Bm25::new(vec![typed], 10, &[5], &[1.0]);
        let s = rank.scores(&[vec!["trains and travel"], vec!["a tram"], vec!["nothing"]]);
        assert!(s[0] > s[1] && s[1] > 0.0 && s[2] == 0.0, "{s:?}");
        // A word in every document still counts a little (IDF is floored above zero).
        let everywhere = Bm25::new(vec![word("a")], 10, &[10], &[1.0]);
        assert!(everywhere.scores(&[vec!["a"]])[0] > 0.0);
    }
}
