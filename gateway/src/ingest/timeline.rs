//! A publisher's timestamps onto its broadcast's time line.
//!
//! Encoders stamp media with clocks of their own: MPEG-TS starts anywhere in its 33-bit range,
//! FLV at zero or wherever a reconnect left it, RTP at a random offset. A broadcast's media time
//! must instead run forward for as long as the broadcast lives, across its publisher's
//! reconnects, because its group IDs are made from it and viewers (and the node's cache) hold
//! on to both. A [`Timeline`] maps one publisher session's decode times onto the broadcast's:
//! the session's first sample lands where the broadcast's last session ended plus the wall
//! time the publisher was away, and a jump in the source's clock (an encoder restart, a wrap
//! that was not unwrapped) is cut out, the media continuing one frame after the last sample.
//! Sans-IO: `now` comes in.

use std::time::{Duration, Instant};

use tern_cmaf::Sample;

/// A source timestamp further than this from the last sample of its track is a jump.
pub const MAX_JUMP: Duration = Duration::from_secs(10);

/// Where a broadcast's media time stood when its last publisher session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The group ID base of the broadcast (kept across sessions: group IDs are this plus the
    /// media time in milliseconds).
    pub group_base: u64,
    /// The media time the session reached (end of its last sample), in microseconds.
    pub end_us: u64,
    /// When it ended.
    pub at: Instant,
}

impl Resume {
    /// Where a session starting at `now` begins: the media time reached plus the time the
    /// publisher was away (so media time keeps pace with the wall clock).
    pub fn start_us(&self, now: Instant) -> u64 {
        let away = now.saturating_duration_since(self.at).as_micros();
        self.end_us
            .saturating_add(u64::try_from(away).unwrap_or(u64::MAX))
    }
}

/// Per track: the last mapped decode time and duration (in the track's timescale).
#[derive(Debug, Clone, Copy)]
struct Last {
    track: u32,
    dts: u64,
    duration: u32,
}

/// One publisher session's mapping of source decode times onto its broadcast's media time.
#[derive(Debug)]
pub struct Timeline {
    /// Where the session's first sample lands, in microseconds.
    start_us: u64,
    /// Broadcast time minus source time, in microseconds, once the first sample set it.
    offset_us: Option<i128>,
    last: Vec<Last>,
    /// Furthest end of any mapped sample, in microseconds.
    end_us: u64,
    jumps: u64,
}

fn to_us(ticks: u64, timescale: u32) -> i128 {
    i128::from(ticks) * 1_000_000 / i128::from(timescale.max(1))
}

/// Microseconds in `timescale` ticks, rounded to the nearest.
fn us_to_ticks(us: i128, timescale: u32) -> i128 {
    let ts = i128::from(timescale.max(1));
    (us * ts + us.signum() * 500_000) / 1_000_000
}

impl Timeline {
    /// A session whose first sample lands at `start_us` of the broadcast's media time: zero for
    /// a new broadcast, [`Resume::start_us`] for one its publisher comes back to.
    pub fn new(start_us: u64) -> Self {
        Self {
            start_us,
            offset_us: None,
            last: Vec::new(),
            end_us: start_us,
            jumps: 0,
        }
    }

