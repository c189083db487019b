//! [`History`]: how much of its past a [`TrackWriter`](super::TrackWriter) keeps, and [`Kept`],
//! the sans-IO record of it: whole groups, oldest first, each object a shared `Bytes`.
//!
//! A completed group is kept until it ended `max_duration` ago or the payload bytes held pass
//! `max_bytes`, whichever comes first; the oldest groups go first. The current group is kept as
//! it is written (late subscribers start from it, FETCH serves it); a current group larger than
//! `max_bytes` on its own is not kept at all. Time is passed in (`now`): nothing here reads a
//! clock, so the bounds are tested without waiting.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_moq::Location;

/// Payload bytes of the current group kept for late joiners when no history is asked for.
const CURRENT_GROUP_BYTES: usize = 8 * 1024 * 1024;

/// How much of a track's past is kept for FETCH: completed groups for up to `max_duration`
/// after they ended, within `max_bytes` of payload.
///
/// Clones share one byte budget: give every track of a broadcast a clone of one `History` to
/// bound the whole broadcast (each track then evicts its own oldest groups when the shared
/// total is over). The budget can be passed by at most the tracks' current groups.
#[derive(Debug, Clone)]
pub struct History {
    max_duration: Duration,
    max_bytes: usize,
    used: Arc<AtomicUsize>,
}

impl Default for History {
    /// No past groups: the current group only (up to 8 MiB), which late subscribers start from.
    fn default() -> Self {
        Self::new(Duration::ZERO, CURRENT_GROUP_BYTES)
    }
}

impl History {
    /// Keep completed groups for `max_duration` after they end, within `max_bytes` of payload.
    pub fn new(max_duration: Duration, max_bytes: usize) -> Self {
        Self {
            max_duration,
            max_bytes,
            used: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How long a completed group is kept after it ended.
    pub fn max_duration(&self) -> Duration {
        self.max_duration
    }

    /// Payload bytes kept at most (shared by the clones).
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Payload bytes held now by every track sharing this budget.
    pub fn used_bytes(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.used.fetch_add(n, Ordering::Relaxed);
    }

    fn release(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }
}

/// One group held: object `i` of the group is `objects[i]` (a track writer numbers its objects
/// from 0 without gaps).
#[derive(Debug)]
pub(crate) struct KeptGroup {
    pub id: u64,
    pub priority: u8,
    pub objects: Vec<Bytes>,
    bytes: usize,
    /// Objects written to the group (more than `objects` once it was cut).
    written: u64,
    /// When the next group started; `None` for the current group.
    ended: Option<Instant>,
    /// It outgrew the budget on its own: its objects are no longer held.
    cut: bool,
}

impl KeptGroup {
    fn last(&self) -> Option<Location> {
        self.written
            .checked_sub(1)
            .map(|o| Location::new(self.id, o))
    }
}

/// One entry of a FETCH answer, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// An object with its publisher priority.
    Object {
        location: Location,
        priority: u8,
        payload: Bytes,
    },
    /// Every object after the previous entry (or the start) up to this Location, inclusive, is
    /// no longer held: End of Unknown Range.
    Unknown(Location),
}

/// What a FETCH of a range gets from the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The first Location asked for.
    pub start: Location,
    /// Objects and unknown ranges, in ascending order.
    pub entries: Vec<Entry>,
    /// The last Location covered (what FETCH_OK's End Location describes).
    pub last: Location,
}

/// Why a range cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No object was written yet.
    NothingPublished,
    /// The end comes before the start.
    Reversed,
    /// The start is after the Largest Object.
    AfterLargest(Location),
    /// No object of the range is held; `window` is what is held (first group, last object).
    OutsideWindow { window: Option<(u64, Location)> },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NothingPublished => write!(f, "no object has been published yet"),
            Self::Reversed => write!(f, "the End Location is before the Start Location"),
            Self::AfterLargest(l) => write!(
                f,
                "the range starts after the largest object {{{}, {}}}",
                l.group, l.object
            ),
            Self::OutsideWindow { window: None } => {
                write!(f, "outside the history window: no group is held")
            }
            Self::OutsideWindow {
                window: Some((first, last)),
            } => write!(
                f,
                "outside the history window: groups {first} to {} are held (last object {{{}, {}}})",
                last.group, last.group, last.object
            ),
        }
    }
}

