//! Synthetic CMAF track heads of any length, for benchmarks and robustness tests (the real
//! bytes made by FFmpeg are tested in `origin/tests`).
#![allow(dead_code)]

fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

fn full(version: u8, flags: u32, rest: &[u8]) -> Vec<u8> {
    let mut v = (((version as u32) << 24) | flags).to_be_bytes().to_vec();
    v.extend_from_slice(rest);
    v
}

/// A video track head (`ftyp`, `moov`, `sidx`) with `fragments` fragments of `fragment_secs`
/// seconds and `fragment_bytes` bytes each, at 90 kHz.
pub fn video_head(fragments: u32, fragment_secs: u32, fragment_bytes: u32) -> Vec<u8> {
    let timescale = 90_000u32;
    let ftyp = boxed(b"ftyp", b"iso6\0\0\0\0iso6cmfc");
    let mut tkhd = vec![0u8; 8];
    tkhd.extend_from_slice(&1u32.to_be_bytes());
    tkhd.extend_from_slice(&[0u8; 68]);
    let tkhd = boxed(b"tkhd", &full(0, 3, &tkhd));
    let mut mdhd = vec![0u8; 8];
    mdhd.extend_from_slice(&timescale.to_be_bytes());
    mdhd.extend_from_slice(&0u32.to_be_bytes());
    mdhd.extend_from_slice(&0x55c4u16.to_be_bytes());
    mdhd.extend_from_slice(&[0, 0]);
    let mdhd = boxed(b"mdhd", &full(0, 0, &mdhd));
    let mut hdlr = vec![0u8; 4];
    hdlr.extend_from_slice(b"vide");
    hdlr.extend_from_slice(&[0u8; 13]);
    let hdlr = boxed(b"hdlr", &full(0, 0, &hdlr));
    let mut avc1 = vec![0u8; 6];
    avc1.extend_from_slice(&1u16.to_be_bytes());
    avc1.extend_from_slice(&[0u8; 16]);
    avc1.extend_from_slice(&1280u16.to_be_bytes());
    avc1.extend_from_slice(&720u16.to_be_bytes());
    avc1.extend_from_slice(&[0u8; 50]);
    avc1.extend(boxed(b"avcC", &[1, 0x64, 0x00, 0x1f, 0xff, 0xe0, 0x00]));
    let stsd = boxed(
        b"stsd",
        &[full(0, 0, &1u32.to_be_bytes()), boxed(b"avc1", &avc1)].concat(),
    );
    let stbl = boxed(b"stbl", &stsd);
    let minf = boxed(b"minf", &stbl);
    let mdia = boxed(b"mdia", &[mdhd, hdlr, minf].concat());
    let trak = boxed(b"trak", &[tkhd, mdia].concat());
    let mut trex = 1u32.to_be_bytes().to_vec();
    trex.extend_from_slice(&1u32.to_be_bytes());
    trex.extend_from_slice(&3000u32.to_be_bytes());
    trex.extend_from_slice(&[0u8; 8]);
    let mvex = boxed(b"mvex", &boxed(b"trex", &full(0, 0, &trex)));
    let moov = boxed(b"moov", &[trak, mvex].concat());
    let mut sidx = 1u32.to_be_bytes().to_vec();
    sidx.extend_from_slice(&timescale.to_be_bytes());
    sidx.extend_from_slice(&0u64.to_be_bytes());
    sidx.extend_from_slice(&0u64.to_be_bytes());
    sidx.extend_from_slice(&0u16.to_be_bytes());
    sidx.extend_from_slice(&(fragments as u16).to_be_bytes());
    for _ in 0..fragments {
        sidx.extend_from_slice(&fragment_bytes.to_be_bytes());
        sidx.extend_from_slice(&(fragment_secs * timescale).to_be_bytes());
        sidx.extend_from_slice(&0x9000_0000u32.to_be_bytes());
    }
    let sidx = boxed(b"sidx", &full(1, 0, &sidx));
    [ftyp, moov, sidx].concat()
}

