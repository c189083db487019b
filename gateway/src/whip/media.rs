//! WebRTC frames in, the tracks and samples of a broadcast out: what [`crate::publish::Feed`]
//! publishes. Sans-IO: frames and `now` come in, [`Event`]s and keyframe requests go out.
//!
//! - **Tracks.** Each received stream (an m-line, or one `rid` of a simulcast m-line) is a
//!   track, numbered in the order the session announced them. A video track is configured by
//!   its first keyframe (H.264: its SPS and PPS; VP8: the size in its keyframe header), an Opus
//!   track at once. [`Event::Tracks`] comes when every track is configured, or
//!   [`TRACKS_WAIT`] after the first one was, with those that were (a stream that never
//!   delivers does not hold the broadcast back; its frames are dropped afterwards).
//! - **Time.** RTP clocks start at random values, one per stream: each track's first frame is
//!   placed at its arrival time since the session's first frame, and its later frames by their
//!   RTP time from there (90 kHz video, 48 kHz Opus), so the tracks start in sync within the
//!   network's jitter. Each sample's duration is the distance to the track's next frame (one
//!   frame of delay).
//! - **Keyframes.** Browsers' encoders send keyframes only when asked: a keyframe is due when
//!   the last one is [`Limits::keyframe_interval`] old, so groups stay GOP-sized (none is asked
//!   for before a track's first frame, which an encoder makes a keyframe). After a frame
//!   that is not contiguous with the one before (packets lost and not recovered by NACK), the
//!   track's frames are dropped up to the next keyframe, which is asked for at once.
//! - **H.264** samples are the access unit's NAL units length-prefixed, with the parameter sets
//!   of keyframes kept in band (a browser's encoder may change resolution mid-stream; decoders
//!   then reconfigure at the keyframe), access unit delimiters and filler left out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_cmaf::{Sample, TrackInfo};

use crate::codec::h264::{self, Sps, split_annexb};
use crate::codec::length_prefixed;
use crate::ingest::Event;
use crate::ingest::trak;

/// How long after the first configured track the broadcast waits for the others.
pub const TRACKS_WAIT: Duration = Duration::from_secs(2);

/// RTP ticks after a track's first frame past which a frame is refused: 2^40 ticks is over 4
/// months at 90 kHz, so the time line's arithmetic never overflows.
const MAX_AHEAD: u64 = 1 << 40;

/// How soon a keyframe is asked for again while one is awaited.
const RETRY_KEYFRAME: Duration = Duration::from_millis(500);

/// The codecs a WHIP publisher may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// H.264 (RFC 6184), 90 kHz.
    H264,
    /// VP8 (RFC 7741), 90 kHz.
    Vp8,
    /// Opus (RFC 7587), 48 kHz.
    Opus,
}

impl Codec {
    fn video(self) -> bool {
        !matches!(self, Codec::Opus)
    }

    fn clock(self) -> u32 {
        if self.video() { 90_000 } else { 48_000 }
    }
}

/// One depacketised frame of one track.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// The track's index, as announced with [`Media::add_track`].
    pub track: usize,
    /// Its codec.
    pub codec: Codec,
    /// RTP time, extended past 32 bits, in the codec's clock.
    pub rtp_time: u64,
    /// When its first packet arrived.
    pub arrival: Instant,
    /// Whether it is a keyframe.
    pub keyframe: bool,
    /// Whether it follows the track's previous frame without a gap.
    pub contiguous: bool,
    /// Audio channels (Opus: from the SDP's `opus/48000/2`).
    pub channels: u8,
    /// The frame: H.264 in Annex-B, VP8 and Opus as they are.
    pub data: &'a [u8],
}

/// Bounds and the keyframe policy.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Samples held while the tracks are not all known.
    pub max_pending: usize,
    /// Ask for a keyframe when the last one is this old.
    pub keyframe_interval: Duration,
    /// At most this many tracks per session.
    pub max_tracks: usize,
}

impl Default for Limits {
    /// 1,000 samples held, a keyframe every 2 s, 8 tracks.
    fn default() -> Self {
        Self {
            max_pending: 1000,
            keyframe_interval: Duration::from_secs(2),
            max_tracks: 8,
        }
    }
}

/// Why a frame was not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Dropped {
    /// Video before a keyframe, or after a gap until the next keyframe.
    #[error("track {0}: waiting for a keyframe")]
    AwaitingKeyframe(usize),
    /// A keyframe without what configures the track (an H.264 IDR without its SPS/PPS).
    #[error("track {track}: {reason}")]
    Unconfigured {
        /// The track.
        track: usize,
        /// What was missing or wrong.
        reason: String,
    },
    /// A frame older than the track's first, or implausibly far after it.
    #[error("track {0}: a frame from before the track's first, or months after it")]
    Old(usize),
    /// No such track.
    #[error("no track {0}")]
    NoTrack(usize),
}

