//! [`History`]: how much of its past a [`TrackWriter`](super::TrackWriter) keeps, for late
//! subscribers and FETCH. It is the retention of the writer's own cache (the relay's cache
//! model, `tern_model`), outside any relay's live budget: a time and a byte budget, charged at
//! append and paid by the writer (its oldest groups go first; its newest group always stays).

use std::sync::Arc;
use std::time::Duration;

use tern_model::{CacheBudget, CacheGauge};
use tern_relay_core::track::Track;

/// Bytes the current group may hold when no history is kept.
const CURRENT_GROUP_BYTES: usize = 8 << 20;

/// How long groups are kept when no history is: what a subscriber's writer may still be
/// sending when the next group starts (its delivery timeout), so that ending a group does not
/// cut the tail off a subscriber a little behind.
const IN_FLIGHT: Duration = Duration::from_secs(5);

/// How much of the past a track keeps: completed groups younger than `max_duration`, within
/// `max_bytes` (payloads and a small bookkeeping charge per object). The newest group is
/// always kept (late subscribers start from it); a group larger than `max_bytes` on its own
/// keeps its newest objects only.
///
/// Clones share one byte budget: give every track of a broadcast a clone of one `History` to
/// bound the whole broadcast (each track then evicts its own oldest groups when the shared
/// total is over). The budget can be passed by at most the tracks' current groups.
#[derive(Debug, Clone)]
pub struct History {
    gauge: Arc<CacheGauge>,
}

impl Default for History {
    /// No history to speak of: the current group (up to 8 MiB), which late subscribers start
    /// from, and the groups of the last 5 s that subscribers may still be sending.
    fn default() -> Self {
        Self::new(IN_FLIGHT, CURRENT_GROUP_BYTES)
    }
}

impl History {
    /// Keep completed groups for `max_duration`, within `max_bytes`.
    pub fn new(max_duration: Duration, max_bytes: usize) -> Self {
        Self {
            gauge: Arc::new(CacheGauge::new(CacheBudget {
                max_bytes,
                max_age: max_duration,
                max_group_bytes: max_bytes.max(1),
                max_live_per_session: max_bytes,
            })),
        }
    }

    /// How long a completed group is kept.
    pub fn max_duration(&self) -> Duration {
        self.gauge.budget().max_age
    }

    /// Bytes kept at most (shared by the clones).
    pub fn max_bytes(&self) -> usize {
        self.gauge.budget().max_bytes
    }

    /// Bytes held now by every track sharing this budget.
    pub fn used_bytes(&self) -> usize {
        self.gauge.bytes()
    }

    /// An empty cache for one track, charged to this history.
    pub(crate) fn track(&self) -> Track {
        Track::charged_to(self.gauge.clone())
    }

    /// The gauge every track of this history is charged to.
    pub(crate) fn gauge(&self) -> Arc<CacheGauge> {
        self.gauge.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Instant;
    use tern_model::{Location, Object, ObjectStatus};

    const S: Duration = Duration::from_secs(1);

    /// Groups `ids`, each of `objects` objects of `size` bytes, one second apart from `t0`.
    fn fill(t: &mut Track, t0: Instant, ids: &[u64], objects: u64, size: usize) {
        for (i, &id) in ids.iter().enumerate() {
            let at = t0 + S * i as u32;
            for o in 0..objects {
                let object = Object {
                    location: Location::new(id, o),
                    status: ObjectStatus::Normal,
                    properties: Bytes::new(),
                    payload: Bytes::from(vec![7u8; size]),
                    end_of_group: false,
                };
                t.append(object, 0, 2, at);
            }
        }
    }

    fn held(t: &Track) -> Vec<u64> {
        t.group_ids().collect()
    }

    #[test]
    fn default_keeps_the_current_group_and_what_is_in_flight() {
        let t0 = Instant::now();
        let mut t = History::default().track();
        fill(&mut t, t0, &[1, 2, 3], 3, 10);
        assert_eq!(held(&t), [1, 2, 3], "groups of the last 5 s");
        fill(&mut t, t0 + IN_FLIGHT * 2, &[4], 3, 10);
        assert_eq!(held(&t), [4]);
        assert_eq!(t.evicted_groups(), 3);
    }

    #[test]
    fn completed_groups_leave_after_max_duration() {
        let t0 = Instant::now();
        let history = History::new(S * 3, 1 << 20);
        let mut t = history.track();
        fill(&mut t, t0, &[10, 11, 12, 13, 14], 2, 100);
        // Group 10 began at t0, 14 at t0+4 s: 10 is more than 3 s old.
        assert_eq!(held(&t), [11, 12, 13, 14]);
        fill(&mut t, t0 + S * 60, &[15], 1, 100);
        assert_eq!(held(&t), [15], "only the newest group is never too old");
        assert_eq!(history.used_bytes(), t.bytes());
    }

    #[test]
    fn a_shared_budget_bounds_several_tracks() {
        let t0 = Instant::now();
        // 228 bytes an audio group, 528 a video group (payloads and 64 bytes an object).
        let history = History::new(S * 3600, 1600);
        let mut video = history.track();
        let mut audio = history.track();
        fill(&mut audio, t0, &[0, 1], 2, 50);
        fill(&mut video, t0, &[0, 1, 2, 3, 4], 2, 200);
        assert!(history.used_bytes() <= 1600, "{}", history.used_bytes());
        assert_eq!(held(&audio), [0, 1], "video evicts its own groups");
        assert_eq!(held(&video), [3, 4]);
        let audio_bytes = audio.bytes();
        drop(video);
        assert_eq!(
            history.used_bytes(),
            audio_bytes,
            "a dropped track releases its bytes"
        );
    }
}
