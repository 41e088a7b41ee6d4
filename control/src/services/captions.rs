//! Captions, the use cases: store uploaded or generated WebVTT for an asset, delete it.

use std::sync::Arc;

use object_store::ObjectStoreExt;
use sunomi_origin::layout;

use crate::app::AppError;
use crate::domain::asset::{Asset, CaptionSource, Change};
use crate::domain::ids::AssetId;
use crate::records::Records;
use crate::services::assets::Assets;
use crate::services::fleet::Fleet;

/// Captions files in storage, recorded on their asset.
pub struct Captions {
    /// The asset use cases (captions are recorded on the asset).
    pub assets: Arc<Assets>,
    /// Object storage (the files).
    pub records: Records,
    /// Purges after a file changes.
    pub fleet: Arc<Fleet>,
}

impl Captions {
    /// Stores captions (already checked WebVTT) as `videos/{id}/subs/{lang}.vtt` and records
    /// them on the asset; the manifest's list of generated languages (playlists name those
    /// "{Language} (auto-generated)") is projected from the asset, and the video purged.
    ///
    /// Uploaded captions always win: their record is committed before their file is
    /// written, and generated ones are written only where no file is (or where an earlier
    /// attempt of speech-to-text left its own), so captions a person uploads while the video
    /// is analysed are never overwritten or relabelled.
    pub async fn put(
        &self,
        id: &AssetId,
        lang: &str,
        vtt: bytes::Bytes,
        source: CaptionSource,
    ) -> Result<Asset, AppError> {
        let key = layout::video_key(id.as_str(), &layout::subtitle_path(lang));
        let path = self.records.store().path(&key);
        let store_err = |e: object_store::Error| AppError::Store(e.to_string());
        let captioned = Change::Captioned {
            language: lang.to_string(),
            source,
        };
        let uploaded_here = |a: &Asset| {
            a.captions
                .iter()
                .any(|c| c.language == lang && c.source == CaptionSource::Uploaded)
        };
        if source == CaptionSource::Uploaded {
            let asset = self.assets.change_settled(id, captioned).await?;
            self.records
                .store()
                .object_store()
                .put(&path, vtt.clone().into())
                .await
                .map_err(store_err)?;
            self.index(id, lang, &vtt).await;
            self.fleet.purge(id).await;
            return Ok(asset);
        }
        if uploaded_here(&self.assets.asset(id).await?) {
            // Kept: the change records the stage as done without touching the captions.
            return self.assets.change(id, captioned).await;
        }
        let create = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        match self
            .records
            .store()
            .object_store()
            .put_opts(&path, vtt.clone().into(), create)
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => {
                if uploaded_here(&self.assets.asset(id).await?) {
                    return self.assets.change(id, captioned).await;
                }
                // An earlier attempt of this stage left its file: replace it.
                self.records
                    .store()
                    .object_store()
                    .put(&path, vtt.clone().into())
                    .await
                    .map_err(store_err)?;
            }
            Err(e) => return Err(store_err(e)),
        }
        let asset = self.assets.change(id, captioned).await?;
        self.index(id, lang, &vtt).await;
        self.fleet.purge(id).await;
        Ok(asset)
    }

    /// Rewrites the transcript index of asset `id`'s captions in `lang` from the file just
    /// written (search finds the moment a word is spoken). The index is derived: a failure is
    /// logged, and the next write of the file rewrites it.
    async fn index(&self, id: &AssetId, lang: &str, vtt: &[u8]) {
        let cues: Vec<crate::db::transcripts::Cue> = std::str::from_utf8(vtt)
            .ok()
            .and_then(|t| sunomi_packager::vtt::parse(t).ok())
            .map(|v| {
                v.cues
                    .into_iter()
                    .map(|c| {
                        let words = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
                        (c.start_ms, c.end_ms, strip_tags(&words))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Err(e) =
            crate::db::transcripts::replace(&self.assets.db, id.as_str(), lang, &cues).await
        {
            tracing::warn!(%id, lang, error = %e, "the transcript index was not rewritten");
        }
    }

    /// Deletes captions in `lang` and purges the video.
    pub async fn delete(&self, id: &AssetId, lang: &str) -> Result<(), AppError> {
        let key = layout::video_key(id.as_str(), &layout::subtitle_path(lang));
        let path = self.records.store().path(&key);
        match self.records.store().object_store().head(&path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Err(AppError::NotFound),
            Err(e) => return Err(AppError::Store(e.to_string())),
        }
        self.records.delete(&key).await?;
        if let Err(e) = crate::db::transcripts::delete(&self.assets.db, id.as_str(), lang).await {
            tracing::warn!(%id, lang, error = %e, "the transcript index keeps deleted captions");
        }
        // The record follows (and the manifest's generated list with it, through the outbox).
        self.assets
            .change_settled(id, Change::CaptionsRemoved(lang.to_string()))
            .await?;
        self.fleet.purge(id).await;
        Ok(())
    }
}

/// Cue text without WebVTT's tags (`<v Ada>`, `<i>`, timestamps).
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        match c {
            '<' => inside = true,
            '>' if inside => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cue_tags_are_not_words() {
        assert_eq!(
            super::strip_tags("<v Ada>Hello <i>there</i></v>"),
            "Hello there"
        );
        assert_eq!(super::strip_tags("a &lt; b &amp; c"), "a < b & c");
    }
}
