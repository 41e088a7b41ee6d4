//! Identifiers, parsed at the edge of the system: a value of these types is URL-safe, holds
//! no `/` or `..`, and is a valid storage key component and edge video id.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Random characters per generated id: 24 base-62 characters are 142 bits.
const RANDOM_LEN: usize = 24;

/// `len` random base-62 characters from the operating system's generator.
pub fn random_token(len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Why a string is not an id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed {kind} id")]
pub struct BadId {
    /// Which kind of id was expected.
    pub kind: &'static str,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn generate() -> Self {
                $name(random_token(RANDOM_LEN))
            }

            /// Parses an id from outside (a path, a header, a stored record).
            pub fn parse(text: &str) -> Result<Self, BadId> {
                if sunomi_packager::names::is_valid_video_id(text) {
                    Ok($name(text.to_string()))
                } else {
                    Err(BadId { kind: $kind })
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = BadId;
            fn try_from(s: String) -> Result<Self, BadId> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = BadId;
            fn from_str(s: &str) -> Result<Self, BadId> {
                $name::parse(s)
            }
        }
    };
}

id_type!(
    /// An asset (a video). It names the video's storage folder `videos/{id}/`.
    AssetId,
    "asset"
);
id_type!(
    /// An upload in progress.
    UploadId,
    "upload"
);
id_type!(
    /// What appears in edge URLs (`/v/{playback_id}/…`). An asset's first public playback id
    /// is its asset id, as for videos published by `sunomi-origin transcode --id X`.
    PlaybackId,
    "playback"
);
id_type!(
    /// A job on the queue.
    JobId,
    "job"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let id = AssetId::generate();
        assert_eq!(id.as_str().len(), RANDOM_LEN);
        assert_eq!(AssetId::parse(id.as_str()).unwrap(), id);
        assert_ne!(AssetId::generate(), AssetId::generate());
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["", "..", "a/b", "a.b", "-a", "%2e", "é", &"x".repeat(65)] {
            assert_eq!(
                UploadId::parse(bad),
                Err(BadId { kind: "upload" }),
                "{bad:?}"
            );
        }
        assert!(serde_json::from_str::<AssetId>("\"../x\"").is_err());
    }
}
