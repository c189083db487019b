//! One track's objects into a [`MediaPlaylist`] and the bytes it names. Sans-IO: the driver
//! hands in the track's deliveries in order, its init segments as the catalog gives them, and
//! the time; it serves the playlist and the bytes.
//!
//! - A Media Segment is a group; a group that would round above the Target Duration is split
//!   at an object boundary into several segments (only the first starts with a keyframe).
//! - A Partial Segment is consecutive objects (each one CMAF chunk, `moof` + `mdat`, of one
//!   frame) until the next would take it past the Part Target Duration; it is cut as soon as
//!   a frame like the last would (one frame earlier than waiting for that frame), at the end
//!   of its group, or when the track stalls with at least 85% of a part. Its bytes are its chunks' concatenation, and it is
//!   `INDEPENDENT=YES` when its first chunk starts with a sync sample (a video group's first
//!   object, the keyframe; every audio frame).
//! - `EXT-X-PROGRAM-DATE-TIME` is the segment's first chunk's `prft` stamp (the publisher's
//!   wall clock), left out where it does not come after the last dated segment's; a new init
//!   section (a publisher that reconnected with other parameters) is an
//!   `EXT-X-DISCONTINUITY` and a new `EXT-X-MAP`. Init sections are numbered by a hash of their
//!   bytes, so their URIs are stable and cacheable.
//! - A group that ends incomplete (reset, lag, a gap in its objects) ends its segment with what
//!   it has; a group joined after its start is skipped (it does not start with a keyframe).
//! - Media Sequence Numbers start at the first group's ID ÷ 100 (group IDs are milliseconds of
//!   the broadcast's time line), so a segmenter started again later does not reuse the numbers
//!   (and an HTTP cache's copies) of an earlier one.
//!
//! Bytes are kept for the segments of the window only, and at most `max_bytes` of them. Which
//! objects each complete segment holds is remembered longer ([`Segmenter::known_span`]): the
//! driver fetches them from the node for a segment whose bytes are gone.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::chunk::{ChunkTiming, read_chunk};
use super::config::MAX_FIRST_MSN;
use super::playlist::{
    ConfigError, MediaPlaylist, Part, PlaylistConfig, SegmentStart, fits_target,
};
use super::store::{Span, Store};

/// Init sections kept at most (the window's and the current one).
const MAX_INITS: usize = 8;
/// Segments remembered after they left the window (their objects, not their bytes): a
/// request for one is answered by a FETCH of its objects.
pub const HISTORY: usize = 512;

/// An init section (`EXT-X-MAP`).
#[derive(Clone, Debug)]
struct Init {
    id: u64,
    bytes: Bytes,
    timescale: u32,
}

/// The objects of the part being built.
#[derive(Debug, Default)]
struct Pending {
    chunks: Vec<Bytes>,
    duration: u64,
    independent: bool,
    last: u64,
    /// When its last object came.
    arrived: Option<Instant>,
    /// Its first chunk's publish stamp, Unix milliseconds.
    published: Option<i64>,
    /// Its group and first object.
    group: u64,
    first: u64,
}

/// One track's segmenter. See the [module](self) documentation.
#[derive(Debug)]
pub struct Segmenter {
    playlist: MediaPlaylist,
    /// No segment yet: the first object's group sets the first Media Sequence Number.
    fresh: bool,
    init: Option<Init>,
    inits: VecDeque<Init>,
    discontinuity: bool,
    /// The group being read and the object expected next.
    group: Option<(u64, u64)>,
    /// The start of the segment the next part opens, if it opens one.
    next_start: Option<SegmentStart>,
    pending: Pending,
    store: Store,
    version: u64,
    dropped: u64,
    /// The objects of the complete segments of the window and of the last [`HISTORY`] that
    /// left it, by Media Sequence Number (consecutive).
    history: VecDeque<(u64, Span)>,
}

/// The id of an init section: a hash of its bytes.
fn init_id(bytes: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish() >> 1
}

