//! `--metrics URL`: scrape a Prometheus endpoint (the edge's admin `/metrics`) before and
//! after a run, so one report holds client-side and server-side figures together.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::{Connection, Target};

/// Parses Prometheus text exposition into `series → value` (histogram buckets skipped).
pub fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.trim().rsplit_once(' ')?;
            if series.contains("_bucket{") {
                return None;
            }
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Fetches and parses a metrics endpoint.
pub async fn scrape(url: &str) -> Result<BTreeMap<String, f64>, String> {
    let target = Target::parse(url)?;
    let mut conn = Connection::new(&target.authority, Duration::from_secs(10));
    let got = conn.get(&target.path, true).await;
    if let Some(e) = got.error {
        return Err(format!("scraping {url}: {e:?} (status {})", got.status));
    }
    Ok(parse(&String::from_utf8_lossy(
        got.body.as_deref().unwrap_or_default(),
    )))
}

/// Server-side figures of a run: differences between the scrapes after and before.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerFigures {
    /// Cache lookups that hit (all tiers).
    pub cache_hits: f64,
    /// Cache lookups that missed.
    pub cache_misses: f64,
    /// hits / (hits + misses).
    pub hit_ratio: f64,
    /// Response body bytes the server sent.
    pub response_bytes: f64,
    /// Reads from object storage.
    pub storage_reads: f64,
    /// Bytes read from object storage.
    pub storage_read_bytes: f64,
    /// 1 − storage bytes / response bytes: the share of bytes served without storage.
    pub byte_hit_ratio: f64,
    /// Cache lookups by tier (`local`, `peer`, `storage`): hits and misses.
    #[serde(default)]
    pub tiers: BTreeMap<String, TierFigures>,
    /// Every `sunomi_` series that changed, with its change.
    pub deltas: BTreeMap<String, f64>,
}

/// Hits and misses of one cache tier.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct TierFigures {
    /// Lookups answered by this tier.
    pub hits: f64,
    /// Lookups it could not answer.
    pub misses: f64,
}

/// Scrapes every endpoint and adds their series up (a fleet seen as one server).
pub async fn scrape_all(urls: &[String]) -> Result<BTreeMap<String, f64>, String> {
    let mut total = BTreeMap::new();
    for url in urls {
        for (series, value) in scrape(url).await? {
            *total.entry(series).or_insert(0.0) += value;
        }
    }
    Ok(total)
}

/// The value of label `name` in a series like `metric{a="x",name="y"}`.
fn label<'a>(series: &'a str, name: &str) -> Option<&'a str> {
    let labels = series.split_once('{')?.1.strip_suffix('}')?;
    labels.split(',').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.trim_matches('"'))
    })
}

fn sum(m: &BTreeMap<String, f64>, name: &str, label: Option<&str>) -> f64 {
    m.iter()
        .filter(|(k, _)| {
            (k.as_str() == name || k.starts_with(&format!("{name}{{")))
                && label.is_none_or(|l| k.contains(l))
        })
        .map(|(_, v)| v)
        .sum()
}

impl ServerFigures {
    /// The figures between two scrapes.
    pub fn between(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> ServerFigures {
        let d =
            |name: &str, label: Option<&str>| sum(after, name, label) - sum(before, name, label);
        let cache_hits = d("sunomi_cache_requests_total", Some("result=\"hit\""));
        let cache_misses = d("sunomi_cache_requests_total", Some("result=\"miss\""));
        let response_bytes = d("sunomi_http_response_bytes_total", None);
        let storage_read_bytes = d("sunomi_storage_read_bytes_total", None);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let deltas = after
            .iter()
            .filter(|(k, _)| k.starts_with("sunomi_"))
            .filter_map(|(k, v)| {
                let delta = v - before.get(k).copied().unwrap_or(0.0);
                (delta != 0.0).then(|| (k.clone(), delta))
            })
            .collect();
        let mut tiers: BTreeMap<String, TierFigures> = BTreeMap::new();
        for series in after.keys() {
            if !series.starts_with("sunomi_cache_requests_total{") {
                continue;
            }
            let (Some(tier), Some(result)) = (label(series, "tier"), label(series, "result"))
            else {
                continue;
            };
            let delta = after[series] - before.get(series).copied().unwrap_or(0.0);
            let t = tiers.entry(tier.to_string()).or_default();
            match result {
                "hit" => t.hits += delta,
                "miss" => t.misses += delta,
                _ => {}
            }
        }
        ServerFigures {
            tiers,
            cache_hits,
            cache_misses,
            hit_ratio: ratio(cache_hits, cache_hits + cache_misses),
            response_bytes,
            storage_reads: d("sunomi_storage_reads_total", None),
            storage_read_bytes,
            byte_hit_ratio: if response_bytes > 0.0 {
                1.0 - storage_read_bytes / response_bytes
            } else {
                0.0
            },
            deltas,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_and_ratios() {
        let before = parse(
            "# HELP x\nsunomi_cache_requests_total{result=\"hit\",tier=\"local\"} 10\nsunomi_cache_requests_total{result=\"miss\",tier=\"local\"} 5\nsunomi_storage_reads_total 5\nsunomi_storage_read_bytes_total 500\nsunomi_http_response_bytes_total{route=\"segment\"} 1000\n",
        );
        let after = parse(
            "sunomi_cache_requests_total{result=\"hit\",tier=\"local\"} 40\nsunomi_cache_requests_total{result=\"miss\",tier=\"local\"} 15\nsunomi_storage_reads_total 15\nsunomi_storage_read_bytes_total 1500\nsunomi_http_response_bytes_total{route=\"segment\"} 11000\nsunomi_x_bucket{le=\"1\"} 3\n",
        );
        let f = ServerFigures::between(&before, &after);
        assert_eq!(f.cache_hits, 30.0);
        assert_eq!(f.cache_misses, 10.0);
        assert_eq!(f.hit_ratio, 0.75);
        assert_eq!(f.storage_reads, 10.0);
        assert!((f.byte_hit_ratio - 0.9).abs() < 1e-9);
        assert!(!f.deltas.keys().any(|k| k.contains("_bucket")));
        assert_eq!(f.tiers["local"].hits, 30.0);
        assert_eq!(f.tiers["local"].misses, 10.0);
        assert_eq!(
            label("m{tier=\"peer\",result=\"hit\"}", "result"),
            Some("hit")
        );
        assert_eq!(label("m", "result"), None);
    }
}
