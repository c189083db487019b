//! What the segmenter needs of one CMAF chunk (`prft` + `moof` + `mdat`, one object of a
//! track): its decode time (`tfdt`), its duration (the `trun` sample durations, else the
//! `tfhd` default), whether it starts with a sync sample, and its publish stamp (`prft`).
//!
//! Pure and bounded: boxes are walked by their declared sizes within the slice, never past
//! it; a chunk that does not parse is `None`.

/// The timing of one CMAF chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkTiming {
    /// The decode time of its first sample (`tfdt`), in its track's timescale.
    pub decode_time: u64,
    /// The sum of its samples' durations, in its track's timescale (0 when none is given).
    pub duration: u64,
    /// Its first sample is a sync sample (as `trun` or `tfhd` flags say; true when neither
    /// does).
    pub sync: bool,
    /// The wall-clock time it was published (`prft`), Unix microseconds.
    pub published: Option<u64>,
}

/// The most samples one chunk's `trun`s are read for.
const MAX_SAMPLES: u32 = 4096;

/// A box: its type and body, and the rest after it.
fn next_box(data: &[u8]) -> Option<([u8; 4], &[u8], &[u8])> {
    let size = u32::from_be_bytes(data.get(0..4)?.try_into().ok()?);
    let kind: [u8; 4] = data.get(4..8)?.try_into().ok()?;
    let (header, size) = match size {
        0 => (8, data.len()),
        1 => {
            let large = u64::from_be_bytes(data.get(8..16)?.try_into().ok()?);
            (16, usize::try_from(large).ok()?)
        }
        n => (8, usize::try_from(n).ok()?),
    };
    if size < header {
        return None;
    }
    let body = data.get(header..size)?;
    Some((kind, body, data.get(size..)?))
}

/// The boxes of `data`, in order, until one does not parse.
fn boxes(mut data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let (kind, body, rest) = next_box(data)?;
        data = rest;
        Some((kind, body))
    })
}

/// A cursor over a box body.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*head))
    }
    fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_be_bytes(*head))
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.0 = self.0.get(n..)?;
        Some(())
    }
}

/// Sample flags' `sample_is_non_sync_sample` bit.
const NON_SYNC: u32 = 0x0001_0000;

/// Reads the timing of a chunk's first track fragment.
pub fn read_chunk(chunk: &[u8]) -> Option<ChunkTiming> {
    let mut timing = ChunkTiming {
        published: tern_cmaf::mux::read_prft(chunk).map(|(_, micros, _)| micros),
        sync: true,
        ..ChunkTiming::default()
    };
    let (_, moof) = boxes(chunk).find(|(kind, _)| kind == b"moof")?;
    let (_, traf) = boxes(moof).find(|(kind, _)| kind == b"traf")?;
    let mut default_duration = 0u32;
    let mut default_flags = None;
    let mut tfdt = None;
    for (kind, body) in boxes(traf) {
        match &kind {
            b"tfhd" => {
                let mut r = Reader(body);
                let flags = r.u32()? & 0x00ff_ffff;
                r.skip(4)?; // track_ID
                if flags & 0x01 != 0 {
                    r.skip(8)?; // base_data_offset
                }
                if flags & 0x02 != 0 {
                    r.skip(4)?; // sample_description_index
                }
                if flags & 0x08 != 0 {
                    default_duration = r.u32()?;
                }
                if flags & 0x10 != 0 {
                    r.skip(4)?; // default_sample_size
                }
                if flags & 0x20 != 0 {
                    default_flags = Some(r.u32()?);
                }
            }
            b"tfdt" => {
                let mut r = Reader(body);
                let version = r.u32()? >> 24;
                tfdt = Some(if version == 1 {
                    r.u64()?
                } else {
                    u64::from(r.u32()?)
                });
            }
            b"trun" => {
                let mut r = Reader(body);
                let (first_trun, flags) = (timing.duration == 0, r.u32()? & 0x00ff_ffff);
                let count = r.u32()?.min(MAX_SAMPLES);
                if flags & 0x01 != 0 {
                    r.skip(4)?; // data_offset
                }
                let first_flags = if flags & 0x04 != 0 {
                    Some(r.u32()?)
                } else {
                    None
                };
                for index in 0..count {
                    let duration = if flags & 0x100 != 0 {
                        r.u32()?
                    } else {
                        default_duration
                    };
                    if flags & 0x200 != 0 {
                        r.skip(4)?;
                    }
                    let sample_flags = if flags & 0x400 != 0 {
                        Some(r.u32()?)
                    } else {
                        None
                    };
                    if flags & 0x800 != 0 {
                        r.skip(4)?;
                    }
                    if first_trun && index == 0 {
                        let flags = first_flags.or(sample_flags).or(default_flags);
                        timing.sync = flags.is_none_or(|f| f & NON_SYNC == 0);
                    }
                    timing.duration = timing.duration.saturating_add(u64::from(duration));
                }
            }
            _ => {}
        }
    }
    timing.decode_time = tfdt?;
    Some(timing)
}