impl Segmenter {
    /// A segmenter whose playlist has `config` (its timescale is the playlist's, whatever the
    /// track's), keeping at most `max_bytes` of media.
    pub fn new(config: PlaylistConfig, max_bytes: usize) -> Result<Self, ConfigError> {
        Ok(Self {
            playlist: MediaPlaylist::new(config)?,
            fresh: true,
            init: None,
            inits: VecDeque::new(),
            discontinuity: false,
            group: None,
            next_start: None,
            pending: Pending::default(),
            store: Store::new(max_bytes),
            version: 0,
            dropped: 0,
            history: VecDeque::new(),
        })
    }

    /// The playlist.
    pub fn playlist(&self) -> &MediaPlaylist {
        &self.playlist
    }

    /// Counts changes of the playlist: waiters compare it.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Objects dropped: malformed, joined mid-group, or cut into parts the playlist refused.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The init section in effect: its id and bytes.
    pub fn current_init(&self) -> Option<(u64, Bytes)> {
        self.init.as_ref().map(|i| (i.id, i.bytes.clone()))
    }

    /// Init section `id`, if kept.
    pub fn init(&self, id: u64) -> Option<Bytes> {
        self.inits
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.bytes.clone())
    }

    /// The track's init section is `bytes`, its media in `timescale` ticks. A change (not the
    /// first) starts a new segment after a discontinuity, at the next group.
    pub fn handle_init(&mut self, bytes: Bytes, timescale: u32) {
        let id = init_id(&bytes);
        if self.init.as_ref().is_some_and(|i| i.id == id) {
            return;
        }
        if self.init.is_some() {
            self.end_segment();
            self.group = None;
            self.discontinuity = true;
        }
        let init = Init {
            id,
            bytes,
            timescale: timescale.max(1),
        };
        self.inits.retain(|i| i.id != id);
        self.inits.push_back(init.clone());
        self.init = Some(init);
        self.trim_inits();
    }

    /// Object `object` of group `group`, a CMAF chunk, arrived at `now`.
    pub fn handle_object(&mut self, group: u64, object: u64, payload: Bytes, now: Instant) {
        let Some(timing) = read_chunk(&payload) else {
            self.dropped += 1;
            self.break_group();
            return;
        };
        let Some(init) = &self.init else {
            self.dropped += 1;
            return;
        };
        let timescale = self.playlist.config().timescale;
        let duration = rescale(timing.duration, init.timescale, timescale);
        match self.group {
            Some((g, next)) if g == group => {
                if object != next {
                    self.dropped += 1;
                    self.break_group();
                    return;
                }
            }
            _ => {
                self.end_segment();
                if object != 0 {
                    // Joined after the group's start, or a new group's start lost.
                    self.dropped += 1;
                    self.group = None;
                    return;
                }
                if self.fresh {
                    self.fresh = false;
                    let mut config = self.playlist.config().clone();
                    config.first_msn = (group / 100).min(MAX_FIRST_MSN);
                    if let Ok(playlist) = MediaPlaylist::new(config) {
                        self.playlist = playlist;
                    }
                }
                self.group = Some((group, 0));
                self.start_segment(&timing);
            }
        }
        self.group = Some((group, object.saturating_add(1)));

        let part_target = self.part_target();
        if !self.pending.chunks.is_empty() && self.pending.duration + duration > part_target {
            self.flush_part();
        }
        let in_segment = self.playlist.in_progress().map_or(0, |s| s.duration);
        let total = in_segment + self.pending.duration + duration;
        let started = in_segment > 0 || !self.pending.chunks.is_empty();
        if started && !fits_target(total, self.playlist.config()) {
            // The group is longer than the Target Duration: a new segment from here.
            self.end_segment();
            self.start_segment(&timing);
        }
        if self.pending.chunks.is_empty() {
            self.pending.independent = timing.sync;
            self.pending.published = unix_millis(&timing);
            self.pending.group = group;
            self.pending.first = object;
        }
        self.pending.chunks.push(payload);
        self.pending.duration += duration;
        self.pending.last = duration;
        self.pending.arrived = Some(now);
        if self.pending.duration + self.pending.last > part_target {
            self.flush_part();
        }
    }

    /// Group `group` ended whole: its last part and its segment are complete.
    pub fn handle_finish(&mut self, group: u64) {
        if self.group.is_some_and(|(g, _)| g == group) {
            self.end_segment();
        }
    }

    /// Group `group` ended incomplete: its segment ends with what it has.
    pub fn handle_reset(&mut self, group: u64) {
        if self.group.is_some_and(|(g, _)| g == group) {
            self.break_group();
        }
    }

    /// The track ended: `EXT-X-ENDLIST`.
    pub fn handle_end(&mut self) {
        self.end_segment();
        self.playlist.end();
        self.version += 1;
    }

    /// When the part being built is cut if no object comes first: a Part Target Duration after
    /// its last object came (the track stalled).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let arrived = self.pending.arrived?;
        Some(arrived + Duration::from_millis(u64::from(self.playlist.config().part_target_ms)))
    }

    /// The time is `now`: a stalled part is cut if it is long enough to be followed by another
    /// (85% of the Part Target Duration). A shorter one waits for more objects or the end of its
    /// group, even if independent: strict validators (hls-parser) refuse any short part but a
    /// segment's last, and objects that come late in a burst are not a stall.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|at| now >= at)
            && self.pending.duration * 100 >= self.part_target() * 85
        {
            self.flush_part();
        }
    }

    /// The bytes of part `index` of segment `msn`, if listed and kept.
    pub fn part(&self, msn: u64, index: u32) -> Option<Bytes> {
        self.store.part(msn, index)
    }

    /// The bytes of complete segment `msn`, if kept: its parts, concatenated.
    pub fn segment(&self, msn: u64) -> Option<Bytes> {
        if self.playlist.in_progress().is_some_and(|s| s.msn == msn) {
            return None;
        }
        self.store.segment(msn)
    }

    /// The objects part `index` of segment `msn` holds, if listed and kept.
    pub fn part_span(&self, msn: u64, index: u32) -> Option<Span> {
        self.store.part_span(msn, index)
    }

    /// The objects of segment `msn` (its parts' so far), if kept.
    pub fn segment_span(&self, msn: u64) -> Option<Span> {
        self.store.segment_span(msn)
    }

    /// The objects of complete segment `msn`, if it is remembered: a segment of the window or
    /// one of the last [`HISTORY`] that left it (their bytes may be gone: a FETCH of these
    /// objects gets them again from the node).
    pub fn known_span(&self, msn: u64) -> Option<Span> {
        let first = self.history.front()?.0;
        let (at, span) = *self
            .history
            .get(usize::try_from(msn.checked_sub(first)?).ok()?)?;
        (at == msn).then_some(span)
    }

    /// Segment `msn` was completed: its objects are remembered.
    fn closed(&mut self, msn: u64) {
        let Some(span) = self.store.segment_span(msn) else {
            return;
        };
        if self.history.back().is_some_and(|(last, _)| last + 1 != msn) {
            // Numbers that do not follow on (never within one playlist): start again.
            self.history.clear();
        }
        self.history.push_back((msn, span));
        let keep = self.playlist.segments().len() + HISTORY;
        while self.history.len() > keep {
            self.history.pop_front();
        }
    }

    /// The oldest group whose objects are kept.
    pub fn oldest_group(&self) -> Option<u64> {
        self.store.oldest_group()
    }

    /// The Part Target Duration in ticks.
    fn part_target(&self) -> u64 {
        let config = self.playlist.config();
        u64::from(config.part_target_ms) * u64::from(config.timescale) / 1000
    }

    /// The next part opens a segment starting with this chunk.
    fn start_segment(&mut self, timing: &ChunkTiming) {
        self.next_start = Some(SegmentStart {
            discontinuity: std::mem::take(&mut self.discontinuity),
            program_date_time: unix_millis(timing),
            init: self.init.as_ref().map_or(0, |i| i.id),
        });
    }

    /// The group cannot go on: its segment ends, and the next group is waited for.
    fn break_group(&mut self) {
        self.end_segment();
        self.group = None;
    }

    /// Cuts the part being built and completes the segment in progress.
    fn end_segment(&mut self) {
        self.flush_part();
        if self.playlist.in_progress().is_some()
            && let Ok(msn) = self.playlist.close()
        {
            self.closed(msn);
            self.version += 1;
            self.trim();
        }
        if let Some(start) = self.next_start.take() {
            // A segment that never got a part: its discontinuity still comes.
            self.discontinuity |= start.discontinuity;
        }
    }

    /// Appends the part being built to the playlist and keeps its bytes.
    fn flush_part(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if pending.chunks.is_empty() {
            return;
        }
        if pending.duration == 0 {
            self.dropped += pending.chunks.len() as u64;
            return;
        }
        let part = Part {
            duration: pending.duration,
            independent: pending.independent,
        };
        let mut pushed = self.push(part);
        if pushed.is_none() && self.playlist.in_progress().is_some() {
            // Refused after the parts before it (a short part before it, a segment too
            // long): it opens a segment of its own.
            let start = self.playlist.in_progress().map(|s| SegmentStart {
                discontinuity: false,
                program_date_time: pending.published,
                init: s.start.init,
            });
            if let Ok(msn) = self.playlist.close() {
                self.closed(msn);
                self.trim();
            }
            self.next_start = start;
            pushed = self.push(part);
        }
        let Some((msn, index)) = pushed else {
            self.dropped += pending.chunks.len() as u64;
            return;
        };
        let span = Span {
            group: pending.group,
            first: pending.first,
            count: pending.chunks.len() as u64,
        };
        self.store.push(msn, index, span, &pending.chunks);
        self.version += 1;
        self.trim();
    }

    /// Opens the segment due, if any, and pushes `part`.
    fn push(&mut self, part: Part) -> Option<(u64, u32)> {
        if let Some(start) = self.next_start.take() {
            if self.playlist.open(self.dated(start)).is_err() {
                return None;
            }
        } else if self.playlist.in_progress().is_none() {
            return None;
        }
        self.playlist.push_part(part).ok()
    }

    /// `start` without its date if that does not come after the last dated segment's (a
    /// publisher's clock that went back): a playlist never says time went back, and a client
    /// counts on from the durations where a segment has no date.
    fn dated(&self, mut start: SegmentStart) -> SegmentStart {
        let last = self
            .playlist
            .segments()
            .chain(self.playlist.in_progress())
            .rev()
            .find_map(|s| s.start.program_date_time);
        if let (Some(last), Some(at)) = (last, start.program_date_time)
            && at <= last
        {
            start.program_date_time = None;
        }
        start
    }

    /// Drops the bytes of segments that left the window, and the oldest beyond `max_bytes`.
    fn trim(&mut self) {
        self.store.trim(self.playlist.first_msn());
        self.trim_inits();
    }

    /// Keeps the init sections the window names, and the current one.
    fn trim_inits(&mut self) {
        let current = self.init.as_ref().map(|i| i.id);
        let named: Vec<u64> = self
            .playlist
            .segments()
            .chain(self.playlist.in_progress())
            .map(|s| s.start.init)
            .collect();
        self.inits
            .retain(|i| Some(i.id) == current || named.contains(&i.id));
        while self.inits.len() > MAX_INITS {
            self.inits.pop_front();
        }
    }
}

/// A chunk's publish stamp in Unix milliseconds.
fn unix_millis(timing: &ChunkTiming) -> Option<i64> {
    timing
        .published
        .and_then(|micros| i64::try_from(micros / 1000).ok())
}

/// `ticks` of `from` in `to` ticks, rounded down.
fn rescale(ticks: u64, from: u32, to: u32) -> u64 {
    if from == to {
        return ticks;
    }
    let value = u128::from(ticks) * u128::from(to) / u128::from(from.max(1));
    u64::try_from(value).unwrap_or(u64::MAX)
}
