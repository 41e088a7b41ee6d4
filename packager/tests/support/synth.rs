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
