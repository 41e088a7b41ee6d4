//! Who may have what beyond public media: content keys (a local derivation or a key
//! service) and the viewer tokens in front of them. Signed playback tokens (JWT) are checked
//! where playback ids are resolved, in `media::signed`.

pub mod auth;
pub mod keys;
