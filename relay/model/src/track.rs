//! One track's producer and consumer handles over a shared cache.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use tern_relay_core::cache::LiveBudget;
use tern_relay_core::fanout::{Delivery, Fanout, LagPolicy};
use tern_relay_core::track::{Appended, SubgroupEnd, Track};
use tern_relay_core::types::{Filter, Location, Object, TrackName};

/// How often a waiting [`Subscription`] looks at its track although nothing was appended: a
/// reader's lag is a matter of time too (its delivery timeout), noticed on a quiet track.
const LAG_TICK: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Shared {
    name: TrackName,
    track: Mutex<Track>,
    /// Woken on every change.
    changed: Notify,
    /// Set when the track is closed: its readers finish what is cached and end.
    closed: AtomicBool,
    /// Fan-out readers alive.
    readers: AtomicUsize,
    /// The claim of the publisher that owns the track now (0: none; see
    /// [`TrackProducer::claim`]).
    owner: AtomicU64,
}

/// Claims handed out so far in this process (each one is new: a claim taken back is never
/// handed out again).
static CLAIMS: AtomicU64 = AtomicU64::new(1);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Track> {
        // Never poisoned in practice: a panic while appending is a bug, and the cache stays
        // consistent up to the object that caused it.
        self.track.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        self.changed.notify_waiters();
    }
}

/// The writing side of a track: appends objects and ends subgroups, groups and the track. Clones
/// write the same track (a relay's track is fed by its publisher and by backfills; duplicates
/// are dropped by location). Every change wakes the track's readers.
#[derive(Debug, Clone)]
pub struct TrackProducer {
    shared: Arc<Shared>,
    /// The claim this handle writes under; 0 for a handle that claims nothing.
    claim: u64,
}

impl TrackProducer {
    /// A producer for `name` over `track` (an empty cache, usually charged to the process's
    /// gauge: [`Track::charged_to`]).
    pub fn new(name: TrackName, track: Track) -> Self {
        Self {
            shared: Arc::new(Shared {
                name,
                track: Mutex::new(track),
                changed: Notify::new(),
                closed: AtomicBool::new(false),
                readers: AtomicUsize::new(0),
                owner: AtomicU64::new(0),
            }),
            claim: 0,
        }
    }

    /// A handle of the same track that owns it from now on: every handle claimed earlier
    /// loses it ([`holds_claim`](Self::holds_claim) turns false). A publisher taking a track
    /// over claims it, so that the one it replaced learns it lost the track instead of writing
    /// on into the new publisher's groups.
    pub fn claim(&self) -> TrackProducer {
        let claim = CLAIMS.fetch_add(1, Ordering::Relaxed);
        self.shared.owner.store(claim, Ordering::SeqCst);
        TrackProducer {
            shared: self.shared.clone(),
            claim,
        }
    }

    /// Whether this handle still owns the track: true for a handle that never claimed it,
    /// false once another handle claimed it after this one did.
    pub fn holds_claim(&self) -> bool {
        self.claim == 0 || self.shared.owner.load(Ordering::SeqCst) == self.claim
    }

    /// The track's name.
    pub fn name(&self) -> &TrackName {
        &self.shared.name
    }

    /// Look at the cache (briefly: readers and other writers wait on the same lock).
    pub fn read<R>(&self, f: impl FnOnce(&Track) -> R) -> R {
        f(&self.shared.lock())
    }

    /// A read view of the track.
    pub fn consumer(&self) -> TrackConsumer {
        TrackConsumer {
            shared: self.shared.clone(),
        }
    }

    /// Append an object within the live budgets `live` (empty: no live budget), and wake the
    /// readers if it was cached or the publisher restarted the group numbering (the `bool`:
    /// see [`Track::new_feed`]).
    pub fn append(
        &self,
        object: Object,
        subgroup: u64,
        priority: u8,
        now: Instant,
        live: &[Arc<LiveBudget>],
    ) -> (Appended, bool) {
        let (appended, restarted) = {
            let mut t = self.shared.lock();
            let before = t.restarts();
            let appended = t.append_within(object, subgroup, priority, now, live);
            (appended, t.restarts() != before)
        };
        if restarted || matches!(appended, Appended::New(_)) {
            self.shared.wake();
        }
        (appended, restarted)
    }

    /// Record the end of a subgroup (see [`Track::end_subgroup`]).
    pub fn end_subgroup(&self, group: u64, subgroup: u64, end: SubgroupEnd, end_of_group: bool) {
        self.shared
            .lock()
            .end_subgroup(group, subgroup, end, end_of_group);
        self.shared.wake();
    }

