//! Encrypted delivery (`/v/{id}/aes/…`, `saes/…`, `cenc/…`): content keys behind the token
//! check (raw for HLS, as a W3C ClearKey licence for EME), whole-segment AES-128 with the
//! segment number as explicit IV (clear lead excepted), Common Encryption of the video
//! (`cbcs` for SAMPLE-AES fMP4 and DASH, `cenc` for DASH), the encrypted bytes cached beside
//! the clear ones, and videos that may only leave encrypted.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use sunomi_packager::cenc::{protect_fragments, protect_init, CommonEncryption, Scheme};
use sunomi_packager::codec::{codec_config, CodecConfig};
use sunomi_packager::crypto::{encrypt_segment, segment_iv};
use sunomi_packager::route::{Protection, Route, TrackRef};

use super::cache::live::Live;
use super::cache::segments::Segments;
use super::catalog::Catalog;
use super::{CacheKey, Object, RequestFlags};
use crate::access::keys::{ContentKey, KeyError};
use crate::error::EdgeError;
use crate::net::http;

fn key_error(e: KeyError) -> EdgeError {
    match e {
        KeyError::NotConfigured => EdgeError::Unavailable(e.to_string()),
        KeyError::Service(_) => EdgeError::Unavailable(e.to_string()),
    }
}

/// Encrypted delivery of what the formats make: keys, licences, and segments encrypted
/// beside the clear ones in the segment cache.
pub(in crate::media) struct Encryptor<'m> {
    /// What storage holds.
    pub catalog: &'m Catalog,
    /// Where encrypted segments are cached.
    pub segments: &'m Arc<Segments>,
    /// The settings of this request (keys, token rules, clear lead).
    pub live: &'m Live,
}

impl Encryptor<'_> {
    /// The key `kid` of a video, to a request with a valid token.
    pub(super) async fn content_key(
        &self,
        id: &str,
        kid: &str,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        let live = self.live;
        live.authorizer
            .authorize(id, flags.query.as_deref())
            .map_err(|e| EdgeError::Forbidden(e.to_string()))?;
        // The video must exist and be published: no keys for what is not served.
        self.catalog.manifest(id).await?;
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
            streamed: None,
        })
    }

    /// The W3C ClearKey licence (EME's JSON Web Key set) of the video's Common Encryption
    /// keys whose key ids the licence request (EME's `{"kids": [...]}`) names, to a request
    /// with a valid token: what a browser's `org.w3.clearkey` CDM needs to play the `cenc`
    /// and `cbcs` MPDs and the SAMPLE-AES fMP4 playlists. Ids of no current key are left out;
    /// none at all is 404.
    pub(super) async fn clearkey_licence(
        &self,
        id: &str,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        self.live
            .authorizer
            .authorize(id, flags.query.as_deref())
            .map_err(|e| EdgeError::Forbidden(e.to_string()))?;
        let asked = licence_request(&flags.body)?;
        // The video must exist and be published: no keys for what is not served.
        self.catalog.manifest(id).await?;
        let (kid, key) = current_key(self.live, id).await?;
        let keys: Vec<serde_json::Value> = [Scheme::Cbcs, Scheme::Cenc]
            .into_iter()
            // Key ids and keys do not depend on the track (only `cenc`'s IVs do).
            .map(|scheme| common_encryption(id, &kid, &key, scheme, ""))
            .filter(|p| asked.contains(&p.kid))
            .map(|p| {
                serde_json::json!({
                    "kty": "oct",
                    "kid": URL_SAFE_NO_PAD.encode(p.kid),
                    "k": URL_SAFE_NO_PAD.encode(p.key),
                })
            })
            .collect();
        if keys.is_empty() {
            return Err(EdgeError::NotFound(
                "no current key of this video has those key ids".into(),
            ));
        }
        let body = serde_json::to_vec(&serde_json::json!({ "keys": keys, "type": "temporary" }))
            .map_err(|e| EdgeError::Internal(e.to_string()))?;
        Ok(Object {
            etag: http::etag(&[&body]),
            body: Bytes::from(body),
            gzip: None,
            immutable: false,
            cache: super::CacheOutcome::Bypass,
            content_range: None,
            private: true,
            media_ms: 0,
            streamed: None,
        })
    }

    /// Common Encryption of fMP4 (`saes/` is `cbcs`, `cenc/` is `cenc`): the video init
    /// segment with `encv`/`sinf`/`tenc`, video segments encrypted. Audio passes clear.
    pub(super) async fn protect_common(
        &self,
        route: &Route,
        flags: &RequestFlags,
        clear: Object,
    ) -> Result<Object, EdgeError> {
        let (id, track) = match route {
            Route::Init { id, track } | Route::Segment { id, track, .. } => (id, track),
            _ => return Ok(clear),
        };
        let scheme = match (flags.protection.common_scheme(), track) {
            (Some(scheme), TrackRef::Video(_)) => scheme,
            _ => return Ok(clear),
        };
        let manifest = self.catalog.manifest(id).await?;
        let head = self
            .catalog
            .head(id, Catalog::track_path(&manifest, track)?)
            .await?;
        let (kid, params) = common_params(self.live, id, scheme, &track.dir()).await?;
        let etag = http::etag(&[
            clear.etag.as_bytes(),
            kid.as_bytes(),
            scheme.name().as_bytes(),
        ]);
        if matches!(route, Route::Init { .. }) {
            let body = Bytes::from(protect_init(&head.init, &params)?);
            return Ok(Object {
                body,
                etag,
                ..clear
            });
        }
        let CodecConfig::Avc(avc) = codec_config(&head.init)? else {
            return Err(EdgeError::Internal(
                "a protected video track is not H.264".into(),
            ));
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
        let (body, cache) = self.segments.cached(key, make).await?;
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
        &self,
        route: &Route,
        number: u64,
        flags: &RequestFlags,
        clear: Result<Object, EdgeError>,
    ) -> Result<Object, EdgeError> {
        let clear = clear?;
        if flags.protection != Protection::Aes128
            || number < self.live.encryption.clear_lead_segments
        {
            return Ok(clear);
        }
        let id = route.video_id();
        let (kid, key) = current_key(self.live, id).await?;
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
        let (body, cache) = self.segments.cached(key, encrypt).await?;
        Ok(Object {
            body,
            etag,
            cache,
            ..clear
        })
    }
}

