//! The RTP times of a join's burst: the current group's frames so far, sent at once so that the
//! viewer's first picture is the newest. Pure.
//!
//! Each frame is timed at the moment it is expected to reach the viewer at the send rate, the
//! newest at its own place: the player sees a stream whose clock runs at its nominal rate
//! against arrival, delayed by the burst's delivery time, and plays the burst as it comes.
//! (Frames squeezed one tick apart but arriving spread over the burst's delivery made
//! Chromium's timing hold every later frame until the next keyframe: a freeze of up to a GOP.)

use std::time::Duration;

/// One frame's time: its RTP time (unwrapped) and how long before the newest frame's wall
/// clock it is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timed {
    /// Its RTP time, unwrapped.
    pub rtp: i64,
    /// How long before the newest frame it is due.
    pub before: Duration,
}

/// The times of frames of `bytes` each, the newest at RTP time `end` (moved later if the
/// frames would not fit after `last`, the last RTP time written), sent at `rate` bits per
/// second on a `clock` Hz RTP clock. Each is at least one tick after the one before.
pub(crate) fn burst(
    bytes: &[usize],
    end: i64,
    last: Option<i64>,
    clock: u32,
    rate: u64,
) -> Vec<Timed> {
    let n = bytes.len();
    if n == 0 {
        return Vec::new();
    }
    let rate = rate.max(1) as f64 / 8.0;
    let total: usize = bytes.iter().sum();
    let clock = f64::from(clock.max(1));
    // Seconds from each frame's arrival to the newest's.
    let mut sent = 0usize;
    let backs: Vec<f64> = bytes
        .iter()
        .map(|b| {
            sent += b;
            (total - sent) as f64 / rate
        })
        .collect();
    // The oldest frame must come after the last written, every frame a tick after the one
    // before: `end` moves later as far as that needs.
    let ticks = |back: f64| (back * clock).round() as i64;
    let first = ticks(backs[0]).max(n as i64 - 1);
    let end = match last {
        Some(last) if end - first <= last => last + 1 + first,
        _ => end,
    };
    let mut out: Vec<Timed> = Vec::with_capacity(n);
    for (k, back) in backs.iter().enumerate() {
        let room = (n - 1 - k) as i64;
        let mut rtp = (end - ticks(*back)).min(end - room);
        if let Some(prev) = out.last() {
            rtp = rtp.max(prev.rtp + 1);
        }
        out.push(Timed {
            rtp,
            before: Duration::from_secs_f64(*back),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_timed_at_their_arrival_the_newest_in_its_place() {
        // A 100 kB keyframe and four 10 kB frames at 1.12 Mbit/s (140 kB/s): the keyframe
        // arrives 0.29 s before the newest, each next 71 ms later.
        let t = burst(
            &[100_000, 10_000, 10_000, 10_000, 10_000],
            900_000,
            None,
            90_000,
            1_120_000,
        );
        let rtp: Vec<i64> = t.iter().map(|t| t.rtp).collect();
        assert_eq!(rtp, vec![874_286, 880_714, 887_143, 893_571, 900_000]);
        assert_eq!(t[0].before, Duration::from_secs_f64(40_000.0 / 140_000.0));
        assert_eq!(t[4].before, Duration::ZERO);
        // The clock runs at its rate against arrival: 90 kHz.
        let gap = (rtp[2] - rtp[1]) as f64 / (t[1].before - t[2].before).as_secs_f64();
        assert!((gap - 90_000.0).abs() < 100.0, "{gap}");
    }

    #[test]
    fn the_burst_comes_after_what_was_written_and_never_goes_back() {
        // The last frame written is at 899_990: the burst moves later to follow it.
        let t = burst(
            &[1000, 1000, 1000],
            900_000,
            Some(899_990),
            90_000,
            8_000_000,
        );
        assert!(t[0].rtp > 899_990, "{t:?}");
        assert!(t.windows(2).all(|w| w[1].rtp > w[0].rtp), "{t:?}");
        // Tiny frames at a high rate: a tick apart at least, the newest at its place.
        let t = burst(&[1, 1, 1, 1], 1000, None, 90_000, 1_000_000_000);
        assert_eq!(
            t.iter().map(|t| t.rtp).collect::<Vec<_>>(),
            vec![997, 998, 999, 1000]
        );
        assert!(burst(&[], 5, None, 90_000, 1).is_empty());
    }
}
