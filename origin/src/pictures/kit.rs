//! What a picture worker keeps from one picture to the next: the H.264 decoder of the last
//! track it decoded and the scaling contexts it used. Opening a decoder (its context and
//! frame pool) and initialising a scaler cost as much as decoding and scaling a thumbnail's
//! few frames; a worker that keeps them pays that once per track size, not per picture.

use std::sync::Mutex;

use super::decode::{track_config, TrackDecoder};
use super::render::Scalers;
use super::PictureError;

/// One worker's tools, taken by one picture at a time.
#[derive(Default)]
pub struct Kit {
    decoder: Option<TrackDecoder>,
    /// Scaling contexts by what they convert.
    pub scalers: Scalers,
}

impl Kit {
    /// A decoder for the track whose init segment is `init`, reset for a new picture (the
    /// one kept when it was opened for the same parameter sets, else a new one, which is
    /// then kept), and the scalers beside it.
    pub fn tools(
        &mut self,
        init: &[u8],
    ) -> Result<(&mut TrackDecoder, &mut Scalers), PictureError> {
        let avc = track_config(init)?;
        let decoder = match self.decoder.take() {
            Some(mut kept) if kept.decodes(&avc) => {
                kept.reset();
                kept
            }
            _ => TrackDecoder::new(avc)?,
        };
        Ok((self.decoder.insert(decoder), &mut self.scalers))
    }
}

/// The kits of idle workers. There are never more than pictures drawn at once: a picture
/// takes one (or makes one) and gives it back when it has drawn; a picture that failed drops
/// its kit, so nothing it left half-done is reused.
#[derive(Default)]
pub struct Kits {
    idle: Mutex<Vec<Kit>>,
}

impl Kits {
    /// An idle kit, or a new one.
    pub fn take(&self) -> Kit {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
            .unwrap_or_default()
    }

    /// Gives `kit` back for the next picture.
    pub fn give_back(&self, kit: Kit) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(kit);
    }
}
