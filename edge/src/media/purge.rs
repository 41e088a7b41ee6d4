//! Dropping cached objects: by URL, by video, or everything. Cache keys name their video
//! (`m:{id}`, `t:{id}/{path}`, `p:/v/{id}/…`, `s:/v/{id}/…@{version}`), so a video's objects
//! are found by key without any index.

use sunomi_packager::route::Route;

use super::Media;
use crate::fleet::purge::PurgeScope;
use crate::fleet::PurgeTarget;

/// The video a cache key belongs to.
fn key_video(key: &str) -> Option<&str> {
    let rest = key
        .strip_prefix("m:")
        .or_else(|| key.strip_prefix("t:"))
        .or_else(|| key.strip_prefix("l:"))
        .or_else(|| key.strip_prefix("v:"))
        .or_else(|| key.strip_prefix("p:/v/"))
        .or_else(|| key.strip_prefix("s:/v/"))
        .or_else(|| key.strip_prefix("x:/v/"))?;
    Some(rest.split(['/', '@', '?']).next().unwrap_or(rest))
}

impl Media {
    /// Drops every cached object whose key `matches`.
    fn purge_where(&self, matches: impl Fn(&str) -> bool + Clone + Send + Sync + 'static) {
        let m = matches.clone();
        if let Err(e) = self.meta.invalidate_entries_if(move |k, _| m(k)) {
            tracing::warn!(error = %e, "purging metadata failed");
        }
        if let Some(cache) = &self.segments {
            let m = matches.clone();
            let _ = cache.invalidate_entries_if(move |k, _| m(k));
        }
        // `passing` holds an entry only while its fill runs; those are not purgeable.
        for set in [&self.seen, &self.prefetched] {
            let m = matches.clone();
            let _ = set.invalidate_entries_if(move |k, _| m(k));
        }
    }
}

impl PurgeTarget for Media {
    fn purge_local(&self, scope: &PurgeScope) {
        tracing::info!(?scope, "purging");
        match scope {
            PurgeScope::All => {
                self.meta.invalidate_all();
                if let Some(s) = &self.segments {
                    s.invalidate_all();
                }
                self.passing.invalidate_all();
                self.seen.invalidate_all();
                self.prefetched.invalidate_all();
                self.prefetch_asked.invalidate_all();
            }
            PurgeScope::Video { id } => {
                let id = id.clone();
                self.purge_where(move |k| key_video(k) == Some(id.as_str()));
            }
            PurgeScope::Url { path } => match Route::parse(path) {
                Ok(Route::Segment { .. }) => {
                    let prefix = format!("s:{path}@");
                    self.purge_where(move |k| k.starts_with(&prefix));
                }
                Ok(Route::TsSegment { .. }) => {
                    let prefix = format!("x:{path}@");
                    self.purge_where(move |k| k.starts_with(&prefix));
                }
                // A subtitle file or track file: drop everything derived from the video's
                // subtitles or heads (cheap to rebuild).
                Ok(Route::SubtitleSegment { id, .. } | Route::SubtitleFile { id, .. }) => {
                    let prefix = format!("v:{id}/");
                    self.purge_where(move |k| k.starts_with(&prefix));
                }
                Ok(Route::TrackFile { id, .. }) => {
                    let prefix = format!("t:{id}/");
                    self.purge_where(move |k| k.starts_with(&prefix));
                }
                // Init segments are sliced from the track heads: drop the video's heads (and
                // with them nothing else but what is rebuilt from the same bytes).
                Ok(Route::Init { id, .. }) => {
                    let prefix = format!("t:{id}/");
                    self.purge_where(move |k| k.starts_with(&prefix));
                }
                // A playlist, under every filter it was asked with.
                Ok(_) => {
                    let prefix = format!("p:{path}?");
                    self.purge_where(move |k| k.starts_with(&prefix));
                }
                Err(_) => tracing::warn!(path, "ignoring a purge of a path that is no route"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::key_video;

    #[test]
    fn every_key_kind_names_its_video() {
        assert_eq!(key_video("m:abc"), Some("abc"));
        assert_eq!(key_video("t:abc/video/720p.mp4"), Some("abc"));
        assert_eq!(key_video("p:/v/abc/master.m3u8"), Some("abc"));
        assert_eq!(key_video("s:/v/abc/720p/1.m4s@123-456"), Some("abc"));
        assert_eq!(key_video("x:/v/abc/ts/720p/1.ts@1"), Some("abc"));
        assert_eq!(key_video("p:/v/abc?max_height=720"), Some("abc"));
        assert_eq!(key_video("l:abc"), Some("abc"));
        assert_eq!(key_video("v:abc/en"), Some("abc"));
        assert_eq!(key_video("x:abc"), None);
        // A video id that is a prefix of another is not confused with it.
        assert_ne!(key_video("m:abcd"), Some("abc"));
    }
}
