//! The process-wide cache budget: bytes and age of cached groups across every track.
//!
//! Each track charges its objects to one shared [`CacheBudget`]. When the process goes over its
//! byte budget, [`sweep`] evicts the oldest evictable groups across all tracks first; groups
//! older than the configured duration go too. The newest group of every track is never evicted
//! (see [`Track::evict_oldest`]), so a late joiner always finds the current GOP and a one-object
//! init track is always there.

use std::time::{Duration, Instant};

use super::track::Track;

/// Limits for the cache of one relay process.
#[derive(Debug, Clone, Copy)]
pub struct CacheBudget {
    /// Bytes the cache may hold across every track.
    pub max_bytes: usize,
    /// Groups older than this are evicted (except each track's newest).
    pub max_age: Duration,
    /// Bytes one group may hold; past it the group's oldest objects are dropped (see
    /// [`Track::with_group_limit`]), so a group that never ends stays bounded.
    pub max_group_bytes: usize,
}

impl Default for CacheBudget {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 20,
            max_age: Duration::from_secs(30),
            max_group_bytes: super::track::DEFAULT_MAX_GROUP_BYTES,
        }
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Groups evicted.
    pub groups: u64,
    /// Bytes released.
    pub bytes: usize,
    /// Bytes still held after the sweep.
    pub held: usize,
}

/// Evict expired groups, then the globally oldest groups until under the byte budget.
pub fn sweep(tracks: &mut [&mut Track], budget: &CacheBudget, now: Instant) -> Swept {
    let mut swept = Swept::default();
    for t in tracks.iter_mut() {
        let before = t.evicted_groups();
        swept.bytes += t.evict_expired(now, budget.max_age);
        swept.groups += t.evicted_groups() - before;
    }
    let mut held: usize = tracks.iter().map(|t| t.bytes()).sum();
    while held > budget.max_bytes {
        let oldest = tracks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.oldest_evictable().map(|c| (c, i)))
            .min();
        let Some((_, i)) = oldest else {
            break; // only newest groups left: they stay
        };
        let released = tracks[i].evict_oldest().unwrap_or(0);
        swept.groups += 1;
        swept.bytes += released;
        held -= released;
    }
    swept.held = held;
    swept
}
