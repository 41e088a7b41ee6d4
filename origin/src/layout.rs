//! The object storage layout of DESIGN.md: every storage key is built here and nowhere else.

/// Folder holding every video.
pub const VIDEOS: &str = "videos";
/// The catalog entry, relative to a video's folder.
pub const MANIFEST: &str = "manifest.json";
/// The upload as received, relative to a video's folder.
pub const SOURCE: &str = "source";
/// The poster image, relative to a video's folder.
pub const POSTER: &str = "poster.jpg";

/// A video's folder: `videos/{id}`.
pub fn video_dir(id: &str) -> String {
    format!("{VIDEOS}/{id}")
}

/// A key inside a video's folder: `videos/{id}/{relative}`.
pub fn video_key(id: &str, relative: &str) -> String {
    format!("{VIDEOS}/{id}/{relative}")
}

/// Where a video rendition's track file lives, relative to the video's folder.
pub fn rendition_path(rendition: &str) -> String {
    format!("video/{rendition}.mp4")
}

/// Where a video's picture track lives (see `Manifest::picture_track`), relative to the
/// video's folder.
pub fn picture_track_path(name: &str) -> String {
    format!("pictures/{name}.mp4")
}

/// Folder of a video's subtitle files, relative to the video's folder.
pub const SUBS_DIR: &str = "subs";

/// Where a subtitle file (WebVTT) lives, relative to the video's folder.
pub fn subtitle_path(lang: &str) -> String {
    format!("{SUBS_DIR}/{lang}.vtt")
}

/// Where an audio track file lives, relative to the video's folder.
pub fn audio_path(track: &str) -> String {
    format!("audio/{track}.mp4")
}

/// The control plane's state of record of an asset, relative to its video's folder.
pub const ASSET: &str = "asset.json";

/// Folder of every upload in progress.
pub const UPLOADS: &str = "uploads";

/// An upload's record (tus state, parts): `uploads/{upload_id}/upload.json`.
pub fn upload_record(upload_id: &str) -> String {
    format!("{UPLOADS}/{upload_id}/upload.json")
}

/// Folder of an upload's received chunks: `uploads/{upload_id}/parts`.
pub fn upload_parts_dir(upload_id: &str) -> String {
    format!("{UPLOADS}/{upload_id}/parts")
}

/// The bytes of an upload to a local store, written in place at each chunk's offset.
pub fn upload_data(upload_id: &str) -> String {
    format!("{UPLOADS}/{upload_id}/data")
}

/// One received chunk of an upload, named by the offset it starts at (zero-padded, so keys
/// sort by offset) and a nonce (two racing writers never share a key).
pub fn upload_part(upload_id: &str, offset: u64, nonce: &str) -> String {
    format!("{UPLOADS}/{upload_id}/parts/{offset:020}-{nonce}")
}

/// Folder of playback id records.
pub const PLAYBACK: &str = "playback";

/// A playback id's record: `playback/{playback_id}.json`.
pub fn playback_record(playback_id: &str) -> String {
    format!("{PLAYBACK}/{playback_id}.json")
}

/// Folder of the public keys playback tokens are verified with.
pub const SIGNING_KEYS: &str = "keys/signing";

/// A signing key's public half (PEM): `keys/signing/{kid}.pub`.
pub fn signing_key(kid: &str) -> String {
    format!("{SIGNING_KEYS}/{kid}.pub")
}

/// Folder of API key records (hashes only).
pub const API_KEYS: &str = "keys/api";

/// An API key's record: `keys/api/{key_id}.json`.
pub fn api_key_record(key_id: &str) -> String {
    format!("{API_KEYS}/{key_id}.json")
}

/// Where one transcode run's files live, relative to the video's folder: each run writes
/// its own folder, so two workers racing on one video never write the same key, and the
/// manifest written last names the one run that won.
pub fn run_dir(run: &str) -> String {
    format!("runs/{run}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_design() {
        assert_eq!(video_key("abc", MANIFEST), "videos/abc/manifest.json");
        assert_eq!(
            video_key("abc", &rendition_path("720p")),
            "videos/abc/video/720p.mp4"
        );
        assert_eq!(
            video_key("abc", &audio_path("und")),
            "videos/abc/audio/und.mp4"
        );
        assert_eq!(
            video_key("abc", &subtitle_path("en")),
            "videos/abc/subs/en.vtt"
        );
        assert_eq!(video_key("abc", ASSET), "videos/abc/asset.json");
        assert_eq!(upload_record("u1"), "uploads/u1/upload.json");
        assert_eq!(
            upload_part("u1", 42, "n"),
            "uploads/u1/parts/00000000000000000042-n"
        );
        assert_eq!(playback_record("p"), "playback/p.json");
    }
}