/// Refuses clear media of a video that must be encrypted, and any token that is present
/// but wrong on an encrypted playlist, AES-128 or SAMPLE-AES (the viewer would fail on
/// the key anyway, and the playlist would copy the bad token into every URI).
pub(super) fn check_protection(
    live: &Live,
    route: &Route,
    flags: &RequestFlags,
) -> Result<(), EdgeError> {
    let id = route.video_id();
    let media = !matches!(
        route,
        Route::Key { .. }
            | Route::Licence { .. }
            | Route::SubtitlePlaylist { .. }
            | Route::SubtitleSegment { .. }
            | Route::SubtitleFile { .. }
    );
    if media
        && flags.protection == Protection::Clear
        && live.encryption.require.iter().any(|r| r == id)
    {
        return Err(EdgeError::Forbidden(format!(
            "video {id} is only served encrypted (/v/{id}/aes/…)"
        )));
    }
    if flags.protection != Protection::Clear && route.is_playlist() && flags.token.is_some() {
        live.authorizer
            .authorize(id, flags.query.as_deref())
            .map_err(|e| EdgeError::Forbidden(e.to_string()))?;
    }
    Ok(())
}

/// The key new playlists of `id` name, and its bytes.
pub(super) async fn current_key(live: &Live, id: &str) -> Result<(String, ContentKey), EdgeError> {
    // One provider for both: a reload in between cannot pair one's key id with the
    // other's key.
    let kid = live.keys.current_key_id(id);
    let key = live.keys.key(id, &kid).await.map_err(key_error)?;
    Ok((kid, key))
}

/// The Common Encryption parameters of a video's current key for `track` (its folder,
/// `720p` or `audio/en`) under `scheme`, derived from the video, key id and track, so
/// every edge derives the same:
/// - `cbcs`: the content key itself, a 16-byte key id and one constant IV for the video;
/// - `cenc`: a key of its own (never one key under two schemes), its key id, and an IV
///   salt per track (renditions share the key; their samples must not share IVs).
pub(super) async fn common_params(
    live: &Live,
    id: &str,
    scheme: Scheme,
    track: &str,
) -> Result<(String, CommonEncryption), EdgeError> {
    let (kid, key) = current_key(live, id).await?;
    Ok((
        kid.clone(),
        common_encryption(id, &kid, &key, scheme, track),
    ))
}