/// One synthetic sample: size in bytes, sync flag, composition offset.
#[derive(Clone, Copy)]
pub struct SynthSample {
    /// Bytes of the sample.
    pub size: u32,
    /// Key frame.
    pub sync: bool,
    /// Composition offset (signed, version 1 `trun`).
    pub cto: i32,
}

/// A fragment (`moof` + `mdat`) starting at `decode_time` with samples of `duration` ticks.
/// With `nal` set, each sample's bytes are one length-prefixed (4-byte) H.264 NAL unit
/// (type 5 for sync samples, 1 otherwise); otherwise raw bytes.
pub fn fragment(
    sequence: u32,
    decode_time: u64,
    duration: u32,
    samples: &[SynthSample],
    nal: bool,
) -> Vec<u8> {
    let mut trun = Vec::new();
    trun.extend_from_slice(&(samples.len() as u32).to_be_bytes());
    trun.extend_from_slice(&0u32.to_be_bytes()); // data offset, patched below
    for s in samples {
        trun.extend_from_slice(&duration.to_be_bytes());
        trun.extend_from_slice(&s.size.to_be_bytes());
        let flags: u32 = if s.sync { 0x0200_0000 } else { 0x0101_0000 };
        trun.extend_from_slice(&flags.to_be_bytes());
        trun.extend_from_slice(&s.cto.to_be_bytes());
    }
    let build = |trun: &[u8]| {
        let tfhd = boxed(b"tfhd", &full(0, 0x02_0000, &1u32.to_be_bytes()));
        let tfdt = boxed(b"tfdt", &full(1, 0, &decode_time.to_be_bytes()));
        let trun = boxed(
            b"trun",
            &full(1, 0x01 | 0x100 | 0x200 | 0x400 | 0x800, trun),
        );
        let traf = boxed(b"traf", &[tfhd, tfdt, trun].concat());
        let mfhd = boxed(b"mfhd", &full(0, 0, &sequence.to_be_bytes()));
        boxed(b"moof", &[mfhd, traf].concat())
    };
    let moof_len = build(&trun).len();
    trun[4..8].copy_from_slice(&((moof_len + 8) as u32).to_be_bytes());
    let moof = build(&trun);
    let mut data = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        if nal {
            data.extend_from_slice(&(s.size - 4).to_be_bytes());
            data.push(if s.sync { 0x65 } else { 0x41 });
            data.extend((0..s.size - 5).map(|j| (i as u32 * 31 + j) as u8 | 1));
        } else {
            data.extend((0..s.size).map(|j| (i as u32 + j) as u8));
        }
    }
    [moof, boxed(b"mdat", &data)].concat()
}

/// A video segment: `fragments` fragments of `frames` frames (key frame, then P/B frames
/// with composition offsets like x264's B-pyramid) at 15360 Hz, 30 fps, about `bitrate` b/s.
pub fn video_segment(fragments: u32, frames: u32, bitrate: u32) -> Vec<u8> {
    let per_frame = bitrate / 8 / 30;
    let mut out = Vec::new();
    for f in 0..fragments {
        let samples: Vec<SynthSample> = (0..frames)
            .map(|i| SynthSample {
                size: if i == 0 {
                    per_frame * 6
                } else {
                    per_frame * 4 / 5
                }
                .max(16),
                sync: i == 0,
                cto: [0, 1024, -512, -512, 1024][(i % 5) as usize],
            })
            .collect();
        out.extend(fragment(
            f + 1,
            u64::from(f * frames) * 512,
            512,
            &samples,
            true,
        ));
    }
    out
}

/// An AAC segment matching [`video_segment`]: 1024-sample frames at 48 kHz, ~370 bytes each.
pub fn audio_segment(fragments: u32, frames: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for f in 0..fragments {
        let samples: Vec<SynthSample> = (0..frames)
            .map(|_| SynthSample {
                size: 371,
                sync: true,
                cto: 0,
            })
            .collect();
        out.extend(fragment(
            f + 1,
            u64::from(f * frames) * 1024,
            1024,
            &samples,
            false,
        ));
    }
    out
}
