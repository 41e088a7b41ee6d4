//! `manifest.json`: the catalog entry the origin writes last and the edge reads first.

use serde::{Deserialize, Serialize};

use crate::error::{PackagerError, Result};
use crate::names;

/// The manifest schema version this code writes and reads.
pub const MANIFEST_SCHEMA: u32 = 1;

/// A video's availability: the publication contract between the control plane and the edge.
/// Only `Published` videos are served; `Pending` answers 404 and `Blocked` 451.
///
/// `sunomi-origin transcode` writes `published`; the control plane writes `pending` and flips
/// it once the video passed its gate (then purges the video fleet-wide). The names of
/// schema 1's first writers (`ready`, `processing`) are still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoStatus {
    /// Transcoded, analysed and published: served.
    #[serde(alias = "ready")]
    Published,
    /// Stored but not (yet) published: answered 404.
    #[serde(alias = "processing")]
    Pending,
    /// Blocked by moderation: answered 451.
    Blocked,
}

/// A frame rate as an exact ratio, e.g. 30000/1001.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameRate {
    /// Numerator (frames).
    pub num: u32,
    /// Denominator (seconds).
    pub den: u32,
}

impl FrameRate {
    /// Frames per second as a float.
    pub fn as_f64(&self) -> f64 {
        if self.den == 0 {
            0.0
        } else {
            f64::from(self.num) / f64::from(self.den)
        }
    }
}

/// One rung of the video ladder as transcoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendition {
    /// Ladder label, used in URLs (`720p`).
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Constant frame rate.
    pub frame_rate: FrameRate,
    /// RFC 6381 codec string (`avc1.64001f`).
    pub codec: String,
    /// Target bit rate the encoder was given, bits/s.
    pub target_bit_rate: u64,
    /// Peak bit rate over single fragments, measured from the written file, bits/s.
    pub peak_bit_rate: u64,
    /// Average bit rate measured from the written file, bits/s.
    pub average_bit_rate: u64,
    /// Storage key of the track file, relative to the video's folder (`video/720p.mp4`).
    pub path: String,
    /// For each fragment, bytes from its `moof` to the end of its first (key) frame: the
    /// byte ranges of the I-frame playlist, which the track head alone cannot give.
    pub keyframe_ends: Vec<u32>,
}

/// One audio track as transcoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioTrack {
    /// Name used in URLs: the language code (`und` when unknown).
    pub name: String,
    /// ISO 639 language code.
    pub language: String,
    /// Channel count.
    pub channels: u16,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// RFC 6381 codec string (`mp4a.40.2`).
    pub codec: String,
    /// Average bit rate measured from the written file, bits/s.
    pub average_bit_rate: u64,
    /// Storage key of the track file, relative to the video's folder (`audio/und.mp4`).
    pub path: String,
}

