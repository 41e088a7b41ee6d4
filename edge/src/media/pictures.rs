//! Pictures of a video — thumbnails, the storyboard and animated previews — planned here
//! from the manifest and the track index (`sunomi_packager::picture`) and drawn by the
//! picture service (`sunomi-origin pictures`), because the edge links no FFmpeg.
//!
//! A picture is an object of the segment tiers: its owner edge (by its canonical form on
//! the ring, so `?width=320` and `?width=320&height=180` of a 16:9 video have one owner)
//! asks the service under the fleet's fill lock, every other edge asks the owner, and the
//! answer is cached like a segment, keyed by the track's version. So the fleet draws each
//! picture once. The storyboard's index files (WebVTT, JSON) are written here from the
//! track index alone; only its image is drawn.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sunomi_packager::picture::{self, PictureFile, PictureQuery, SERVICE_PATH, VERSION_HEADER};
use sunomi_packager::route::Route;

use super::cache::segments::Segments;
use super::cache::segments::{FillSource, FillTarget};
use super::catalog::Catalog;
use super::{CacheKey, CacheOutcome, Object, RequestFlags};
use crate::error::EdgeError;
use crate::net::http;
use crate::net::http_client::{split_http_url, ServiceClient};
use crate::ops::config::PicturesConfig;
use crate::ops::metrics::metrics;

/// A client of the picture service.
pub struct PictureService {
    service: ServiceClient,
    authorization: String,
}

impl PictureService {
    /// The service `config` names, if any.
    pub fn from_config(config: &PicturesConfig) -> Result<Option<PictureService>, String> {
        let Some(url) = &config.service_url else {
            return Ok(None);
        };
        let authority = split_http_url(url)
            .filter(|(_, path)| path.trim_matches('/').is_empty())
            .map(|(authority, _)| authority)
            .ok_or_else(|| format!("pictures.service_url {url:?} is not http://host:port"))?;
        let secret = config
            .secret()
            .ok_or("pictures.service_url needs pictures.secret")?;
        Ok(Some(PictureService {
            service: ServiceClient::new(authority, Duration::from_secs(config.timeout_secs.max(1))),
            authorization: format!("Bearer {secret}"),
        }))
    }

    /// Asks the service to draw `spec` (a [`PictureSpec`] query) of video `id` from the
    /// track at `version`.
    async fn draw(
        &self,
        id: &str,
        file: PictureFile,
        spec: &str,
        version: &str,
    ) -> Result<Bytes, EdgeError> {
        let started = std::time::Instant::now();
        let path = format!("{SERVICE_PATH}/{id}/{}?{spec}", file.file_name());
        let headers = [
            ("Authorization", self.authorization.as_str()),
            (VERSION_HEADER, version),
        ];
        let reply = self.service.get(&path, &headers).await.map_err(|e| {
            EdgeError::Unavailable(format!("picture service {}: {e}", self.service.authority()))
        })?;
        let outcome = match reply.status {
            200 => "drawn",
            404 => "not_found",
            409 => "changed",
            _ => "failed",
        };
        let m = metrics();
        m.pictures.with_label_values(&[outcome]).inc();
        m.picture_seconds.observe(started.elapsed().as_secs_f64());
        let text = || {
            String::from_utf8_lossy(&reply.body)
                .chars()
                .take(200)
                .collect::<String>()
        };
        match reply.status {
            200 => Ok(reply.body),
            404 => Err(EdgeError::NotFound(text())),
            409 => Err(EdgeError::Changed(format!("picture of {id}: {}", text()))),
            // The edge asked for something the service will not draw: a bug on one side.
            400 => Err(EdgeError::Internal(format!(
                "picture service refused: {}",
                text()
            ))),
            s => Err(EdgeError::Unavailable(format!(
                "picture service answered {s}: {}",
                text()
            ))),
        }
    }
}

/// The picture service of an edge, or its absence (picture URLs then answer 503).
pub struct Pictures(Option<PictureService>);

impl Pictures {
    /// The pictures of `config`.
    pub fn new(config: &PicturesConfig) -> Result<Pictures, String> {
        PictureService::from_config(config).map(Pictures)
    }

    /// Draws a picture (see [`PictureService::draw`]).
    pub(super) async fn draw(
        &self,
        id: &str,
        file: PictureFile,
        spec: &str,
        version: &str,
    ) -> Result<Bytes, EdgeError> {
        match &self.0 {
            Some(service) => service.draw(id, file, spec, version).await,
            None => Err(EdgeError::Unavailable(
                "no picture service is configured on this edge ([pictures] service_url)".into(),
            )),
        }
    }
}

/// The query a peer edge is asked with: the player's, without its playback token (a peer's
/// request already names the video, and the token is not the peer's to see).
fn peer_query(query: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("token="))
        .collect::<Vec<_>>()
        .join("&")
}

