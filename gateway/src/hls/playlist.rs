//! One rendition's media playlist window (RFC 8216bis §4.4.3, §4.4.4, §6.2.2): the complete
//! Media Segments still in the window, the segment in progress whose Partial Segments are
//! already listed, and the part hinted next. Durations are integer media time (ticks of the
//! playlist's timescale); the text is written by [`MediaPlaylist::render`].
//!
//! The Target Duration is the config's, for the playlist's whole life (§6.2.1: it MUST NOT
//! change): it is never computed from the segments, and a segment that would round above it is
//! refused when pushed, as is a part longer than the Part Target Duration. Cutting media into
//! segments and parts is the caller's job; this keeps the cuts within the spec's bounds.

use std::collections::VecDeque;

pub use super::config::{
    ConfigError, DEFAULT_PART_TARGET_MS, MAX_FIRST_MSN, MAX_PARTS, MAX_SEGMENTS,
    MAX_TARGET_DURATION, MIN_PART_TARGET_MS, PlaylistConfig, PushError,
};
use super::text::{MAX_PROGRAM_DATE_TIME, hundred_thousandths};

/// What applies to a segment from its first part on: these tags precede the first `EXT-X-PART`
/// of their Parent Segment (§4.4.4.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentStart {
    /// An `EXT-X-DISCONTINUITY` precedes the segment (new timestamps, tracks or encoding).
    pub discontinuity: bool,
    /// The wall-clock time of its first sample (`EXT-X-PROGRAM-DATE-TIME`), Unix milliseconds.
    pub program_date_time: Option<i64>,
    /// The Media Initialization Section it needs: an `EXT-X-MAP` is written where this changes.
    pub init: u64,
}

/// A Partial Segment (`EXT-X-PART`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// Its duration, in ticks of the playlist's timescale.
    pub duration: u64,
    /// It starts with an independent frame (a keyframe; any audio part): `INDEPENDENT=YES`.
    pub independent: bool,
}

/// A Media Segment of the window, complete or in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its Media Sequence Number.
    pub msn: u64,
    /// Its segment-level tags.
    pub start: SegmentStart,
    /// Its duration (the sum of its parts' so far), in ticks.
    pub duration: u64,
    /// Its Partial Segments, in order.
    pub parts: Vec<Part>,
}

/// One rendition's media playlist window. See the [module](self) documentation.
#[derive(Clone, Debug)]
pub struct MediaPlaylist {
    config: PlaylistConfig,
    segments: VecDeque<Segment>,
    open: Option<Segment>,
    next_msn: u64,
    discontinuity_sequence: u64,
    ended: bool,
}

impl MediaPlaylist {
    /// An empty playlist.
    pub fn new(config: PlaylistConfig) -> Result<Self, ConfigError> {
        let target = config.target_duration;
        if !(1..=MAX_TARGET_DURATION).contains(&target) {
            return Err(ConfigError::TargetDuration(target));
        }
        if config.part_target_ms < MIN_PART_TARGET_MS {
            return Err(ConfigError::PartTargetTooShort(config.part_target_ms));
        }
        if u64::from(config.part_target_ms) > u64::from(target) * 1000 {
            return Err(ConfigError::PartTargetTooLong {
                part_target_ms: config.part_target_ms,
                target_duration: target,
            });
        }
        if config.first_msn > MAX_FIRST_MSN {
            return Err(ConfigError::FirstMsn(config.first_msn));
        }
        if config.timescale == 0 {
            return Err(ConfigError::Timescale);
        }
        let min = u64::from(target) * 3;
        if u64::from(config.window) < min {
            return Err(ConfigError::Window {
                window: config.window,
                min,
            });
        }
        Ok(Self {
            next_msn: config.first_msn,
            config,
            segments: VecDeque::new(),
            open: None,
            discontinuity_sequence: 0,
            ended: false,
        })
    }

    /// Its config.
    pub fn config(&self) -> &PlaylistConfig {
        &self.config
    }

