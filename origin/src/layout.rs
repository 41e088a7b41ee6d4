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
    }
}