/// The representative frame's time when the manifest does not say (written before it was
/// chosen): a third of the way in, at most 2 s — what the transcoder's poster used to take.
fn fallback_poster_ms(duration_ms: u64) -> u64 {
    (duration_ms / 3).min(2_000)
}

/// Pictures: planned here, drawn by the picture service through the segment tiers.
pub(in crate::media) struct Images<'m> {
    /// What storage holds.
    pub catalog: &'m Catalog,
    /// The cache tiers segments come through.
    pub segments: &'m Arc<Segments>,
}

impl Images<'_> {
    /// Picture `file` of video `id`, as the request's query asks.
    pub(super) async fn picture(
        &self,
        route: &Route,
        id: &str,
        file: PictureFile,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        let bad = |e: picture::PictureError| EdgeError::BadRequest(e.to_string());
        let query = flags.query.as_deref().unwrap_or("");
        let asked = PictureQuery::parse(file, query).map_err(bad)?;
        let manifest = self.catalog.manifest(id).await?;
        let duration_ms = (manifest.duration_secs.max(0.0) * 1000.0) as u64;
        let poster_ms = manifest
            .poster_ms
            .unwrap_or_else(|| fallback_poster_ms(duration_ms));
        let spec = picture::resolve(
            file,
            &asked,
            &manifest.renditions,
            manifest.picture_track.as_ref(),
            duration_ms,
            poster_ms,
        )
        .map_err(|e| match e {
            picture::PictureError::NoVideo => EdgeError::NotFound(e.to_string()),
            e => bad(e),
        })?;
        let rendition = manifest
            .picture_source(&spec.rendition)
            .ok_or_else(|| EdgeError::Internal(format!("no rendition {}", spec.rendition)))?;
        let head = self.catalog.head(id, &rendition.path).await?;
        let spec_query = spec.to_query();
        let name = file.file_name();
        let etag = http::etag(&[
            head.version.as_bytes(),
            name.as_bytes(),
            spec_query.as_bytes(),
        ]);
        if !file.is_image() {
            let board = picture::track_storyboard(&head.init, &head.index, duration_ms, &spec)
                .map_err(|e| EdgeError::Internal(e.to_string()))?;
            let tiles = asked.tiles.unwrap_or(picture::ImageFormat::Jpeg);
            let mut image = PictureFile::StoryboardImage(tiles).file_name();
            if let Some(token) = &flags.playback_token {
                image.push_str("?token=");
                image.push_str(token);
            }
            let body = match file {
                PictureFile::StoryboardJson => board.to_json(&image),
                _ => board.to_vtt(&image),
            };
            let etag = http::etag(&[etag.as_bytes(), image.as_bytes()]);
            return Ok(Object::immutable(
                Bytes::from(body),
                etag,
                CacheOutcome::Miss,
            ));
        }
        let path = route.to_path();
        let ring_key = format!("{path}?{spec_query}");
        let peer_path = format!("{path}?{}", peer_query(query));
        let key = CacheKey::picture(route, &spec_query, &head.version);
        let target = FillTarget {
            key: &key,
            route_path: &peer_path,
            ring_key: &ring_key,
            id,
            source: FillSource::Picture {
                file,
                spec: &spec_query,
                version: &head.version,
            },
            etag: &etag,
            from_peer: flags.from_peer,
        };
        let (body, cache) = self.segments.through_tiers(&target, flags).await?;
        Ok(Object::immutable(body, etag, cache))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_asked_without_the_token() {
        assert_eq!(
            peer_query("time=1&token=abc.def&width=320"),
            "time=1&width=320"
        );
        assert_eq!(peer_query("token=x"), "");
        assert_eq!(peer_query(""), "");
    }

    #[test]
    fn without_a_chosen_frame_a_third_of_the_way_in_at_most_2_s() {
        assert_eq!(fallback_poster_ms(3_000), 1_000);
        assert_eq!(fallback_poster_ms(600_000), 2_000);
    }

    #[test]
    fn a_service_url_must_be_plain_http_to_a_host() {
        let config = |url: &str| PicturesConfig {
            service_url: Some(url.into()),
            secret: Some("00112233445566778899aabbccddeeff".into()),
            timeout_secs: 5,
        };
        assert!(
            PictureService::from_config(&config("http://127.0.0.1:9100"))
                .unwrap()
                .is_some()
        );
        assert!(PictureService::from_config(&config("https://x:1")).is_err());
        assert!(PictureService::from_config(&config("http://x:1/path")).is_err());
        assert!(PictureService::from_config(&config("http://:1")).is_err());
        assert!(
            PictureService::from_config(&config("http://127.0.0.1:9100/"))
                .unwrap()
                .is_some()
        );
        assert!(PictureService::from_config(&PicturesConfig::default())
            .unwrap()
            .is_none());
    }
}
