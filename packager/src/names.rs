//! What ids, rendition names and audio track names may look like: one place for the rules the
//! edge uses to validate URLs and the origin uses to name what it writes.

/// Longest video id accepted.
pub const MAX_VIDEO_ID_LEN: usize = 64;

/// A video id: 1 to 64 characters of `A-Z a-z 0-9 _ -`, not starting with `-`. No `/`, no `.`,
/// so an id can never climb out of its storage folder.
pub fn is_valid_video_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_VIDEO_ID_LEN
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A rendition name: a ladder label such as `720p` (2 to 4 digits then `p`, no leading zero).
pub fn is_valid_rendition(name: &str) -> bool {
    let Some(digits) = name.strip_suffix('p') else {
        return false;
    };
    (2..=4).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// An audio track name: a 2- or 3-letter lowercase language code (`und` when unknown).
pub fn is_valid_audio_track(name: &str) -> bool {
    (2..=3).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase())
}

/// A storage path relative to a video's folder: segments of safe characters, no `.` or `..`
/// segments, not absolute.
pub fn is_safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "demo", "Ab_9-x", &"x".repeat(64)] {
            assert!(is_valid_video_id(ok), "{ok}");
        }
        for bad in ["", "..", "a/b", "a.b", "-a", "%2e", &"x".repeat(65), "é"] {
            assert!(!is_valid_video_id(bad), "{bad}");
        }
    }

    #[test]
    fn renditions() {
        for ok in ["360p", "1080p", "2160p", "240p", "90p"] {
            assert!(is_valid_rendition(ok), "{ok}");
        }
        for bad in ["p", "0360p", "360", "36000p", "360P", "abcp", "audio"] {
            assert!(!is_valid_rendition(bad), "{bad}");
        }
    }

    #[test]
    fn paths() {
        assert!(is_safe_relative_path("video/720p.mp4"));
        for bad in ["", "/x", "a//b", "../x", "a/./b", "a/../b", "a\\b"] {
            assert!(!is_safe_relative_path(bad), "{bad}");
        }
    }
}
