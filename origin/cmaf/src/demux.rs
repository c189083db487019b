//! A streaming fragmented-MP4 reader: push bytes as they arrive, poll the init segment's tracks
//! and then one [`Sample`] per coded frame.
//!
//! Boxes are refused by their declared size before they are buffered ([`Limits`]); only
//! `ftyp`, `moov`, `moof` and `mdat` are interpreted, anything else at the top level (`styp`,
//! `sidx`, `prft`, `emsg`, `free`, …) is skipped. Sample payloads are slices of the received
//! `mdat` (no copy).
//!
//! A sample whose fragment gives it no duration (ffmpeg writes 0 for the last sample of a
//! fragment it cannot see past, and for every Opus frame with one fragment per frame) is held
//! until the next sample of its track, whose decode time gives the duration: one frame of delay
//! on such tracks only.

use std::collections::{HashMap, VecDeque};

use bytes::{Buf, Bytes, BytesMut};
use mp4_atom::{Decode, Moof, Moov};

use crate::{Error, Sample, TrackInfo};

/// Bounds on what one input may make the reader hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest `moov` accepted.
    pub max_moov: u64,
    /// Largest `moof` or `mdat` accepted (one fragment).
    pub max_fragment: u64,
    /// Largest box skipped without interpretation (it is still read through).
    pub max_other: u64,
    /// Samples one fragment may declare.
    pub max_samples_per_fragment: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_moov: 16 << 20,
            max_fragment: 64 << 20,
            max_other: 64 << 20,
            max_samples_per_fragment: 100_000,
        }
    }
}

/// What the reader found.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The init segment: its audio and video tracks, in `moov` order.
    Init(Vec<TrackInfo>),
    /// One coded frame.
    Sample(Sample),
}

/// The streaming reader.
#[derive(Debug, Default)]
pub struct Demuxer {
    limits: Limits,
    buf: BytesMut,
    seen_ftyp: bool,
    tracks: Vec<TrackInfo>,
    /// A decoded `moof` and its size, waiting for its `mdat`.
    moof: Option<(Moof, u64)>,
    /// Decode time at which each track's next sample starts when a fragment has no `tfdt`.
    next_dts: HashMap<u32, u64>,
    /// Decode time of each track's last sample.
    last_dts: HashMap<u32, u64>,
    out: VecDeque<Event>,
    /// Bytes of a skipped box still to discard.
    skipping: u64,
    /// Per track, a sample without a duration waiting for the next one.
    held: HashMap<u32, Sample>,
    /// Per track, the last duration known good (used for a held sample at the end).
    last_duration: HashMap<u32, u32>,
}

struct Header {
    kind: [u8; 4],
    size: u64,
    header_len: usize,
}