    /// Change the cache in a way the methods above do not cover (a new feed, an upstream's
    /// Largest Object, a backfill ending groups), then wake the readers.
    pub fn update<R>(&self, f: impl FnOnce(&mut Track) -> R) -> R {
        let out = f(&mut self.shared.lock());
        self.shared.wake();
        out
    }

    /// Close the track: readers deliver what is cached and end; nothing more is appended by
    /// the owner of this producer.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.wake();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }
}

/// A read view of a track: lookups and FETCH pages under its lock, waiting for changes, and
/// fan-out readers ([`Subscription`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct TrackConsumer {
    shared: Arc<Shared>,
}

impl TrackConsumer {
    /// The track's name.
    pub fn name(&self) -> &TrackName {
        &self.shared.name
    }

    /// Look at the cache (briefly: writers wait on the same lock).
    pub fn read<R>(&self, f: impl FnOnce(&Track) -> R) -> R {
        f(&self.shared.lock())
    }

    /// The track's Largest Object.
    pub fn largest(&self) -> Option<Location> {
        self.read(Track::largest)
    }

    /// Whether the track was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Fan-out readers ([`Subscription`]s) of the track alive now.
    pub fn readers(&self) -> usize {
        self.shared.readers.load(Ordering::Relaxed)
    }

    /// Wait for the next change after `check` returns `None`, until `check` returns a value
    /// (checked under no lock but the caller's own) or the track closes (`None`).
    pub async fn wait_for<R>(
        &self,
        mut check: impl FnMut(&TrackConsumer) -> Option<R>,
    ) -> Option<R> {
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(r) = check(self) {
                return Some(r);
            }
            if self.is_closed() {
                return None;
            }
            changed.await;
        }
    }

    /// A fan-out reader for `filter`, resolved against the cache now, and the Largest Object
    /// at that moment. `None` when the filter selects nothing (a range that ended before it).
    /// Largest Object and Next Group Start read only what comes after the largest object;
    /// absolute filters reach into the cache.
    pub fn subscribe(
        &self,
        filter: Filter,
        subscriber_priority: u8,
        policy: LagPolicy,
        forward: bool,
    ) -> (Option<Location>, Option<Subscription>) {
        let track = self.shared.lock();
        let largest = track.largest();
        let Some(range) = filter.resolve(largest) else {
            return (largest, None);
        };
        let cursor = match filter {
            Filter::LargestObject | Filter::NextGroupStart if largest.is_some() => track.tail(),
            _ => track.head(),
        };
        let mut fanout = Fanout::new(range, cursor, subscriber_priority, policy);
        fanout.set_forward(forward);
        drop(track);
        self.shared.readers.fetch_add(1, Ordering::Relaxed);
        (
            largest,
            Some(Subscription {
                track: self.clone(),
                fanout,
            }),
        )
    }
}

/// One fan-out reader of a track: its own cursor over the shared cache, and the policy that
/// drops whole groups when it falls behind (see [`Fanout`]).
#[derive(Debug)]
pub struct Subscription {
    track: TrackConsumer,
    fanout: Fanout,
}

/// What [`Subscription::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Deliveries were added to the batch.
    Ready,
    /// Nothing is left to read and the track is closed.
    Closed,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.track.shared.readers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Subscription {
    /// The track read.
    pub fn track(&self) -> &TrackConsumer {
        &self.track
    }

    /// The reader's state (forward, priority, range, counters).
    pub fn fanout(&self) -> &Fanout {
        &self.fanout
    }

    /// Change the reader's state (REQUEST_UPDATE).
    pub fn fanout_mut(&mut self) -> &mut Fanout {
        &mut self.fanout
    }

    /// Take up to `max` deliveries that are ready now into `batch`, under one lock.
    pub fn poll(&mut self, now: Instant, max: usize, batch: &mut Vec<Delivery>) {
        let Self { track, fanout } = self;
        let track = track.shared.lock();
        batch.extend(std::iter::from_fn(|| fanout.poll(&track, now)).take(max));
    }

    /// Wait until deliveries are ready and take up to `max` of them into `batch`, or until the
    /// track is closed with nothing left for this reader. Cancel-safe: nothing is taken from
    /// the cache unless it is returned.
    pub async fn next(&mut self, max: usize, batch: &mut Vec<Delivery>) -> Next {
        // A handle of its own, so that waiting borrows nothing of `self`.
        let shared = self.track.shared.clone();
        loop {
            let changed = shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let before = batch.len();
            self.poll(Instant::now(), max, batch);
            if batch.len() > before {
                return Next::Ready;
            }
            if self.track.is_closed() {
                return Next::Closed;
            }
            // Look again after a while even if nothing changes: lag is measured in time too.
            let _ = tokio::time::timeout(LAG_TICK, changed).await;
        }
    }
}