/// The catalog entry of one video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Schema version ([`MANIFEST_SCHEMA`]).
    pub schema: u32,
    /// The video id.
    pub id: String,
    /// Publication status.
    pub status: VideoStatus,
    /// Duration of the longest track, in seconds.
    pub duration_secs: f64,
    /// Video renditions, highest first.
    pub renditions: Vec<Rendition>,
    /// Audio tracks (empty for a silent video).
    pub audio: Vec<AudioTrack>,
    /// Storage key of the poster image, relative to the video's folder.
    pub poster: Option<String>,
    /// When the representative frame (the poster's) is shown, in milliseconds: what a
    /// thumbnail without `time` shows. Absent in manifests written before it was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster_ms: Option<u64>,
    /// A track made only to draw pictures from: a small rung (short side
    /// [`crate::ladder::PICTURE_TRACK_LINES`]) with a key frame every
    /// [`crate::ladder::PICTURE_TRACK_GOP_MS`], so a thumbnail of any time decodes a few small
    /// frames instead of up to a whole 2 s GOP of the smallest rung. Never played: playlists
    /// and MPDs list only `renditions`. Absent when the ladder's smallest rung is already that
    /// small, and in manifests written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture_track: Option<Rendition>,
    /// Moderation labels that apply to the video.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Whether the video is reachable only through playback ids (`playback/{id}.json`):
    /// `/v/{video id}/…` is then 404. The control plane sets it; a video published by
    /// `sunomi-origin transcode --id X` leaves it false and is its own public playback id.
    #[serde(default)]
    pub playback_ids_only: bool,
    /// Languages whose captions file (`subs/{lang}.vtt`) speech-to-text generated: playlists
    /// name them "{Language} (auto-generated)". Uploaded captions are not listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auto_captions: Vec<String>,
    /// The version of the control plane's record this manifest's availability was projected
    /// from (0: not projected, e.g. written by the transcoder). The control plane never
    /// replaces a manifest's availability with one projected from an older record, so
    /// projections applied out of order cannot bring a taken-down video back.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Manifest {
    /// Parses and validates a manifest: names must be URL-safe, paths must stay inside the
    /// video's folder, and there must be at least one rendition.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| PackagerError::Manifest(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Serialises the manifest as pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings and numbers cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Checks the invariants [`Manifest::from_json`] promises.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(PackagerError::Manifest(what));
        if self.schema != MANIFEST_SCHEMA {
            return bad(format!(
                "schema {} (this build reads {MANIFEST_SCHEMA})",
                self.schema
            ));
        }
        if !names::is_valid_video_id(&self.id) {
            return bad(format!("invalid video id {:?}", self.id));
        }
        if self.renditions.is_empty() {
            return bad("no renditions".into());
        }
        for r in &self.renditions {
            if !names::is_valid_rendition(&r.name) || !names::is_safe_relative_path(&r.path) {
                return bad(format!("invalid rendition {:?} at {:?}", r.name, r.path));
            }
        }
        if let Some(r) = &self.picture_track {
            if !names::is_valid_rendition(&r.name)
                || !names::is_safe_relative_path(&r.path)
                || self.rendition(&r.name).is_some()
            {
                return bad(format!(
                    "invalid picture track {:?} at {:?}",
                    r.name, r.path
                ));
            }
        }
        for a in &self.audio {
            if !names::is_valid_audio_track(&a.name) || !names::is_safe_relative_path(&a.path) {
                return bad(format!("invalid audio track {:?} at {:?}", a.name, a.path));
            }
        }
        if let Some(p) = &self.poster {
            if !names::is_safe_relative_path(p) {
                return bad(format!("invalid poster path {p:?}"));
            }
        }
        Ok(())
    }

    /// The rendition called `name`.
    pub fn rendition(&self, name: &str) -> Option<&Rendition> {
        self.renditions.iter().find(|r| r.name == name)
    }

    /// Every stored file the manifest names, relative to the video's folder: renditions,
    /// picture track, audio tracks, poster.
    pub fn stored_paths(&self) -> impl Iterator<Item = &str> {
        self.renditions
            .iter()
            .chain(&self.picture_track)
            .map(|r| r.path.as_str())
            .chain(self.audio.iter().map(|a| a.path.as_str()))
            .chain(self.poster.as_deref())
    }

    /// [`Manifest::stored_paths`], to rewrite (a transcode's files moved under a folder).
    pub fn stored_paths_mut(&mut self) -> impl Iterator<Item = &mut String> {
        self.renditions
            .iter_mut()
            .chain(&mut self.picture_track)
            .map(|r| &mut r.path)
            .chain(self.audio.iter_mut().map(|a| &mut a.path))
            .chain(&mut self.poster)
    }

    /// The track called `name` that pictures may be drawn from: a rendition or the picture
    /// track.
    pub fn picture_source(&self, name: &str) -> Option<&Rendition> {
        self.rendition(name)
            .or_else(|| self.picture_track.as_ref().filter(|r| r.name == name))
    }

    /// The audio track called `name`.
    pub fn audio_track(&self, name: &str) -> Option<&AudioTrack> {
        self.audio.iter().find(|a| a.name == name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            schema: MANIFEST_SCHEMA,
            id: "abc".into(),
            status: VideoStatus::Published,
            duration_secs: 10.0,
            renditions: vec![Rendition {
                name: "360p".into(),
                width: 640,
                height: 360,
                frame_rate: FrameRate { num: 30, den: 1 },
                codec: "avc1.64001e".into(),
                target_bit_rate: 800_000,
                peak_bit_rate: 900_000,
                average_bit_rate: 700_000,
                path: "video/360p.mp4".into(),
                keyframe_ends: vec![1000],
            }],
            audio: vec![],
            poster: Some("poster.jpg".into()),
            poster_ms: Some(2_000),
            picture_track: None,
            labels: vec![],
            playback_ids_only: false,
            auto_captions: vec![],
            revision: 0,
        }
    }

    #[test]
    fn availability_reads_the_first_writers_names() {
        for (text, status) in [
            ("ready", VideoStatus::Published),
            ("processing", VideoStatus::Pending),
            ("published", VideoStatus::Published),
            ("pending", VideoStatus::Pending),
            ("blocked", VideoStatus::Blocked),
        ] {
            let parsed: VideoStatus = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(parsed, status, "{text}");
        }
        assert_eq!(
            serde_json::to_string(&VideoStatus::Published).unwrap(),
            "\"published\""
        );
    }

    #[test]
    fn round_trips_through_json() {
        let m = sample();
        assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn paths_escaping_the_video_folder_are_refused() {
        let mut m = sample();
        m.renditions[0].path = "../other/video/360p.mp4".into();
        assert!(Manifest::from_json(&m.to_json()).is_err());
        let mut m = sample();
        m.poster = Some("/etc/passwd".into());
        assert!(Manifest::from_json(&m.to_json()).is_err());
    }

    #[test]
    fn the_picture_track_is_a_picture_source_and_a_stored_file_but_no_rendition() {
        let mut m = sample();
        let mut track = m.renditions[0].clone();
        track.name = "180p".into();
        track.path = "pictures/180p.mp4".into();
        m.picture_track = Some(track);
        let back = Manifest::from_json(&m.to_json()).unwrap();
        assert_eq!(back, m);
        assert!(back.rendition("180p").is_none());
        assert_eq!(
            back.picture_source("180p").unwrap().path,
            "pictures/180p.mp4"
        );
        assert_eq!(back.picture_source("360p").unwrap().path, "video/360p.mp4");
        assert!(back.picture_source("240p").is_none());
        let paths: Vec<&str> = back.stored_paths().collect();
        assert_eq!(paths, ["video/360p.mp4", "pictures/180p.mp4", "poster.jpg"]);
        let mut moved = back.clone();
        for p in moved.stored_paths_mut() {
            *p = format!("runs/x/{p}");
        }
        assert!(moved.stored_paths().all(|p| p.starts_with("runs/x/")));
        // A picture track named like a rendition, or stored outside the folder, is refused.
        let mut clash = m.clone();
        clash.picture_track.as_mut().unwrap().name = "360p".into();
        assert!(Manifest::from_json(&clash.to_json()).is_err());
        let mut escape = m;
        escape.picture_track.as_mut().unwrap().path = "../x.mp4".into();
        assert!(Manifest::from_json(&escape.to_json()).is_err());
        // Manifests written before it existed read as before.
        assert!(Manifest::from_json(&sample().to_json())
            .unwrap()
            .picture_track
            .is_none());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Manifest::from_json(b"{not json").is_err());
        assert!(Manifest::from_json(b"{}").is_err());
    }
}
