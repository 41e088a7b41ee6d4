//! Reading ISO BMFF boxes from a byte slice: headers, child iteration and big-endian fields.
//!
//! Every read is bounds-checked and reports the box it was reading, so hostile input gives an
//! error naming the box, never a panic.

use crate::error::{PackagerError, Result};

/// A four-character box type, such as `*b"moov"`.
pub type FourCc = [u8; 4];

/// One box found in a buffer: its type and where its header and body are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxRef {
    /// The box type.
    pub kind: FourCc,
    /// Offset of the box's first byte in the buffer that was scanned.
    pub start: usize,
    /// Length of the header (8, or 16 with a 64-bit size).
    pub header_len: usize,
    /// Total size of the box, header included, as declared.
    pub size: u64,
}

impl BoxRef {
    /// Offset just past the box (may exceed the buffer for a box that is only partly present).
    pub fn end(&self) -> u64 {
        (self.start as u64).saturating_add(self.size)
    }
}

/// Printable name of a box type for error messages.
pub fn kind_name(kind: &FourCc) -> String {
    kind.iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

/// Reads the box header at `offset` in `buf`.
///
/// Returns `Ok(None)` when fewer bytes than a header remain (the caller needs more input).
/// A size of 0 ("to the end of the file") is resolved against `buf`'s length.
pub fn read_header(buf: &[u8], offset: usize) -> Result<Option<BoxRef>> {
    let Some(head) = buf.get(offset..offset.saturating_add(8)) else {
        return Ok(None);
    };
    if head.len() < 8 {
        return Ok(None);
    }
    let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let kind: FourCc = [head[4], head[5], head[6], head[7]];
    let (size, header_len) = match size32 {
        0 => ((buf.len() - offset) as u64, 8),
        1 => {
            let Some(large) = buf.get(offset + 8..offset + 16) else {
                return Ok(None);
            };
            let mut b = [0u8; 8];
            b.copy_from_slice(large);
            (u64::from_be_bytes(b), 16)
        }
        n => (u64::from(n), 8),
    };
    if (offset as u64).checked_add(size).is_none() {
        return Err(PackagerError::MalformedBox {
            kind: kind_name(&kind),
            reason: format!("declared size {size} runs past any file"),
        });
    }
    if size < header_len as u64 {
        return Err(PackagerError::MalformedBox {
            kind: kind_name(&kind),
            reason: format!("declared size {size} is smaller than its header"),
        });
    }
    Ok(Some(BoxRef {
        kind,
        start: offset,
        header_len,
        size,
    }))
}

/// Iterates over the complete boxes directly inside `buf` (a box body or a whole file).
///
/// Fails if a box runs past the end of `buf`; use [`read_header`] to scan partial input.
pub fn children(buf: &[u8]) -> Children<'_> {
    Children { buf, offset: 0 }
}

/// Iterator returned by [`children`]: yields each child's type and body.
pub struct Children<'a> {
    buf: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<(FourCc, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= self.buf.len() {
            return None;
        }
        let header = match read_header(self.buf, self.offset) {
            Ok(Some(h)) => h,
            Ok(None) => {
                self.offset = self.buf.len();
                return Some(Err(PackagerError::MalformedBox {
                    kind: "????".into(),
                    reason: "trailing bytes shorter than a box header".into(),
                }));
            }
            Err(e) => {
                self.offset = self.buf.len();
                return Some(Err(e));
            }
        };
        if header.end() > self.buf.len() as u64 {
            self.offset = self.buf.len();
            return Some(Err(PackagerError::MalformedBox {
                kind: kind_name(&header.kind),
                reason: format!(
                    "declared size {} runs past its container ({} bytes left)",
                    header.size,
                    self.buf.len() - header.start
                ),
            }));
        }
        let body = &self.buf[header.start + header.header_len..header.end() as usize];
        self.offset = header.end() as usize;
        Some(Ok((header.kind, body)))
    }
}