/// Every `sgpd` box in `bytes`, at any depth, has room for the entries it counts: at least
/// one byte each, `default_length` each when version 1 or later gives one (the four bytes of
/// each entry's own length when that is 0).
///
/// mp4-atom 0.17 decodes as many entries as the count says whether or not the box holds
/// them: a 2.8 KB moov whose `sgpd` counted four billion empty entries took 52 s and 24 GB.
/// The scan looks at every place the four bytes `sgpd` appear after something that reads as
/// a box size, a superset of where mp4-atom finds one.
fn check_sample_groups(bytes: &[u8]) -> Result<(), Error> {
    let field = |at: usize, n: usize| -> Option<u64> {
        let b = bytes.get(at..at.checked_add(n)?)?;
        Some(b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    };
    let mut from = 4;
    while let Some(found) = bytes
        .get(from..)
        .and_then(|rest| rest.windows(4).position(|w| w == b"sgpd"))
    {
        let kind_at = from + found;
        from = kind_at + 1;
        let start = kind_at - 4;
        let (size, body) = match field(start, 4) {
            Some(1) => match field(kind_at + 4, 8) {
                Some(large) => (large, kind_at + 12),
                None => continue,
            },
            Some(0) => ((bytes.len() - start) as u64, kind_at + 4),
            Some(size) => (size, kind_at + 4),
            None => continue,
        };
        let Some(end) = usize::try_from(size)
            .ok()
            .and_then(|size| start.checked_add(size))
            .filter(|&end| end <= bytes.len() && end > body)
        else {
            continue; // not a box that fits: mp4-atom refuses it as truncated
        };
        let Some(version) = field(body, 1) else {
            continue;
        };
        let mut at = body + 8; // version, flags, grouping_type
        let default_length = if version >= 1 {
            let Some(l) = field(at, 4) else { continue };
            at += 4;
            Some(l)
        } else {
            None
        };
        if version >= 2 {
            at += 4;
        }
        let Some(entries) = field(at, 4) else {
            continue;
        };
        at += 4;
        let each = match default_length {
            Some(0) => 4,
            Some(l) => l,
            None => 1,
        };
        let room = end.saturating_sub(at) as u64;
        if entries.saturating_mul(each) > room {
            return Err(Error::Malformed {
                kind: "sgpd".into(),
                reason: format!(
                    "{entries} sample group entries of at least {each} bytes in {room} bytes"
                ),
            });
        }
    }
    Ok(())
}

fn kind_str(kind: &[u8; 4]) -> String {
    String::from_utf8_lossy(kind).into_owned()
}

/// Read a box header from the front of `buf`, if complete.
fn header(buf: &[u8]) -> Result<Option<Header>, Error> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let size32 = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let kind = [buf[4], buf[5], buf[6], buf[7]];
    let (size, header_len) = match size32 {
        0 => {
            return Err(Error::Malformed {
                kind: kind_str(&kind),
                reason: "a box that runs to the end of the file cannot be streamed".into(),
            });
        }
        1 => {
            if buf.len() < 16 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[8..16]);
            (u64::from_be_bytes(b), 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header_len as u64 {
        return Err(Error::Malformed {
            kind: kind_str(&kind),
            reason: format!("declared size {size} is smaller than its header"),
        });
    }
    Ok(Some(Header {
        kind,
        size,
        header_len,
    }))
}

impl Demuxer {
    /// A reader with these limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The tracks of the init segment, once read.
    pub fn tracks(&self) -> &[TrackInfo] {
        &self.tracks
    }

    /// Feed bytes; complete boxes are interpreted at once. An error is final: the input is
    /// unusable from here on.
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), Error> {
        if self.skipping > 0 {
            let n = (data.len() as u64).min(self.skipping) as usize;
            self.skipping -= n as u64;
            data = &data[n..];
        }
        self.buf.extend_from_slice(data);
        while let Some(h) = header(&self.buf)? {
            self.check_first(&h)?;
            let limit = match &h.kind {
                b"moov" => self.limits.max_moov,
                b"moof" | b"mdat" => self.limits.max_fragment,
                _ => self.limits.max_other,
            };
            if h.size > limit {
                return Err(Error::TooLarge {
                    kind: kind_str(&h.kind),
                    size: h.size,
                    max: limit,
                });
            }
            if !matches!(&h.kind, b"ftyp" | b"moov" | b"moof" | b"mdat") {
                // Skipped without buffering it whole.
                let have = self.buf.len() as u64;
                if have >= h.size {
                    self.buf.advance(h.size as usize);
                } else {
                    self.skipping = h.size - have;
                    self.buf.clear();
                }
                continue;
            }
            if (self.buf.len() as u64) < h.size {
                return Ok(());
            }
            let whole = self.buf.split_to(h.size as usize).freeze();
            self.on_box(&h, whole)?;
        }
        Ok(())
    }

    /// The input ended: bytes left over mean it was cut inside a box.
    pub fn finish(&mut self) -> Result<(), Error> {
        if self.skipping > 0 {
            return Err(Error::Truncated("(skipped)".into()));
        }
        let mut held: Vec<Sample> = self.held.drain().map(|(_, s)| s).collect();
        held.sort_by_key(|s| s.track);
        for mut s in held {
            s.duration = self.last_duration.get(&s.track).copied().unwrap_or(0);
            self.out.push_back(Event::Sample(s));
        }
        if self.buf.is_empty() && self.moof.is_none() {
            if !self.seen_ftyp {
                return Err(Error::NotMp4("nothing".into()));
            }
            if self.tracks.is_empty() {
                return Err(Error::NotFragmented("the input ended before a moov box"));
            }
            return Ok(());
        }
        if self.buf.len() >= 8 {
            let kind = [self.buf[4], self.buf[5], self.buf[6], self.buf[7]];
            return Err(Error::Truncated(kind_str(&kind)));
        }
        Err(Error::Truncated(if self.moof.is_some() {
            "mdat".into()
        } else {
            "(header)".into()
        }))
    }

    /// The next event.
    pub fn poll(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    fn check_first(&mut self, h: &Header) -> Result<(), Error> {
        if self.seen_ftyp {
            return Ok(());
        }
        if &h.kind == b"ftyp" || &h.kind == b"styp" {
            self.seen_ftyp = true;
            return Ok(());
        }
        let printable = h
            .kind
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b' ');
        if !printable {
            let head: Vec<u8> = self.buf.iter().take(8).copied().collect();
            return Err(Error::NotMp4(format!("{head:02x?}")));
        }
        Err(Error::NotMp4(format!("a '{}' box", kind_str(&h.kind))))
    }

    fn on_box(&mut self, h: &Header, whole: Bytes) -> Result<(), Error> {
        match &h.kind {
            b"ftyp" => {}
            b"moov" => self.on_moov(&whole)?,
            b"moof" => {
                if self.tracks.is_empty() {
                    return Err(Error::NotFragmented("a moof box came before the moov"));
                }
                check_sample_groups(&whole)?;
                let moof = Moof::decode(&mut &whole[..]).map_err(|e| Error::Malformed {
                    kind: "moof".into(),
                    reason: e.to_string(),
                })?;
                self.moof = Some((moof, h.size));
            }
            b"mdat" => {
                if self.tracks.is_empty() {
                    return Err(Error::NotFragmented(
                        "media data (mdat) comes before the moov box: the file is not fragmented",
                    ));
                }
                let Some((moof, moof_size)) = self.moof.take() else {
                    return Err(Error::Malformed {
                        kind: "mdat".into(),
                        reason: "media data without a moof before it".into(),
                    });
                };
                self.on_fragment(&moof, moof_size, whole, h.header_len)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn on_moov(&mut self, whole: &[u8]) -> Result<(), Error> {
        check_sample_groups(whole)?;
        let moov = Moov::decode(&mut &whole[..]).map_err(|e| Error::Malformed {
            kind: "moov".into(),
            reason: e.to_string(),
        })?;
        let Some(mvex) = &moov.mvex else {
            return Err(Error::NotFragmented(
                "the moov box has no mvex: samples live in the file's sample tables",
            ));
        };
        let mut tracks = Vec::new();
        for trak in &moov.trak {
            let trex = mvex.trex.iter().find(|t| t.track_id == trak.tkhd.track_id);
            if let Some(t) = TrackInfo::from_trak(trak, trex)? {
                tracks.push(t);
            }
        }
        if tracks.is_empty() {
            return Err(Error::NoTracks);
        }
        self.tracks = tracks.clone();
        self.out.push_back(Event::Init(tracks));
        Ok(())
    }

    /// Cut one `moof` + `mdat` into samples. Offsets are relative to the start of the `moof`;
    /// `mdat` payload starts at `moof_size + header_len`.
    fn on_fragment(
        &mut self,
        moof: &Moof,
        moof_size: u64,
        mdat: Bytes,
        header_len: usize,
    ) -> Result<(), Error> {
        let bad = |reason: String| Error::Malformed {
            kind: "moof".into(),
            reason,
        };
        let data_start = moof_size + header_len as u64;
        let data_end = moof_size + mdat.len() as u64;
        let mut previous_traf_end = 0u64;
        let mut produced = 0usize;
        for (i, traf) in moof.traf.iter().enumerate() {
            let id = traf.tfhd.track_id;
            let track = self
                .tracks
                .iter()
                .find(|t| t.id == id)
                .ok_or(Error::UnknownTrack(id))?;
            let (timescale, trex) = (track.timescale, track.trex.clone());
            if traf.tfhd.base_data_offset.is_some() {
                return Err(bad(
                    "an absolute base-data-offset cannot be resolved in a stream (use default-base-is-moof)"
                        .into(),
                ));
            }
            let base = if traf.tfhd.default_base_is_moof || i == 0 {
                0
            } else {
                previous_traf_end
            };
            let default_duration = traf
                .tfhd
                .default_sample_duration
                .unwrap_or(trex.default_sample_duration);
            let default_size = traf
                .tfhd
                .default_sample_size
                .unwrap_or(trex.default_sample_size);
            let default_flags = traf
                .tfhd
                .default_sample_flags
                .unwrap_or(trex.default_sample_flags);
            let mut dts = match &traf.tfdt {
                Some(t) => t.base_media_decode_time,
                None => self.next_dts.get(&id).copied().unwrap_or(0),
            };
            // A fragment may start before the previous one's end when a duration was guessed,
            // but never before its last sample.
            if let Some(&last) = self.last_dts.get(&id)
                && dts < last
            {
                return Err(Error::TimeWentBack {
                    track: id,
                    from: last,
                    to: dts,
                });
            }
            let mut offset = base;
            for (r, trun) in traf.trun.iter().enumerate() {
                if let Some(o) = trun.data_offset {
                    offset = base
                        .checked_add_signed(i64::from(o))
                        .ok_or_else(|| bad(format!("data offset {o} points before the moof")))?;
                } else if r == 0 {
                    offset = base;
                }
                produced += trun.samples.len();
                if produced > self.limits.max_samples_per_fragment {
                    return Err(bad(format!(
                        "more than {} samples in one fragment",
                        self.limits.max_samples_per_fragment
                    )));
                }
                for entry in trun.samples.iter() {
                    let size = u64::from(entry.size.unwrap_or(default_size));
                    let end = offset
                        .checked_add(size)
                        .filter(|e| *e <= data_end && offset >= data_start)
                        .ok_or_else(|| {
                            bad(format!(
                                "sample data [{offset}, {}) lies outside its mdat [{data_start}, {data_end})",
                                offset.saturating_add(size)
                            ))
                        })?;
                    let flags = entry.flags.unwrap_or(default_flags);
                    let duration = entry.duration.unwrap_or(default_duration);
                    let cts = entry.cts.unwrap_or(0);
                    let from = (offset - moof_size) as usize;
                    self.emit(Sample {
                        track: id,
                        dts,
                        duration,
                        cts_offset: i32::try_from(cts).unwrap_or(i32::MAX),
                        keyframe: flags & 0x0001_0000 == 0,
                        timescale,
                        data: mdat.slice(from..from + size as usize),
                    });
                    self.last_dts.insert(id, dts);
                    dts = dts.saturating_add(u64::from(duration));
                    offset = end;
                }
            }
            previous_traf_end = offset;
            self.next_dts.insert(id, dts);
        }
        Ok(())
    }

    /// Queue a sample, completing the duration of the one held for its track.
    fn emit(&mut self, sample: Sample) {
        if let Some(mut held) = self.held.remove(&sample.track) {
            match u32::try_from(sample.dts.saturating_sub(held.dts)) {
                Ok(d) if d > 0 => {
                    held.duration = d;
                    self.last_duration.insert(held.track, d);
                }
                // Two samples at one decode time: the input lost a duration; assume the last.
                _ => held.duration = self.last_duration.get(&held.track).copied().unwrap_or(0),
            }
            self.out.push_back(Event::Sample(held));
        }
        if sample.duration == 0 {
            self.held.insert(sample.track, sample);
        } else {
            self.last_duration.insert(sample.track, sample.duration);
            self.out.push_back(Event::Sample(sample));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_mp4() {
        let mut d = Demuxer::default();
        let err = d.push(b"\x47\x40\x11\x10\x00\x42\xf0\x25").unwrap_err();
        assert!(matches!(err, Error::NotMp4(_)), "{err}");
        let mut d = Demuxer::default();
        assert!(matches!(d.finish(), Err(Error::NotMp4(_))));
    }

    #[test]
    fn refuses_a_huge_box_before_buffering_it() {
        let mut d = Demuxer::default();
        d.push(&[
            0, 0, 0, 16, b'f', b't', b'y', b'p', b'i', b's', b'o', b'6', 0, 0, 0, 0,
        ])
        .expect("ftyp");
        let mut huge = vec![0, 0, 0, 1];
        huge.extend_from_slice(b"mdat");
        huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let err = d.push(&huge).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }

    #[test]
    fn media_before_moov_is_not_fragmented() {
        let mut d = Demuxer::default();
        d.push(&[
            0, 0, 0, 16, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0, 0, 0, 0,
        ])
        .expect("ftyp");
        let err = d
            .push(&[0, 0, 0, 12, b'm', b'd', b'a', b't', 1, 2, 3, 4])
            .unwrap_err();
        assert!(matches!(err, Error::NotFragmented(_)), "{err}");
    }

    #[test]
    fn a_cut_stream_is_truncated() {
        let mut d = Demuxer::default();
        d.push(&[0, 0, 0, 16, b'f', b't', b'y', b'p', b'i', b's', b'o'])
            .expect("partial");
        assert_eq!(d.finish(), Err(Error::Truncated("ftyp".into())));
    }
}