    /// Starts segment [`next_msn`](Self::next_msn), closing the one in progress if it has parts
    /// (one without parts is replaced). Returns the new segment's Media Sequence Number.
    pub fn open(&mut self, start: SegmentStart) -> Result<u64, PushError> {
        self.check_start(&start)?;
        if self
            .open
            .as_ref()
            .is_some_and(|open| !open.parts.is_empty())
        {
            self.close()?;
        }
        let msn = self.next_msn;
        self.open = Some(Segment {
            msn,
            start,
            duration: 0,
            parts: Vec::new(),
        });
        Ok(msn)
    }

    /// Appends a part to the segment in progress; returns its Media Sequence Number and Part
    /// Index.
    pub fn push_part(&mut self, part: Part) -> Result<(u64, u32), PushError> {
        if self.ended {
            return Err(PushError::Ended);
        }
        let open = self.open.as_mut().ok_or(PushError::NotOpen)?;
        check_part(&self.config, open, &part)?;
        open.duration += part.duration;
        open.parts.push(part);
        // MAX_PARTS keeps the index far below u32::MAX.
        Ok((open.msn, (open.parts.len() - 1) as u32))
    }

    /// Completes the segment in progress: it gets its `EXTINF` and URI. Returns its Media
    /// Sequence Number.
    pub fn close(&mut self) -> Result<u64, PushError> {
        let open = self.open.take().ok_or(PushError::NotOpen)?;
        if open.parts.is_empty() {
            let msn = open.msn;
            self.open = Some(open);
            return Err(PushError::EmptySegment { msn });
        }
        let msn = open.msn;
        self.segments.push_back(open);
        self.next_msn = msn.saturating_add(1);
        self.trim();
        Ok(msn)
    }

    /// Pushes a whole segment of `parts` (no segment may be in progress): all or nothing.
    pub fn push(&mut self, start: SegmentStart, parts: &[Part]) -> Result<u64, PushError> {
        if let Some(open) = &self.open {
            return Err(PushError::InProgress { msn: open.msn });
        }
        self.check_start(&start)?;
        let msn = self.next_msn;
        if parts.is_empty() {
            return Err(PushError::EmptySegment { msn });
        }
        let mut segment = Segment {
            msn,
            start,
            duration: 0,
            parts: Vec::with_capacity(parts.len()),
        };
        for part in parts {
            check_part(&self.config, &segment, part)?;
            segment.duration += part.duration;
            segment.parts.push(*part);
        }
        self.open = Some(segment);
        self.close()
    }

    /// Ends the playlist (`EXT-X-ENDLIST`): the segment in progress is closed if it has parts,
    /// dropped otherwise; nothing more can be pushed.
    pub fn end(&mut self) {
        if self
            .open
            .as_ref()
            .is_some_and(|open| !open.parts.is_empty())
        {
            let _ = self.close();
        }
        self.open = None;
        self.ended = true;
    }