/// The groups a track keeps (sans-IO: every change takes `now`).
#[derive(Debug, Default)]
pub(crate) struct Kept {
    history: History,
    groups: VecDeque<KeptGroup>,
    /// This track's share of the budget.
    bytes: usize,
    /// The largest Location written and no longer held (evicted), if any.
    forgotten: Option<Location>,
    evicted: u64,
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.history.release(self.bytes);
    }
}

impl Kept {
    /// Keep what `history` says from now on (this track's bytes move to its budget).
    pub fn set_history(&mut self, history: History, now: Instant) {
        self.history.release(self.bytes);
        history.add(self.bytes);
        self.history = history;
        self.evict(now);
    }

    /// Group `id` starts (IDs increase); the previous one is complete.
    pub fn handle_group(&mut self, id: u64, priority: u8, now: Instant) {
        if let Some(prev) = self.groups.back_mut() {
            prev.ended = Some(now);
            if prev.cut {
                let prev = self.groups.pop_back();
                self.forget(prev);
            }
        }
        self.groups.push_back(KeptGroup {
            id,
            priority,
            objects: Vec::new(),
            bytes: 0,
            written: 0,
            ended: None,
            cut: false,
        });
        self.evict(now);
    }

    /// The next object of the current group.
    pub fn handle_object(&mut self, payload: Bytes, now: Instant) {
        let max = self.history.max_bytes;
        let Some(g) = self.groups.back_mut().filter(|g| g.ended.is_none()) else {
            return;
        };
        g.written += 1;
        if g.cut {
            return;
        }
        let n = payload.len();
        g.objects.push(payload);
        g.bytes += n;
        self.bytes += n;
        self.history.add(n);
        if g.bytes > max {
            // Larger than the whole budget: the group cannot be kept.
            g.cut = true;
            let freed = std::mem::take(&mut g.bytes);
            g.objects = Vec::new();
            self.bytes -= freed;
            self.history.release(freed);
            tracing::debug!(group = g.id, max, "group larger than the history budget");
        }
        self.evict(now);
    }

    /// Drop what is past either bound: groups that ended `max_duration` ago, then the oldest
    /// while the shared budget is over. The current group stays.
    pub fn evict(&mut self, now: Instant) {
        while let Some(front) = self.groups.front() {
            let expired = front
                .ended
                .is_some_and(|t| now.saturating_duration_since(t) >= self.history.max_duration);
            let over = self.history.used_bytes() > self.history.max_bytes
                && front.ended.is_some()
                && self.bytes > 0;
            if !expired && !over {
                break;
            }
            let g = self.groups.pop_front();
            self.forget(g);
        }
    }

    fn forget(&mut self, g: Option<KeptGroup>) {
        let Some(g) = g else { return };
        self.bytes -= g.bytes;
        self.history.release(g.bytes);
        self.evicted += 1;
        if let Some(last) = g.last() {
            self.forgotten = self.forgotten.max(Some(last));
        }
    }

    /// The current group when it is held whole.
    pub fn current(&self) -> Option<&KeptGroup> {
        self.groups.back().filter(|g| g.ended.is_none() && !g.cut)
    }