#[derive(Debug)]
struct Track {
    id: u32,
    video: bool,
    info: Option<TrackInfo>,
    /// RTP time of the first frame, and where it was placed (ticks since the session's start).
    anchor: Option<(u64, u64)>,
    held: Option<Sample>,
    need_key: bool,
    /// Whether any frame came (an encoder's first frame is a keyframe: none is asked for
    /// before the track has started).
    seen: bool,
    last_key: Option<Instant>,
    asked: Option<Instant>,
    last_dts: Option<u64>,
}

/// One WHIP session's media.
#[derive(Debug)]
pub struct Media {
    limits: Limits,
    tracks: Vec<Track>,
    start: Option<Instant>,
    first_ready: Option<Instant>,
    published: bool,
    pending: VecDeque<Sample>,
    out: VecDeque<Event>,
}

impl Media {
    /// A session's media with `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            tracks: Vec::new(),
            start: None,
            first_ready: None,
            published: false,
            pending: VecDeque::new(),
            out: VecDeque::new(),
        }
    }

    /// A track the session will receive (`video` or audio): its index, or `None` past
    /// [`Limits::max_tracks`] or once the tracks are published.
    pub fn add_track(&mut self, video: bool) -> Option<usize> {
        if self.tracks.len() >= self.limits.max_tracks || self.published {
            return None;
        }
        let index = self.tracks.len();
        self.tracks.push(Track {
            id: index as u32 + 1,
            video,
            info: None,
            anchor: None,
            held: None,
            need_key: video,
            seen: false,
            last_key: None,
            asked: None,
            last_dts: None,
        });
        Some(index)
    }

    /// Take one frame.
    pub fn push(&mut self, f: Frame<'_>) -> Result<(), Dropped> {
        let start = *self.start.get_or_insert(f.arrival);
        let Some(t) = self.tracks.get_mut(f.track) else {
            return Err(Dropped::NoTrack(f.track));
        };
        t.seen = true;
        if f.codec.video() {
            if !f.contiguous && !f.keyframe {
                t.need_key = true;
            }
            if f.keyframe {
                t.need_key = false;
                t.last_key = Some(f.arrival);
            } else if t.need_key {
                return Err(Dropped::AwaitingKeyframe(f.track));
            }
        }
        // A track configures itself at its first keyframe, and again when a keyframe says
        // something else (an encoder that adapts its resolution to the network).
        let mut retracked = false;
        if t.info.is_none() || (f.keyframe && f.codec.video()) {
            match configure(t.id, &f) {
                Ok(info) if t.info.as_ref() != Some(&info) => {
                    retracked = t.info.is_some() || self.published;
                    t.info = Some(info);
                    self.first_ready.get_or_insert(f.arrival);
                }
                Ok(_) => {}
                Err(reason) if t.info.is_none() => {
                    t.need_key = true;
                    return Err(Dropped::Unconfigured {
                        track: f.track,
                        reason,
                    });
                }
                // A later keyframe without its parameter sets keeps the configuration.
                Err(_) => {}
            }
        }
        let clock = u64::from(f.codec.clock());
        let (rtp0, base) = *t.anchor.get_or_insert_with(|| {
            let since = f.arrival.saturating_duration_since(start).as_micros() as u64;
            (f.rtp_time, since * clock / 1_000_000)
        });
        // Before the track's first frame, or further after it than any session lasts.
        let ahead = f
            .rtp_time
            .checked_sub(rtp0)
            .filter(|a| *a < MAX_AHEAD)
            .ok_or(Dropped::Old(f.track))?;
        let mut dts = base + ahead;
        if let Some(last) = t.last_dts {
            // Two frames with one RTP time (an encoder's glitch): keep decode order strict.
            dts = dts.max(last + 1);
        }
        t.last_dts = Some(dts);
        let data = match f.codec {
            Codec::H264 => h264_sample(f.data),
            Codec::Vp8 | Codec::Opus => Bytes::copy_from_slice(f.data),
        };
        let sample = Sample {
            track: t.id,
            dts,
            duration: 0,
            cts_offset: 0,
            keyframe: f.keyframe || !f.codec.video(),
            timescale: f.codec.clock(),
            data,
        };
        if let Some(mut prev) = t.held.replace(sample) {
            prev.duration = u32::try_from(dts - prev.dts).unwrap_or(u32::MAX).max(1);
            self.emit(prev);
        }
        if retracked && self.published {
            // The frames of the old configuration are out; the held frame is the new one's.
            self.out.push_back(Event::Tracks(self.infos()));
        }
        self.gate(f.arrival);
        Ok(())
    }

    /// Let time pass: the tracks are published [`TRACKS_WAIT`] after the first was ready.
    pub fn tick(&mut self, now: Instant) {
        self.gate(now);
    }

    /// The tracks whose keyframe is due now (ask the publisher with a PLI).
    pub fn keyframes_due(&mut self, now: Instant) -> Vec<usize> {
        let interval = self.limits.keyframe_interval;
        let mut due = Vec::new();
        for (i, t) in self.tracks.iter_mut().enumerate().filter(|(_, t)| t.video) {
            let awaited = (t.need_key && t.seen) || t.last_key.is_some_and(|k| now >= k + interval);
            let asked_recently = t.asked.is_some_and(|a| now < a + RETRY_KEYFRAME);
            if awaited && !asked_recently {
                t.asked = Some(now);
                due.push(i);
            }
        }
        due
    }

    /// The next event.
    pub fn poll(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    /// The session ended: the samples held for their duration go out, each lasting a thirtieth
    /// of a second (the next frame, which would have told, never comes).
    pub fn flush(&mut self) {
        let held: Vec<Sample> = self
            .tracks
            .iter_mut()
            .filter_map(|t| t.held.take())
            .collect();
        for mut s in held {
            s.duration = (s.timescale / 30).max(1);
            self.emit(s);
        }
    }

    fn emit(&mut self, sample: Sample) {
        if self.published {
            self.out.push_back(Event::Sample(sample));
        } else {
            if self.pending.len() >= self.limits.max_pending {
                self.pending.pop_front();
            }
            self.pending.push_back(sample);
        }
    }

    /// The tracks configured so far (a track that starts later is told with the others then).
    fn infos(&self) -> Vec<TrackInfo> {
        self.tracks.iter().filter_map(|t| t.info.clone()).collect()
    }

    fn gate(&mut self, now: Instant) {
        if self.published || self.tracks.is_empty() {
            return;
        }
        let all = self.tracks.iter().all(|t| t.info.is_some());
        let waited = self.first_ready.is_some_and(|r| now >= r + TRACKS_WAIT);
        if !(all || waited) {
            return;
        }
        self.published = true;
        self.out.push_back(Event::Tracks(self.infos()));
        for s in std::mem::take(&mut self.pending) {
            self.out.push_back(Event::Sample(s));
        }
    }
}

