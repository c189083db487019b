//! The process-wide cache budget: bytes and age of cached groups across every track.
//!
//! Every track's bytes count against one [`CacheBudget`], charged to the process's
//! [`CacheGauge`] at the moment they are appended or evicted: nothing ever walks the tracks to
//! add them up, and no sweep locks them. The writer pays: an append that takes the process over
//! its byte budget makes its own track give up its oldest groups, and groups older than the
//! configured duration go when their track is next written. The newest group of every track is
//! never evicted (see [`Track::evict_oldest`](crate::track::Track::evict_oldest)), so a late joiner always finds the current GOP
//! and a one-object init track is always there.
//!
//! Those newest groups are what no eviction can free, so they are held to a budget of their own at
//! the moment they grow: a [`LiveBudget`] for the process (the cache's byte budget) and one per
//! publishing session (its share), each track's newest group charged to both through its
//! [`LiveCharge`]. An object that would take a budget past its limit is refused before it is
//! cached, so a publisher that holds open groups on many tracks is stopped at its share instead
//! of growing the cache without bound, and no other track's newest group is ever evicted.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

pub use crate::live::{LiveBudget, LiveCharge};

/// Default for [`Track::with_group_limit`](crate::track::Track::with_group_limit): bytes one
/// group may hold before its oldest objects are dropped.
pub const DEFAULT_MAX_GROUP_BYTES: usize = 32 << 20;

/// Limits for the cache of one relay process.
#[derive(Debug, Clone, Copy)]
pub struct CacheBudget {
    /// Bytes the cache may hold across every track.
    pub max_bytes: usize,
    /// Groups older than this are evicted (except each track's newest).
    pub max_age: Duration,
    /// Bytes one group may hold; past it the group's oldest objects are dropped (see
    /// [`Track::with_group_limit`](crate::track::Track::with_group_limit)), so a group that never ends stays bounded.
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
            max_group_bytes: DEFAULT_MAX_GROUP_BYTES,
            max_live_per_session: 64 << 20,
        }
    }
}

/// The process's cache as it is: bytes and groups held across every track, and groups evicted
/// so far, each changed by the track that changes it at that moment (see
/// [`Track::charged_to`](crate::track::Track::charged_to)). Reading it costs three atomic loads, whatever the number of tracks.
#[derive(Debug)]
pub struct CacheGauge {
    budget: CacheBudget,
    bytes: AtomicUsize,
    groups: AtomicUsize,
    evictions: AtomicU64,
}

impl CacheGauge {
    /// A gauge for `budget`, nothing held.
    pub fn new(budget: CacheBudget) -> Self {
        Self {
            budget,
            bytes: AtomicUsize::new(0),
            groups: AtomicUsize::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The budget the gauge holds tracks to.
    pub fn budget(&self) -> &CacheBudget {
        &self.budget
    }

    /// Bytes held by every track charged to this gauge.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Groups held by every track charged to this gauge.
    pub fn groups(&self) -> usize {
        self.groups.load(Ordering::Relaxed)
    }

    /// Groups evicted so far (by age, by budget or by a track's per-group cap).
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Whether the tracks hold more than the budget's bytes.
    pub fn over(&self) -> bool {
        self.bytes() > self.budget.max_bytes
    }

    pub(crate) fn add_bytes(&self, n: usize) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub_bytes(&self, n: usize) {
        self.bytes.fetch_sub(n, Ordering::Relaxed);
    }

    pub(crate) fn add_groups(&self, n: usize) {
        self.groups.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub_groups(&self, n: usize) {
        self.groups.fetch_sub(n, Ordering::Relaxed);
    }

    pub(crate) fn count_eviction(&self) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
    }
}
