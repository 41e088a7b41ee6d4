//! Reading back a written track file with the packager: what the manifest says about a track
//! is measured from the real bytes, not taken from encoder settings.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use sunomi_packager::bandwidth::{average_bit_rate, SegmentSize};
use sunomi_packager::fragment::parse_fragment;
use sunomi_packager::track::{scan_track_head, HeadScan, TrackIndex, HEAD_READ_HINT};

use super::TranscodeError;

/// A written track, as measured.
#[derive(Debug)]
pub struct MeasuredTrack {
    /// Its index (head).
    pub index: TrackIndex,
    /// Per fragment, bytes from the `moof` to the end of its first sample.
    pub keyframe_ends: Vec<u32>,
    /// Highest bit rate of a single fragment, bits/s.
    pub peak_bit_rate: u64,
    /// Average bit rate, bits/s.
    pub average_bit_rate: u64,
}

fn read_at(file: &mut File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.by_ref().take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Parses the head and every fragment header of the track file at `path`.
pub fn measure(path: &Path) -> Result<MeasuredTrack, TranscodeError> {
    let io = |e: std::io::Error| TranscodeError::Output(format!("{}: {e}", path.display()));
    let bad = |e: sunomi_packager::PackagerError| {
        TranscodeError::Output(format!("{} is not a valid CMAF track: {e}", path.display()))
    };
    let mut file = File::open(path).map_err(io)?;
    let mut want = HEAD_READ_HINT;
    let index = loop {
        let head = read_at(&mut file, 0, want).map_err(io)?;
        match scan_track_head(&head).map_err(bad)? {
            HeadScan::Complete(index) => break index,
            HeadScan::NeedMore { at_least }
                if at_least > head.len() as u64 && head.len() as u64 == want =>
            {
                want = at_least
            }
            HeadScan::NeedMore { .. } => {
                return Err(TranscodeError::Output(format!(
                    "{} ends inside its head",
                    path.display()
                )))
            }
        }
    };
    let mut keyframe_ends = Vec::with_capacity(index.fragments.len());
    let mut peak = 0u64;
    let mut sizes = Vec::with_capacity(index.fragments.len());
    let ts = f64::from(index.timescale);
    for f in &index.fragments {
        let header = read_at(&mut file, f.offset, 8).map_err(io)?;
        if header.len() < 8 {
            return Err(TranscodeError::Output(format!(
                "{} is truncated",
                path.display()
            )));
        }
        let moof_len = u64::from(u32::from_be_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let moof = read_at(&mut file, f.offset, moof_len.min(u64::from(f.size))).map_err(io)?;
        let frag = parse_fragment(&moof, f.offset, index.default_sample_duration).map_err(bad)?;
        let end = frag.first_sample_end().unwrap_or(0);
        keyframe_ends.push(u32::try_from(end).unwrap_or(0));
        let seconds = f64::from(f.duration) / ts;
        if seconds > 0.0 {
            peak = peak.max((f64::from(f.size) * 8.0 / seconds).ceil() as u64);
        }
        sizes.push(SegmentSize {
            bytes: u64::from(f.size),
            seconds,
        });
    }
    Ok(MeasuredTrack {
        average_bit_rate: average_bit_rate(&sizes),
        peak_bit_rate: peak,
        index,
        keyframe_ends,
    })
}
