//! How `tern publish` reads objects from stdin and `tern subscribe` writes them to stdout.
//! Sans-IO: bytes in, records out (and the reverse).
//!
//! - [`Framing::Lines`] (the default): each `\n`-terminated line is one object (the `\n` is
//!   not part of it; a final line without `\n` is an object too). The publisher starts a new
//!   group every `--group-size` objects. The subscriber writes each object followed by `\n`.
//! - [`Framing::Length`]: each record is a 32-bit big-endian length and that many bytes. A
//!   zero-length record starts a new group (so objects are never empty); the subscriber writes
//!   one between groups. A round trip through a relay is byte-exact when the input does not
//!   start with, or repeat, a zero-length record.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The stdin/stdout record format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Framing {
    /// One object per line (`\n`-terminated).
    #[default]
    Lines,
    /// Records of a `u32` big-endian length and the bytes; length 0 starts a new group.
    Length,
}

/// One record from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Start a new group before the next object.
    NewGroup,
    /// One object's payload.
    Object(Bytes),
}

/// Why the input could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// A record longer than the object size limit.
    #[error("record of {len} bytes exceeds the {max}-byte object limit")]
    TooLong {
        /// The record's length (so far, for a line).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ended in the middle of a length-prefixed record.
    #[error("input ended inside a record ({0} bytes left over)")]
    Truncated(usize),
}

/// Cuts input bytes into [`Record`]s.
#[derive(Debug)]
pub struct Decoder {
    framing: Framing,
    group_size: usize,
    max_object: usize,
    buf: BytesMut,
    in_group: usize,
    /// Where to resume scanning for `\n`.
    scanned: usize,
}

impl Decoder {
    /// A decoder; `group_size` (lines framing) is the number of objects per group (≥ 1).
    pub fn new(framing: Framing, group_size: usize, max_object: usize) -> Self {
        Self {
            framing,
            group_size: group_size.max(1),
            max_object,
            buf: BytesMut::new(),
            in_group: 0,
            scanned: 0,
        }
    }

    /// Append input bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    fn object(&mut self, payload: Bytes) -> Record {
        self.in_group += 1;
        Record::Object(payload)
    }

    /// The next complete record, `Ok(None)` when more input is needed.
    pub fn poll(&mut self) -> Result<Option<Record>, FramingError> {
        match self.framing {
            Framing::Lines => {
                if self.in_group == self.group_size {
                    self.in_group = 0;
                    return Ok(Some(Record::NewGroup));
                }
                let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                    self.scanned = self.buf.len();
                    if self.buf.len() > self.max_object {
                        return Err(FramingError::TooLong {
                            len: self.buf.len(),
                            max: self.max_object,
                        });
                    }
                    return Ok(None);
                };
                let end = self.scanned + pos;
                self.scanned = 0;
                if end > self.max_object {
                    return Err(FramingError::TooLong {
                        len: end,
                        max: self.max_object,
                    });
                }
                let line = self.buf.split_to(end + 1).freeze().slice(..end);
                Ok(Some(self.object(line)))
            }
            Framing::Length => {
                if self.buf.len() < 4 {
                    return Ok(None);
                }
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                if len > self.max_object {
                    return Err(FramingError::TooLong {
                        len,
                        max: self.max_object,
                    });
                }
                if self.buf.len() < 4 + len {
                    return Ok(None);
                }
                self.buf.advance(4);
                if len == 0 {
                    self.in_group = 0;
                    return Ok(Some(Record::NewGroup));
                }
                let payload = self.buf.split_to(len).freeze();
                Ok(Some(self.object(payload)))
            }
        }
    }

    /// The input ended: the last record, if any (a line without `\n`).
    pub fn finish(&mut self) -> Result<Option<Record>, FramingError> {
        if let Some(r) = self.poll()? {
            return Ok(Some(r));
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        match self.framing {
            Framing::Lines => {
                self.scanned = 0;
                let rest = self.buf.split().freeze();
                Ok(Some(self.object(rest)))
            }
            Framing::Length => Err(FramingError::Truncated(self.buf.len())),
        }
    }
}

/// Writes objects back in a framing, marking group changes.
#[derive(Debug)]
pub struct Encoder {
    framing: Framing,
    group: Option<u64>,
}

impl Encoder {
    /// An encoder for `framing`.
    pub fn new(framing: Framing) -> Self {
        Self {
            framing,
            group: None,
        }
    }

    /// Append the framed `payload` of an object in `group` to `out`.
    pub fn encode(&mut self, group: u64, payload: &[u8], out: &mut impl BufMut) {
        let new_group = self.group.is_some_and(|g| g != group);
        self.group = Some(group);
        match self.framing {
            Framing::Lines => {
                out.put_slice(payload);
                out.put_u8(b'\n');
            }
            Framing::Length => {
                if new_group {
                    out.put_u32(0);
                }
                out.put_u32(payload.len() as u32);
                out.put_slice(payload);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(d: &mut Decoder) -> Vec<Record> {
        let mut v = Vec::new();
        while let Some(r) = d.poll().expect("valid") {
            v.push(r);
        }
        if let Some(r) = d.finish().expect("valid") {
            v.push(r);
        }
        v
    }

    fn obj(s: &str) -> Record {
        Record::Object(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn lines_group_every_n() {
        let mut d = Decoder::new(Framing::Lines, 2, 100);
        d.push(b"a\nb");
        d.push(b"\nc\n\nlast");
        let got = all(&mut d);
        assert_eq!(
            got,
            vec![
                obj("a"),
                obj("b"),
                Record::NewGroup,
                obj("c"),
                obj(""),
                Record::NewGroup,
                obj("last")
            ]
        );
    }

    #[test]
    fn long_line_refused() {
        let mut d = Decoder::new(Framing::Lines, 1, 4);
        d.push(b"12345");
        assert!(matches!(d.poll(), Err(FramingError::TooLong { .. })));
    }

    #[test]
    fn length_round_trip() {
        let mut wire = Vec::new();
        let mut e = Encoder::new(Framing::Length);
        e.encode(7, b"one", &mut wire);
        e.encode(7, b"two", &mut wire);
        e.encode(8, b"three", &mut wire);
        let mut d = Decoder::new(Framing::Length, 1, 100);
        for b in wire.chunks(3) {
            d.push(b);
        }
        let got = all(&mut d);
        assert_eq!(
            got,
            vec![obj("one"), obj("two"), Record::NewGroup, obj("three")]
        );
        let mut d = Decoder::new(Framing::Length, 1, 100);
        d.push(&[0, 0, 0, 5, b'x']);
        assert_eq!(d.poll(), Ok(None));
        assert_eq!(d.finish(), Err(FramingError::Truncated(5)));
    }
}
