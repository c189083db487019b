//! The process-wide cache budget: bytes and age of cached groups across every track.
//!
//! Every track's bytes count against one [`CacheBudget`]. When the process goes over its byte
//! budget, [`sweep`] evicts the oldest evictable groups across all tracks first, visiting one
//! track at a time (never every track locked at once); groups older than the configured
//! duration go too. The newest group of every track is never evicted
//! (see [`Track::evict_oldest`]), so a late joiner always finds the current GOP and a one-object
//! init track is always there.
//!
//! Those newest groups are what no sweep can free, so they are held to a budget of their own at
//! the moment they grow: a [`LiveBudget`] for the process (the cache's byte budget) and one per
//! publishing session (its share), each track's newest group charged to both through its
//! [`LiveCharge`]. An object that would take a budget past its limit is refused before it is
//! cached, so a publisher that holds open groups on many tracks is stopped at its share instead
//! of growing the cache without bound, and no other track's newest group is ever evicted.

use std::time::{Duration, Instant};

pub use crate::live::{LiveBudget, LiveCharge};
use crate::track::Track;

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
    /// Bytes of newest groups one publishing session may hold (a cluster member is held by
    /// `max_bytes` alone): see [`LiveBudget`].
    pub max_live_per_session: usize,
}

impl Default for CacheBudget {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 20,
            max_age: Duration::from_secs(30),
            max_group_bytes: super::track::DEFAULT_MAX_GROUP_BYTES,
            max_live_per_session: 64 << 20,
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
    /// Groups still held after the sweep.
    pub groups_held: usize,
}

/// The tracks a sweep goes over, one at a time: a driver whose tracks sit behind locks takes
/// one lock per call, so a sweep never holds two tracks at once and never stalls the fan-out of
/// every track while it works on one.
pub trait Tracks {
    /// How many tracks.
    fn count(&self) -> usize;
    /// Run `f` on track `i` (`None` when it is gone).
    fn with<R>(&mut self, i: usize, f: impl FnOnce(&mut Track) -> R) -> Option<R>;
}

impl Tracks for [&mut Track] {
    fn count(&self) -> usize {
        self.len()
    }

    fn with<R>(&mut self, i: usize, f: impl FnOnce(&mut Track) -> R) -> Option<R> {
        self.get_mut(i).map(|t| f(t))
    }
}

/// Evict expired groups, then the globally oldest groups until under the byte budget. Each
/// track is visited alone: once to evict what expired and note its bytes and oldest evictable
/// group, then, while over budget, the track with the oldest evictable group gives it up (a
/// heap keeps them ordered, so the sweep costs O(tracks + evictions × log tracks)).
pub fn sweep<T: Tracks + ?Sized>(tracks: &mut T, budget: &CacheBudget, now: Instant) -> Swept {
    let mut swept = Swept::default();
    let mut oldest = std::collections::BinaryHeap::new();
    for i in 0..tracks.count() {
        let seen = tracks.with(i, |t| {
            let before = t.evicted_groups();
            let released = t.evict_expired(now, budget.max_age);
            (
                released,
                t.evicted_groups() - before,
                t.bytes(),
                t.group_count(),
                t.oldest_evictable(),
            )
        });
        let Some((released, evicted, bytes, groups, evictable)) = seen else {
            continue;
        };
        swept.bytes += released;
        swept.groups += evicted;
        swept.held += bytes;
        swept.groups_held += groups;
        if let Some(created) = evictable {
            oldest.push(std::cmp::Reverse((created, i)));
        }
    }
    while swept.held > budget.max_bytes {
        let Some(std::cmp::Reverse((_, i))) = oldest.pop() else {
            break; // only newest groups left: they stay
        };
        let evicted = tracks.with(i, |t| (t.evict_oldest(), t.oldest_evictable()));
        let Some((released, next)) = evicted else {
            continue;
        };
        if let Some(released) = released {
            swept.groups += 1;
            swept.groups_held = swept.groups_held.saturating_sub(1);
            swept.bytes += released;
            swept.held = swept.held.saturating_sub(released);
        }
        if let Some(created) = next {
            oldest.push(std::cmp::Reverse((created, i)));
        }
    }
    swept
}