    /// Rewrite `sample`'s decode time onto the broadcast's time line. Decode times stay
    /// increasing per track; the composition offset is the source's.
    pub fn map(&mut self, sample: &mut Sample) {
        let ts = sample.timescale;
        let offset = *self
            .offset_us
            .get_or_insert(i128::from(self.start_us) - to_us(sample.dts, ts));
        // The offset in this track's ticks: every sample of the track moves by the same whole
        // number of ticks.
        let mapped = |offset: i128| {
            let dts = i128::from(sample.dts) + us_to_ticks(offset, ts);
            u64::try_from(dts.max(0)).unwrap_or(u64::MAX)
        };
        let mut dts = mapped(offset);
        if let Some(last) = self.last.iter().find(|l| l.track == sample.track) {
            let expected = last.dts.saturating_add(u64::from(last.duration));
            let gap_us = to_us(dts, ts) - to_us(expected, ts);
            if dts <= last.dts || gap_us.unsigned_abs() > MAX_JUMP.as_micros() {
                // The source's clock jumped (or went back): continue one frame after the last
                // sample, and move every track by the same amount so they stay in sync.
                self.jumps += 1;
                let shift = to_us(expected, ts) - to_us(dts, ts);
                self.offset_us = Some(offset + shift);
                dts = expected;
            }
        }
        sample.dts = dts;
        match self.last.iter_mut().find(|l| l.track == sample.track) {
            Some(l) => {
                l.dts = dts;
                l.duration = sample.duration;
            }
            None => self.last.push(Last {
                track: sample.track,
                dts,
                duration: sample.duration,
            }),
        }
        let end = to_us(dts.saturating_add(u64::from(sample.duration)), ts);
        self.end_us = self.end_us.max(u64::try_from(end).unwrap_or(u64::MAX));
    }

    /// The media time reached: the end of the furthest sample mapped, in microseconds.
    pub fn end_us(&self) -> u64 {
        self.end_us
    }

    /// How many jumps of the source's clock were cut out.
    pub fn jumps(&self) -> u64 {
        self.jumps
    }

    /// Whether any sample was mapped.
    pub fn started(&self) -> bool {
        self.offset_us.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn sample(track: u32, dts: u64, duration: u32, timescale: u32) -> Sample {
        Sample {
            track,
            dts,
            duration,
            cts_offset: 0,
            keyframe: true,
            timescale,
            data: Bytes::new(),
        }
    }

    #[test]
    fn a_session_starts_where_it_is_told_and_tracks_keep_their_distance() {
        let mut t = Timeline::new(5_000_000);
        let mut v = sample(1, 900_000 * 90, 3000, 90_000); // 900 s at 90 kHz
        t.map(&mut v);
        assert_eq!(v.dts, 5 * 90_000);
        // Audio 100 ms later in the source is 100 ms later on the broadcast's time line.
        let mut a = sample(2, 900_100 * 48, 1024, 48_000);
        t.map(&mut a);
        assert_eq!(a.dts, 5_100 * 48);
    }

    #[test]
    fn a_jump_of_the_source_clock_continues_one_frame_later_on_every_track() {
        let mut t = Timeline::new(0);
        let mut v = sample(1, 0, 3000, 90_000);
        t.map(&mut v);
        let mut v = sample(1, 3000, 3000, 90_000);
        t.map(&mut v);
        assert_eq!(v.dts, 3000);
        // The encoder restarts its clock far back.
        let mut v = sample(1, 77, 3000, 90_000);
        t.map(&mut v);
        assert_eq!(v.dts, 6000);
        assert_eq!(t.jumps(), 1);
        let mut v = sample(1, 3077, 3000, 90_000);
        t.map(&mut v);
        assert_eq!(v.dts, 9000);
        // And forward by an hour.
        let mut v = sample(1, 3077 + 3600 * 90_000, 3000, 90_000);
        t.map(&mut v);
        assert_eq!(v.dts, 12_000);
        assert_eq!(t.jumps(), 2);
        assert_eq!(t.end_us(), 15_000 * 1_000_000 / 90_000);
        // The next frame after the jump follows on exactly.
        let mut v = sample(1, 3077 + 3600 * 90_000 + 3000, 3000, 90_000);
        t.map(&mut v);
        assert_eq!(v.dts, 15_000);
        assert_eq!(t.jumps(), 2);
    }

    #[test]
    fn a_returning_publisher_resumes_after_the_time_it_was_away() {
        let at = Instant::now();
        let r = Resume {
            group_base: 1,
            end_us: 10_000_000,
            at,
        };
        assert_eq!(r.start_us(at + Duration::from_secs(3)), 13_000_000);
        assert_eq!(r.start_us(at), 10_000_000);
    }
}