/// The Common Encryption parameters of video `id`'s key `kid` (`key`) for `track` under
/// `scheme` (see [`common_params`]).
pub(super) fn common_encryption(
    id: &str,
    kid: &str,
    key: &[u8; 16],
    scheme: Scheme,
    track: &str,
) -> CommonEncryption {
    let derive = |label: &str| {
        let digest = Sha256::digest(format!("sunomi-{label}\0{id}\0{kid}"));
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        out
    };
    match scheme {
        Scheme::Cbcs => CommonEncryption {
            scheme,
            key: *key,
            kid: derive("kid"),
            iv: derive("iv"),
        },
        Scheme::Cenc => {
            let digest = Sha256::new()
                .chain_update(b"sunomi-cenc-key\0")
                .chain_update(key)
                .finalize();
            let mut cenc_key = [0u8; 16];
            cenc_key.copy_from_slice(&digest[..16]);
            CommonEncryption {
                scheme,
                key: cenc_key,
                kid: derive("cenc-kid"),
                iv: derive(&format!("cenc-iv\0{track}")),
            }
        }
    }
}

/// Most key ids one licence request may name.
const MAX_LICENCE_KIDS: usize = 16;

/// The key ids a W3C ClearKey licence request names (`{"kids": [base64url, …], "type": …}`).
fn licence_request(body: &[u8]) -> Result<Vec<[u8; 16]>, EdgeError> {
    let bad = |why: &str| EdgeError::BadRequest(format!("not a ClearKey licence request: {why}"));
    let request: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let kids = request
        .get("kids")
        .and_then(|k| k.as_array())
        .filter(|k| !k.is_empty() && k.len() <= MAX_LICENCE_KIDS)
        .ok_or_else(|| bad("it names no key ids, or too many"))?;
    kids.iter()
        .map(|k| {
            let text = k.as_str().ok_or_else(|| bad("a key id is not a string"))?;
            // Base64url without padding, as EME writes it; padding is tolerated.
            let bytes = URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| bad("a key id is not base64url"))?;
            <[u8; 16]>::try_from(bytes.as_slice()).map_err(|_| bad("a key id is not 16 bytes"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_requests_name_sixteen_byte_key_ids() {
        let kid = URL_SAFE_NO_PAD.encode([7u8; 16]);
        let ok = format!(r#"{{"kids":["{kid}"],"type":"temporary"}}"#);
        assert_eq!(licence_request(ok.as_bytes()).unwrap(), vec![[7u8; 16]]);
        let padded = format!(r#"{{"kids":["{kid}=="]}}"#);
        assert_eq!(licence_request(padded.as_bytes()).unwrap(), vec![[7u8; 16]]);
        let many = format!(
            r#"{{"kids":[{}]}}"#,
            vec![format!("\"{kid}\""); 17].join(",")
        );
        for bad in [
            "",
            "{}",
            r#"{"kids":[]}"#,
            r#"{"kids":"AAAA"}"#,
            r#"{"kids":[1]}"#,
            r#"{"kids":["AAAA"]}"#,
            r#"{"kids":["!!!!!!!!!!!!!!!!!!!!!!"]}"#,
            &many,
        ] {
            assert!(
                matches!(
                    licence_request(bad.as_bytes()),
                    Err(EdgeError::BadRequest(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn cenc_and_cbcs_keys_differ_and_cenc_ivs_differ_per_track() {
        let key = [1u8; 16];
        let cbcs = common_encryption("v", "k1", &key, Scheme::Cbcs, "720p");
        let cenc = common_encryption("v", "k1", &key, Scheme::Cenc, "720p");
        assert_eq!(
            cbcs.key, key,
            "cbcs is the content key (HLS's key URL serves it)"
        );
        assert_ne!(cenc.key, key, "one key is never used under two schemes");
        assert_ne!(cenc.kid, cbcs.kid);
        let other = common_encryption("v", "k1", &key, Scheme::Cenc, "480p");
        assert_eq!((other.key, other.kid), (cenc.key, cenc.kid));
        assert_ne!(
            other.iv[..8],
            cenc.iv[..8],
            "renditions share a key, not IVs"
        );
        assert_eq!(
            common_encryption("v", "k1", &key, Scheme::Cbcs, "480p"),
            cbcs,
            "cbcs: one constant IV"
        );
    }
}