/// Finds the first child of type `kind` in `buf`.
pub fn find<'a>(buf: &'a [u8], kind: &FourCc) -> Result<Option<&'a [u8]>> {
    for child in children(buf) {
        let (k, body) = child?;
        if &k == kind {
            return Ok(Some(body));
        }
    }
    Ok(None)
}

/// Finds the first child of type `kind` or fails with [`PackagerError::MissingBox`].
pub fn require<'a>(buf: &'a [u8], kind: &'static FourCc) -> Result<&'a [u8]> {
    find(buf, kind)?
        .ok_or_else(|| PackagerError::MissingBox(std::str::from_utf8(kind).unwrap_or("????")))
}

/// A bounds-checked big-endian reader over one box body.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    kind: &'static str,
}

impl<'a> Fields<'a> {
    /// Starts reading `buf`, the body of a box of type `kind` (used in error messages).
    pub fn new(buf: &'a [u8], kind: &'static str) -> Self {
        Fields { buf, pos: 0, kind }
    }

    fn short(&self, want: usize) -> PackagerError {
        PackagerError::MalformedBox {
            kind: self.kind.into(),
            reason: format!(
                "needs {want} more bytes at offset {} but has {}",
                self.pos,
                self.buf.len().saturating_sub(self.pos)
            ),
        }
    }

    /// Takes the next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.short(n))?;
        let slice = self.buf.get(self.pos..end).ok_or_else(|| self.short(n))?;
        self.pos = end;
        Ok(slice)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self) -> Result<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads a big-endian 24-bit value.
    pub fn u24(&mut self) -> Result<u32> {
        let b = self.bytes(3)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a big-endian u64.
    pub fn u64(&mut self) -> Result<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Reads a u32 when `version` is 0, a u64 otherwise (the full-box convention).
    pub fn u32_or_u64(&mut self, version: u8) -> Result<u64> {
        if version == 0 {
            self.u32().map(u64::from)
        } else {
            self.u64()
        }
    }

    /// Reads a full-box header: (version, flags).
    pub fn full_box(&mut self) -> Result<(u8, u32)> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }

    /// How many bytes have been read.
    pub fn position(&self) -> usize {
        self.pos
    }
}

/// A box of type `kind` around `body` (32-bit size; every box this crate writes is small).
pub fn boxed(kind: &FourCc, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 8);
    v.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

/// The body of a full box: `version` and 24-bit `flags`, then `rest`.
pub fn full(version: u8, flags: u32, rest: &[u8]) -> Vec<u8> {
    let mut v = ((u32::from(version) << 24) | (flags & 0x00ff_ffff))
        .to_be_bytes()
        .to_vec();
    v.extend_from_slice(rest);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_children_and_finds_by_type() {
        let mut buf = boxed(b"free", &[1, 2, 3]);
        buf.extend(boxed(b"moov", &[9]));
        let kinds: Vec<_> = children(&buf).map(|c| c.unwrap().0).collect();
        assert_eq!(kinds, vec![*b"free", *b"moov"]);
        assert_eq!(find(&buf, b"moov").unwrap(), Some(&[9u8][..]));
        assert_eq!(
            require(&buf, b"trak"),
            Err(PackagerError::MissingBox("trak"))
        );
    }

    #[test]
    fn box_running_past_its_parent_is_an_error_not_a_panic() {
        let mut buf = boxed(b"moov", &[0; 4]);
        buf[3] = 200;
        assert!(children(&buf).next().unwrap().is_err());
    }

    #[test]
    fn size_smaller_than_header_is_rejected() {
        let buf = [0, 0, 0, 4, b'm', b'o', b'o', b'v'];
        assert!(read_header(&buf, 0).is_err());
    }

    #[test]
    fn partial_header_asks_for_more() {
        assert_eq!(read_header(&[0, 0, 0], 0).unwrap(), None);
    }

    #[test]
    fn fields_report_short_reads() {
        let mut f = Fields::new(&[1, 2, 3], "tkhd");
        assert_eq!(f.u16().unwrap(), 0x0102);
        assert!(f.u32().is_err());
    }
}
