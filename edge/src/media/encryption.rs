//! Encrypted delivery (`/v/{id}/aes/…`): content keys behind the token check, whole-segment
//! AES-128 with the segment number as explicit IV (clear lead excepted), the encrypted bytes
//! cached beside the clear ones, and videos that may only leave encrypted.

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use sunomi_packager::cbcs::{protect_fragments, protect_init, Cbcs};
use sunomi_packager::codec::{codec_config, CodecConfig};
use sunomi_packager::crypto::{encrypt_segment, segment_iv};
use sunomi_packager::route::{Protection, Route, TrackRef};

use super::{CacheKey, Media, Object, RequestFlags};
use crate::error::EdgeError;
use crate::http;
use crate::keys::{ContentKey, KeyError};

fn key_error(e: KeyError) -> EdgeError {
    match e {
        KeyError::NotConfigured => EdgeError::Unavailable(e.to_string()),
        KeyError::Service(_) => EdgeError::Unavailable(e.to_string()),
    }
}

impl Media {
    /// Refuses clear media of a video that must be encrypted, and any token that is present
    /// but wrong on an encrypted playlist, AES-128 or SAMPLE-AES (the viewer would fail on
    /// the key anyway, and the playlist would copy the bad token into every URI).
    pub(super) fn check_protection(
        &self,
        route: &Route,
        flags: &RequestFlags,
    ) -> Result<(), EdgeError> {
        let id = route.video_id();
        let media = !matches!(
            route,
            Route::Key { .. }
                | Route::SubtitlePlaylist { .. }
                | Route::SubtitleSegment { .. }
                | Route::SubtitleFile { .. }
        );
        if media
            && flags.protection == Protection::Clear
            && self.live().encryption.require.iter().any(|r| r == id)
        {
            return Err(EdgeError::Forbidden(format!(
                "video {id} is only served encrypted (/v/{id}/aes/…)"
            )));
        }
        if flags.protection != Protection::Clear && route.is_playlist() && flags.token.is_some() {
            self.live()
                .authorizer
                .authorize(id, flags.query.as_deref())
                .map_err(|e| EdgeError::Forbidden(e.to_string()))?;
        }
        Ok(())
    }

    /// The key `kid` of a video, to a request with a valid token.
    pub(super) async fn content_key(
        &self,
        id: &str,
        kid: &str,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        let live = self.live();
        live.authorizer
            .authorize(id, flags.query.as_deref())
            .map_err(|e| EdgeError::Forbidden(e.to_string()))?;
        // The video must exist and be published: no keys for what is not served.
        self.manifest(id).await?;
        let key = live.keys.key(id, kid).await.map_err(key_error)?;
        Ok(Object {
            body: Bytes::copy_from_slice(&key),
            gzip: None,
            etag: http::etag(&[id.as_bytes(), kid.as_bytes(), b"key"]),
            immutable: false,
            cache: super::CacheOutcome::Bypass,
            content_range: None,
            private: true,
            media_ms: 0,
        })
    }

    /// The key new playlists of `id` name, and its bytes.
    pub(super) async fn current_key(&self, id: &str) -> Result<(String, ContentKey), EdgeError> {
        // One provider for both: a reload in between cannot pair one's key id with the
        // other's key.
        let live = self.live();
        let kid = live.keys.current_key_id(id);
        let key = live.keys.key(id, &kid).await.map_err(key_error)?;
        Ok((kid, key))
    }

    /// The `cbcs` parameters of a video's current key: the key, a 16-byte key id and a
    /// constant IV, both derived from the video and key id (stable across edges).
    pub(super) async fn cbcs_params(&self, id: &str) -> Result<(String, Cbcs), EdgeError> {
        let (kid, key) = self.current_key(id).await?;
        let derive = |label: &str| {
            let digest = Sha256::digest(format!("sunomi-{label}\0{id}\0{kid}"));
            let mut out = [0u8; 16];
            out.copy_from_slice(&digest[..16]);
            out
        };
        let params = Cbcs {
            key,
            kid: derive("kid"),
            iv: derive("iv"),
        };
        Ok((kid, params))
    }

    /// fMP4 SAMPLE-AES: the video init segment with `encv`/`sinf`/`tenc`, video segments
    /// `cbcs`-encrypted. Audio passes clear.
    pub(super) async fn protect_cmaf_sample_aes(
        &self,
        route: &Route,
        flags: &RequestFlags,
        clear: Object,
    ) -> Result<Object, EdgeError> {
        let (id, track) = match route {
            Route::Init { id, track } | Route::Segment { id, track, .. } => (id, track),
            _ => return Ok(clear),
        };
        if flags.protection != Protection::SampleAes || matches!(track, TrackRef::Audio(_)) {
            return Ok(clear);
        }
        let manifest = self.manifest(id).await?;
        let head = self.head(id, Self::track_path(&manifest, track)?).await?;
        let (kid, params) = self.cbcs_params(id).await?;
        let etag = http::etag(&[clear.etag.as_bytes(), kid.as_bytes(), b"cbcs"]);
        if matches!(route, Route::Init { .. }) {
            let body = Bytes::from(protect_init(&head.init, &params)?);
            return Ok(Object {
                body,
                etag,
                ..clear
            });
        }
        let CodecConfig::Avc(avc) = codec_config(&head.init)? else {
            return Err(EdgeError::Internal("cbcs video track is not H.264".into()));
        };
        let default_duration = head.index.default_sample_duration;
        let body = clear.body.clone();
        let make = async move {
            let out = tokio::task::spawn_blocking(move || {
                protect_fragments(&body, 0, default_duration, avc.nal_length_size, &params)
            })
            .await
            .map_err(|e| EdgeError::Internal(format!("encrypting: {e}")))??;
            Ok::<_, EdgeError>(Bytes::from(out))
        };
        let key = CacheKey::protected(flags.protection, route, &kid, &clear.etag);
        let (body, cache) = self.cached_segment(key, make).await?;
        Ok(Object {
            body,
            etag,
            cache,
            ..clear
        })
    }

    /// Encrypts a segment answer for the encrypted profile (segments from the clear lead on);
    /// passes everything else through.
    pub(super) async fn protect(
        self: &Arc<Self>,
        route: &Route,
        number: u64,
        flags: &RequestFlags,
        clear: Result<Object, EdgeError>,
    ) -> Result<Object, EdgeError> {
        let clear = clear?;
        if flags.protection != Protection::Aes128
            || number < self.live().encryption.clear_lead_segments
        {
            return Ok(clear);
        }
        let id = route.video_id();
        let (kid, key) = self.current_key(id).await?;
        let etag = http::etag(&[clear.etag.as_bytes(), kid.as_bytes()]);
        let encrypt = async {
            let iv = segment_iv(number);
            let body = clear.body.clone();
            let out = tokio::task::spawn_blocking(move || encrypt_segment(&key, &iv, &body))
                .await
                .map_err(|e| EdgeError::Internal(format!("encrypting: {e}")))?;
            Ok::<_, EdgeError>(Bytes::from(out))
        };
        let key = CacheKey::protected(flags.protection, route, &kid, &clear.etag);
        let (body, cache) = self.cached_segment(key, encrypt).await?;
        Ok(Object {
            body,
            etag,
            cache,
            ..clear
        })
    }
}