    /// Whether the playlist has ended.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The complete segments of the window, oldest first.
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &Segment> + ExactSizeIterator + '_ {
        self.segments.iter()
    }

    /// The segment in progress, if one is open.
    pub fn in_progress(&self) -> Option<&Segment> {
        self.open.as_ref()
    }

    /// The Media Sequence Number of the first segment of the window (`EXT-X-MEDIA-SEQUENCE`).
    pub fn first_msn(&self) -> u64 {
        self.segments
            .front()
            .map_or(self.next_msn, |segment| segment.msn)
    }

    /// The Media Sequence Number of the last complete segment, if there is one.
    pub fn last_msn(&self) -> Option<u64> {
        self.segments.back().map(|segment| segment.msn)
    }

    /// The Media Sequence Number of the segment in progress, or of the next one to open.
    pub fn next_msn(&self) -> u64 {
        self.next_msn
    }

    /// The Discontinuity Sequence Number of the first segment (`EXT-X-DISCONTINUITY-SEQUENCE`):
    /// how many `EXT-X-DISCONTINUITY` tags have left the window.
    pub fn discontinuity_sequence(&self) -> u64 {
        self.discontinuity_sequence
    }

    /// Segment `msn`, complete or in progress, if the window holds it.
    pub fn segment(&self, msn: u64) -> Option<&Segment> {
        if let Some(open) = self.open.as_ref().filter(|open| open.msn == msn) {
            return Some(open);
        }
        let first = self.segments.front()?.msn;
        self.segments
            .get(usize::try_from(msn.checked_sub(first)?).ok()?)
    }

    /// Part `index` of segment `msn`, if the window holds it.
    pub fn part(&self, msn: u64, index: u32) -> Option<&Part> {
        self.segment(msn)?.parts.get(usize::try_from(index).ok()?)
    }

    /// The last part listed (Media Sequence Number and Part Index): the `LAST-MSN` and
    /// `LAST-PART` of this rendition's report.
    pub fn last_part(&self) -> Option<(u64, u32)> {
        let segment = match &self.open {
            Some(open) if !open.parts.is_empty() => open,
            _ => self.segments.back()?,
        };
        // MAX_PARTS keeps the index far below u32::MAX; every segment has a part.
        Some((segment.msn, segment.parts.len().saturating_sub(1) as u32))
    }

    /// The part `EXT-X-PRELOAD-HINT` names: the one after the last listed. None once ended.
    pub fn preload_hint(&self) -> Option<(u64, u32)> {
        if self.ended {
            return None;
        }
        Some(match &self.open {
            Some(open) => (open.msn, open.parts.len() as u32),
            None => (self.next_msn, 0),
        })
    }

    fn check_start(&self, start: &SegmentStart) -> Result<(), PushError> {
        if self.ended {
            return Err(PushError::Ended);
        }
        match start.program_date_time {
            Some(ms) if !(0..=MAX_PROGRAM_DATE_TIME).contains(&ms) => Err(PushError::DateTime(ms)),
            _ => Ok(()),
        }
    }

    /// Drops the oldest segments while the rest still fill the window (§6.2.2: never below
    /// three Target Durations, which the window is at least), or while there are more than
    /// [`MAX_SEGMENTS`].
    fn trim(&mut self) {
        let keep = u128::from(self.config.window) * u128::from(self.config.timescale);
        let mut total: u128 = self.segments.iter().map(|s| u128::from(s.duration)).sum();
        while let Some(front) = self.segments.front() {
            let rest = total - u128::from(front.duration);
            if self.segments.len() <= MAX_SEGMENTS && rest < keep {
                break;
            }
            total = rest;
            if front.start.discontinuity {
                self.discontinuity_sequence += 1;
            }
            self.segments.pop_front();
        }
    }
}

/// Whether `part` may be appended to `segment` (§4.4.3.1, §4.4.4.9).
fn check_part(config: &PlaylistConfig, segment: &Segment, part: &Part) -> Result<(), PushError> {
    let (msn, index) = (segment.msn, segment.parts.len());
    let timescale = u128::from(config.timescale);
    let part_target = u128::from(config.part_target_ms) * timescale; // in ticks × 1000
    if part.duration == 0 {
        return Err(PushError::EmptyPart { msn, index });
    }
    if index >= MAX_PARTS {
        return Err(PushError::TooManyParts { msn });
    }
    if u128::from(part.duration) * 1000 > part_target {
        return Err(PushError::PartTooLong {
            msn,
            index,
            duration_ms: to_millis(part.duration, config.timescale),
            part_target_ms: config.part_target_ms,
        });
    }
    if let Some(previous) = segment.parts.last()
        && !previous.independent
        && u128::from(previous.duration) * 100_000 < 85 * part_target
    {
        return Err(PushError::PartTooShort {
            msn,
            index: index - 1,
        });
    }
    let total = segment.duration.saturating_add(part.duration);
    if !fits_target(total, config) {
        return Err(PushError::SegmentTooLong {
            msn,
            duration_ms: to_millis(total, config.timescale),
            target_duration: config.target_duration,
        });
    }
    Ok(())
}

/// Whether a segment of `ticks`, as its `EXTINF` writes it (five decimals) and rounded to the
/// nearest second (halves up), is at most the Target Duration.
pub(crate) fn fits_target(ticks: u64, config: &PlaylistConfig) -> bool {
    hundred_thousandths(ticks, config.timescale)
        < u128::from(config.target_duration) * 100_000 + 50_000
}

fn to_millis(ticks: u64, timescale: u32) -> u64 {
    u64::try_from(u128::from(ticks) * 1000 / u128::from(timescale.max(1))).unwrap_or(u64::MAX)
}