    /// Groups evicted so far.
    #[cfg(test)]
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Payload bytes this track holds.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// IDs of the groups held whole, oldest first.
    #[cfg(test)]
    pub fn group_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.groups.iter().filter(|g| !g.cut).map(|g| g.id)
    }

    /// First group and last object held.
    pub fn window(&self) -> Option<(u64, Location)> {
        let mut held = self
            .groups
            .iter()
            .filter(|g| !g.cut && !g.objects.is_empty());
        let first = held.next()?;
        let last = held.next_back().unwrap_or(first);
        Some((
            first.id,
            Location::new(last.id, last.objects.len() as u64 - 1),
        ))
    }

    /// The objects of `start..=end` held, given the Largest Object written.
    ///
    /// A range that begins before the window starts with an End of Unknown Range entry; one
    /// that runs into a current group that is not held ends at the last object held. A range
    /// none of whose objects is held is refused.
    pub fn plan(
        &self,
        start: Location,
        end: Location,
        largest: Option<Location>,
    ) -> Result<Plan, Refusal> {
        let largest = largest.ok_or(Refusal::NothingPublished)?;
        if end < start {
            return Err(Refusal::Reversed);
        }
        if start > largest {
            return Err(Refusal::AfterLargest(largest));
        }
        let end = end.min(largest);
        let mut entries = Vec::new();
        if let Some(f) = self.forgotten
            && start <= f
        {
            entries.push(Entry::Unknown(f.min(end)));
        }
        let mut objects = 0usize;
        let mut unheld = false;
        for g in &self.groups {
            if g.id < start.group {
                continue;
            }
            if g.id > end.group {
                break;
            }
            if g.cut {
                unheld = true;
                continue;
            }
            for (i, payload) in g.objects.iter().enumerate() {
                let location = Location::new(g.id, i as u64);
                if location < start {
                    continue;
                }
                if location > end {
                    break;
                }
                objects += 1;
                entries.push(Entry::Object {
                    location,
                    priority: g.priority,
                    payload: payload.clone(),
                });
            }
        }
        if objects == 0 && (unheld || !entries.is_empty()) {
            return Err(Refusal::OutsideWindow {
                window: self.window(),
            });
        }
        // The answer ends with its last entry (a range that runs into a current group not held
        // ends before it); a range where nothing exists (between groups) is covered whole.
        let last = match entries.last() {
            Some(Entry::Object { location, .. } | Entry::Unknown(location)) => *location,
            None => end,
        };
        Ok(Plan {
            start,
            entries,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn obj(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    /// Groups `ids`, each of `objects` objects of `size` bytes, one second apart from `t0`.
    fn fill(k: &mut Kept, t0: Instant, ids: &[u64], objects: usize, size: usize) {
        for (i, &id) in ids.iter().enumerate() {
            let t = t0 + S * i as u32;
            k.handle_group(id, 2, t);
            for _ in 0..objects {
                k.handle_object(obj(size), t);
            }
        }
    }

    fn held(k: &Kept) -> Vec<u64> {
        k.group_ids().collect()
    }

    fn locations(p: &Plan) -> Vec<String> {
        p.entries
            .iter()
            .map(|e| match e {
                Entry::Object { location: l, .. } => format!("{}.{}", l.group, l.object),
                Entry::Unknown(l) => format!("?..{}.{}", l.group, l.object),
            })
            .collect()
    }

    #[test]
    fn default_keeps_only_the_current_group() {
        let mut k = Kept::default();
        let t0 = Instant::now();
        fill(&mut k, t0, &[1, 2, 3], 3, 10);
        assert_eq!(held(&k), [3]);
        assert_eq!(k.current().map(|g| g.objects.len()), Some(3));
        assert_eq!(k.evicted(), 2);
        assert_eq!(k.bytes(), 30);
    }

    #[test]
    fn completed_groups_leave_after_max_duration() {
        let mut k = Kept::default();
        let t0 = Instant::now();
        k.set_history(History::new(S * 3, 1 << 20), t0);
        fill(&mut k, t0, &[10, 11, 12, 13, 14], 2, 100);
        // Group 10 ended at t0+1 s, 11 at +2 s, ...; now is t0+4 s: 10 ended 3 s ago.
        assert_eq!(held(&k), [11, 12, 13, 14]);
        k.evict(t0 + S * 5 + Duration::from_millis(999));
        assert_eq!(held(&k), [12, 13, 14], "11 ended 3 s before t0+5 s");
        k.evict(t0 + S * 60);
        assert_eq!(held(&k), [14], "the current group is never too old");
        assert_eq!(k.bytes(), 200);
        assert_eq!(k.history.used_bytes(), 200);
    }

    #[test]
    fn oldest_groups_leave_past_max_bytes() {
        let mut k = Kept::default();
        let t0 = Instant::now();
        k.set_history(History::new(S * 3600, 1000), t0);
        fill(&mut k, t0, &[0, 1, 2, 3, 4, 5], 3, 100);
        // 300 bytes a group: three fit (900), a fourth would make 1200.
        assert_eq!(held(&k), [3, 4, 5]);
        assert!(k.bytes() <= 1000);
        assert_eq!(k.window(), Some((3, Location::new(5, 2))));
    }

    #[test]
    fn a_shared_budget_bounds_several_tracks() {
        let t0 = Instant::now();
        let history = History::new(S * 3600, 1000);
        let mut video = Kept::default();
        let mut audio = Kept::default();
        video.set_history(history.clone(), t0);
        audio.set_history(history.clone(), t0);
        fill(&mut audio, t0, &[0, 1], 2, 50);
        fill(&mut video, t0, &[0, 1, 2, 3, 4], 2, 200);
        assert!(history.used_bytes() <= 1000, "{}", history.used_bytes());
        assert_eq!(held(&audio), [0, 1], "video evicts its own groups");
        assert_eq!(held(&video), [3, 4]);
        drop(video);
        assert_eq!(
            history.used_bytes(),
            200,
            "a dropped track releases its bytes"
        );
    }

    #[test]
    fn a_group_larger_than_the_budget_is_not_kept() {
        let mut k = Kept::default();
        let t0 = Instant::now();
        k.set_history(History::new(S * 3600, 250), t0);
        fill(&mut k, t0, &[0, 1], 2, 100);
        k.handle_group(2, 2, t0);
        for _ in 0..3 {
            k.handle_object(obj(100), t0);
        }
        assert!(k.current().is_none(), "group 2 was cut");
        assert_eq!(k.bytes(), 0, "everything older was evicted for it");
        k.handle_group(3, 2, t0);
        k.handle_object(obj(100), t0);
        assert_eq!(held(&k), [3]);
        assert_eq!(k.forgotten, Some(Location::new(2, 2)));
    }

    #[test]
    fn plan_serves_the_window_and_marks_what_was_evicted() {
        let mut k = Kept::default();
        let t0 = Instant::now();
        k.set_history(History::new(S * 3600, 1000), t0);
        fill(&mut k, t0, &[0, 10, 20, 30, 40], 3, 100);
        assert_eq!(held(&k), [20, 30, 40]);
        let largest = Some(Location::new(40, 2));
        let l = Location::new;

        let p = k.plan(l(20, 1), l(30, 0), largest).expect("inside");
        assert_eq!(locations(&p), ["20.1", "20.2", "30.0"]);
        assert_eq!(p.last, l(30, 0));

        // Partly before the window: the evicted part is an unknown range.
        let p = k.plan(l(0, 0), l(20, 0), largest).expect("partly held");
        assert_eq!(locations(&p), ["?..10.2", "20.0"]);
        // Past the Largest Object: the answer ends there.
        let p = k
            .plan(l(40, 1), l(99, u64::MAX), largest)
            .expect("to the end");
        assert_eq!(locations(&p), ["40.1", "40.2"]);
        assert_eq!(p.last, l(40, 2));
        // Between groups: nothing exists there, and that is an answer.
        let p = k.plan(l(21, 0), l(29, u64::MAX), largest).expect("a gap");
        assert!(p.entries.is_empty());
        assert_eq!(p.last, l(29, u64::MAX));

        let before = k.plan(l(0, 0), l(10, u64::MAX), largest);
        assert_eq!(
            before,
            Err(Refusal::OutsideWindow {
                window: Some((20, l(40, 2)))
            })
        );
        let reason = before.expect_err("refused").to_string();
        assert!(reason.contains("groups 20 to 40"), "{reason}");
        assert_eq!(
            k.plan(l(41, 0), l(50, 0), largest),
            Err(Refusal::AfterLargest(l(40, 2)))
        );
        assert_eq!(k.plan(l(30, 0), l(20, 0), largest), Err(Refusal::Reversed));
        assert_eq!(
            Kept::default().plan(l(0, 0), l(1, 0), None),
            Err(Refusal::NothingPublished)
        );
    }

    #[test]
    fn plan_stops_before_a_current_group_that_is_not_held() {
        let mut k = Kept::default();
        let t0 = Instant::now();
        k.set_history(History::new(S * 3600, 250), t0);
        fill(&mut k, t0, &[0], 1, 100);
        // One object larger than the budget: group 1 is cut, group 0 stays.
        k.handle_group(1, 2, t0);
        k.handle_object(obj(300), t0);
        k.handle_object(obj(10), t0);
        assert_eq!(held(&k), [0]);
        let l = Location::new;
        let largest = Some(l(1, 1));
        let p = k.plan(l(0, 0), l(1, u64::MAX), largest).expect("group 0");
        assert_eq!(locations(&p), ["0.0"]);
        assert_eq!(p.last, l(0, 0), "the answer ends before group 1");
        assert_eq!(
            k.plan(l(1, 0), l(1, 1), largest),
            Err(Refusal::OutsideWindow {
                window: Some((0, l(0, 0)))
            })
        );
    }
}
