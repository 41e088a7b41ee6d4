//! Writing one CMAF track file through libavformat's mp4 muxer, with fragment boundaries we
//! choose (`frag_custom`): a fragment is flushed right before the packet that must start the
//! next one.

use std::path::{Path, PathBuf};

use ffmpeg::{codec, format, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::TranscodeError;

/// `movflags` for CMAF track files: fragmented, `default-base-is-moof`, one global `sidx`
/// after `moov`, `moov` written once the first fragment is known, fragments cut by us.
const MOVFLAGS: &str = "+cmaf+dash+delay_moov+global_sidx+frag_custom";

/// A CMAF track file being written.
pub struct CmafWriter {
    octx: format::context::Output,
    stream_time_base: Rational,
    wrote_any: bool,
    flushed_once: bool,
    path: PathBuf,
}

fn ff(stage: &'static str) -> impl FnOnce(ffmpeg::Error) -> TranscodeError {
    move |source| TranscodeError::Ffmpeg { stage, source }
}

impl CmafWriter {
    /// Creates `path` holding one track with the opened encoder's parameters.
    pub fn create(
        path: &Path,
        parameters: codec::Parameters,
        encoder_time_base: Rational,
        language: Option<&str>,
    ) -> Result<CmafWriter, TranscodeError> {
        let mut octx = format::output_as(path, "mp4").map_err(ff("open mp4 output"))?;
        {
            let mut stream = octx
                .add_stream_with(&codec::Context::new())
                .map_err(ff("add stream"))?;
            stream.set_parameters(parameters);
            stream.set_time_base(encoder_time_base);
            if let Some(lang) = language {
                let mut meta = Dictionary::new();
                meta.set("language", lang);
                stream.set_metadata(meta);
            }
        }
        let mut opts = Dictionary::new();
        opts.set("movflags", MOVFLAGS);
        octx.write_header_with(opts)
            .map_err(ff("write mp4 header"))?;
        let stream_time_base = octx
            .stream(0)
            .map(|s| s.time_base())
            .unwrap_or(encoder_time_base);
        Ok(CmafWriter {
            octx,
            stream_time_base,
            wrote_any: false,
            flushed_once: false,
            path: path.to_path_buf(),
        })
    }

    /// Writes `packet` (timestamps in `time_base`), first closing the current fragment when
    /// `starts_fragment` is set.
    pub fn write(
        &mut self,
        packet: &mut Packet,
        time_base: Rational,
        starts_fragment: bool,
    ) -> Result<(), TranscodeError> {
        if starts_fragment && self.wrote_any {
            self.flush_fragment()?;
        }
        packet.set_stream(0);
        packet.rescale_ts(time_base, self.stream_time_base);
        packet.write(&mut self.octx).map_err(ff("write packet"))?;
        self.wrote_any = true;
        Ok(())
    }

    fn flush_fragment(&mut self) -> Result<(), TranscodeError> {
        // With delay_moov the first flush writes only the `moov` and keeps the samples, so the
        // first fragment needs a second flush (libavformat's own auto-flush does the same).
        let times = if self.flushed_once { 1 } else { 2 };
        self.flushed_once = true;
        for _ in 0..times {
            // SAFETY: the context is open with its header written; a null packet asks the mp4
            // muxer (with frag_custom) to flush the fragment it holds.
            let ret = unsafe {
                ffmpeg::ffi::av_write_frame(self.octx.as_mut_ptr(), std::ptr::null_mut())
            };
            if ret < 0 {
                return Err(TranscodeError::Ffmpeg {
                    stage: "flush fragment",
                    source: ffmpeg::Error::from(ret),
                });
            }
        }
        Ok(())
    }

    /// Writes the trailer (the last fragment and the global `sidx`) and closes the file.
    pub fn finish(mut self) -> Result<PathBuf, TranscodeError> {
        if !self.wrote_any {
            return Err(TranscodeError::Empty(format!(
                "no packets for {}",
                self.path.display()
            )));
        }
        self.octx.write_trailer().map_err(ff("write mp4 trailer"))?;
        Ok(self.path)
    }
}