/// The track a frame configures, or what it lacks.
fn configure(id: u32, f: &Frame<'_>) -> Result<TrackInfo, String> {
    match f.codec {
        Codec::Opus => Ok(trak::opus(id, f.channels.clamp(1, 2), 0)),
        Codec::Vp8 => {
            let (w, h) = vp8_size(f.data).ok_or("a VP8 keyframe without its size")?;
            Ok(trak::vp8(id, w, h))
        }
        Codec::H264 => {
            let nals = split_annexb(f.data);
            let sps = nals.iter().find(|n| h264::nal_type(n) == 7);
            let pps = nals.iter().find(|n| h264::nal_type(n) == 8);
            let (Some(sps_nal), Some(pps_nal)) = (sps, pps) else {
                return Err("an H.264 keyframe without its SPS and PPS".into());
            };
            let sps = Sps::parse(sps_nal).map_err(|e| format!("H.264 SPS: {e}"))?;
            Ok(trak::h264(id, &sps, sps_nal, pps_nal))
        }
    }
}

/// An H.264 access unit in Annex-B as an MP4 sample.
fn h264_sample(data: &[u8]) -> Bytes {
    // Access unit delimiters (9) and filler (12) carry nothing a sample needs.
    let nals = split_annexb(data);
    Bytes::from(length_prefixed(&nals, |n| {
        !matches!(h264::nal_type(n), 9 | 12)
    }))
}

/// The size in a VP8 keyframe's header (RFC 6386 §9.1): a 3-byte frame tag, the start code
/// `9d 01 2a`, then 14-bit width and height (each with 2 bits of scaling above).
pub fn vp8_size(frame: &[u8]) -> Option<(u16, u16)> {
    let tag = frame.get(..10)?;
    let keyframe = tag[0] & 1 == 0;
    if !keyframe || tag[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([tag[6], tag[7]]) & 0x3fff;
    let h = u16::from_le_bytes([tag[8], tag[9]]) & 0x3fff;
    (w > 0 && h > 0).then_some((w, h))
}

#[cfg(test)]
mod tests;
