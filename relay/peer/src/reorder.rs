//! [`Reorder`]: turns objects arriving on concurrent subgroup streams into one sequence in
//! group order. Sans-IO: events in with `now`, objects out with [`Reorder::poll`].
//!
//! Objects of the oldest open group are released as they arrive; newer groups wait (bounded)
//! until it ends. A group that stalls while a newer one waits, or a backlog above the byte
//! budget, makes the oldest group be abandoned rather than buffered for ever. When the next
//! group ID skips ahead, the skipped IDs get a short grace period to show up (their streams can
//! be accepted a moment later), after which they count as absent.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Object;

/// Default time a group with buffered successors may stay silent before it is abandoned.
pub const DEFAULT_STALL: Duration = Duration::from_secs(2);
/// Default wait for a skipped group ID before moving past it.
pub const DEFAULT_GAP_WAIT: Duration = Duration::from_millis(50);
/// Default budget of buffered payload bytes.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug)]
struct Group {
    objects: VecDeque<Object>,
    open_streams: usize,
    first_seen: Instant,
    last_activity: Instant,
}

/// Orders objects from many streams by group (see the module docs).
#[derive(Debug)]
pub struct Reorder {
    groups: BTreeMap<u64, Group>,
    /// Groups below this are over: late data for them is dropped.
    floor: Option<u64>,
    bytes: usize,
    max_bytes: usize,
    stall: Duration,
    gap_wait: Duration,
    abandoned: u64,
}

impl Default for Reorder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BYTES, DEFAULT_STALL, DEFAULT_GAP_WAIT)
    }
}

impl Reorder {
    /// A reorderer with a byte budget, a stall limit and a gap wait.
    pub fn new(max_bytes: usize, stall: Duration, gap_wait: Duration) -> Self {
        Self {
            groups: BTreeMap::new(),
            floor: None,
            bytes: 0,
            max_bytes,
            stall,
            gap_wait,
            abandoned: 0,
        }
    }

    /// The subscription starts at `group` (its filter's start, or what SUBSCRIBE_OK said was
    /// the largest): older groups are not expected, and a newer one arriving first waits the
    /// gap time for it (streams of one subscription can be accepted out of order).
    pub fn expect_from(&mut self, group: u64) {
        if self.floor.is_none() {
            self.floor = Some(group);
        }
    }

    /// Groups given up before they ended (stalled or over budget).
    pub fn abandoned(&self) -> u64 {
        self.abandoned
    }

    /// True while any group is open or holds objects.
    pub fn is_idle(&self) -> bool {
        self.groups.is_empty()
    }

    fn group(&mut self, group: u64, now: Instant) -> Option<&mut Group> {
        if self.floor.is_some_and(|f| group < f) {
            return None;
        }
        let g = self.groups.entry(group).or_insert_with(|| Group {
            objects: VecDeque::new(),
            open_streams: 0,
            first_seen: now,
            last_activity: now,
        });
        g.last_activity = now;
        Some(g)
    }

    /// A subgroup stream of `group` started. Returns false when the group is already over.
    pub fn handle_open(&mut self, group: u64, now: Instant) -> bool {
        match self.group(group, now) {
            Some(g) => {
                g.open_streams += 1;
                true
            }
            None => false,
        }
    }

    /// An object arrived on a stream of its group.
    pub fn handle_object(&mut self, object: Object, now: Instant) {
        let len = object.payload.len();
        if let Some(g) = self.group(object.location.group, now) {
            g.objects.push_back(object);
            self.bytes += len;
        }
    }

    /// A stream of `group` ended (FIN or reset).
    pub fn handle_end(&mut self, group: u64, now: Instant) {
        if let Some(g) = self.groups.get_mut(&group) {
            g.open_streams = g.open_streams.saturating_sub(1);
            g.last_activity = now;
        }
    }

    fn drop_first(&mut self, abandoned: bool) {
        if let Some((id, g)) = self.groups.pop_first() {
            self.bytes -= g.objects.iter().map(|o| o.payload.len()).sum::<usize>();
            self.floor = Some(id + 1);
            if abandoned {
                self.abandoned += 1;
            }
        }
    }

    /// Nothing more will arrive: every open group counts as ended and no gap is waited for,
    /// so [`poll`](Self::poll) releases all that is buffered, in order.
    pub fn close(&mut self) {
        for g in self.groups.values_mut() {
            g.open_streams = 0;
        }
        self.gap_wait = Duration::ZERO;
    }

    /// The next object in order, if one may be released now.
    pub fn poll(&mut self, now: Instant) -> Option<Object> {
        loop {
            let waiting = self.groups.len() > 1;
            let (&id, first) = self.groups.iter_mut().next()?;
            // A newer group arrived before an older ID showed up: wait a moment for it.
            if let Some(floor) = self.floor
                && id > floor
                && now < first.first_seen + self.gap_wait
            {
                return None;
            }
            if let Some(object) = first.objects.pop_front() {
                self.bytes -= object.payload.len();
                self.floor = Some(id);
                return Some(object);
            }
            if first.open_streams == 0 {
                self.drop_first(false);
                continue;
            }
            let stalled = now >= self.stall_deadline().unwrap_or(now);
            if (waiting && stalled) || self.bytes > self.max_bytes {
                self.drop_first(true);
                continue;
            }
            return None;
        }
    }

    /// When [`poll`](Self::poll) may release something without new input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let (&id, first) = self.groups.iter().next()?;
        if let Some(floor) = self.floor
            && id > floor
        {
            return Some(first.first_seen + self.gap_wait);
        }
        if first.objects.is_empty() {
            self.stall_deadline()
        } else {
            None
        }
    }

    /// When the oldest group counts as stalled: `stall` after its last activity, counted from
    /// no earlier than when a newer group started waiting (a group that was silent while
    /// nothing newer came, as when the relay fails over to another upstream, is not stalled).
    fn stall_deadline(&self) -> Option<Instant> {
        let mut groups = self.groups.values();
        let first = groups.next()?;
        let waiting_since = groups.next()?.first_seen;
        Some(first.last_activity.max(waiting_since) + self.stall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(group: u64, object: u64) -> Object {
        crate::received(
            tern_model::Location::new(group, object),
            Bytes::new(),
            Bytes::from(format!("{group}.{object}")),
        )
    }

    use bytes::Bytes;

    fn drain(r: &mut Reorder, now: Instant) -> Vec<(u64, u64)> {
        std::iter::from_fn(|| r.poll(now))
            .map(|o| (o.location.group, o.location.object))
            .collect()
    }

    #[test]
    fn newer_group_waits_for_the_older_one() {
        let t = Instant::now();
        let mut r = Reorder::default();
        assert!(r.handle_open(0, t));
        r.handle_object(obj(0, 0), t);
        assert!(r.handle_open(1, t));
        r.handle_object(obj(1, 0), t);
        assert_eq!(drain(&mut r, t), vec![(0, 0)]);
        r.handle_object(obj(0, 1), t);
        r.handle_end(0, t);
        assert_eq!(drain(&mut r, t), vec![(0, 1), (1, 0)]);
        // Late data for a finished group is dropped.
        assert!(!r.handle_open(0, t));
        r.handle_object(obj(0, 2), t);
        assert_eq!(drain(&mut r, t), vec![]);
    }

    #[test]
    fn the_first_group_waits_for_an_older_one_of_the_expected_start() {
        // Streams of groups 5 and 6 accepted in the wrong order at the start of a subscription
        // that starts at group 0 (no filter): nothing goes out within the gap time, then both
        // in order.
        let t = Instant::now();
        let mut r = Reorder::new(1 << 20, Duration::from_secs(1), Duration::from_millis(50));
        r.expect_from(0);
        r.handle_open(6, t);
        r.handle_object(obj(6, 0), t);
        assert_eq!(drain(&mut r, t), vec![]);
        let soon = t + Duration::from_millis(10);
        r.handle_open(5, soon);
        r.handle_object(obj(5, 0), soon);
        r.handle_end(5, soon);
        assert_eq!(drain(&mut r, soon), vec![]);
        let after = soon + Duration::from_millis(50);
        assert_eq!(drain(&mut r, after), vec![(5, 0), (6, 0)]);
        // The expected group itself goes out at once.
        let mut r = Reorder::new(1 << 20, Duration::from_secs(1), Duration::from_millis(50));
        r.expect_from(7);
        r.handle_open(7, t);
        r.handle_object(obj(7, 0), t);
        assert_eq!(drain(&mut r, t), vec![(7, 0)]);
    }

    #[test]
    fn a_group_silent_before_a_newer_one_came_gets_the_whole_stall_time() {
        // A relay failing over: group 5 is silent for a while, then its rest and group 6 come
        // at once, group 6's stream first. Group 5 is not abandoned for its earlier silence.
        let t = Instant::now();
        let mut r = Reorder::new(1 << 20, Duration::from_secs(1), Duration::ZERO);
        r.handle_open(5, t);
        r.handle_object(obj(5, 0), t);
        assert_eq!(drain(&mut r, t), vec![(5, 0)]);
        let back = t + Duration::from_secs(4);
        r.handle_open(6, back);
        r.handle_object(obj(6, 0), back);
        assert_eq!(drain(&mut r, back), vec![]);
        assert_eq!(r.poll_timeout(), Some(back + Duration::from_secs(1)));
        r.handle_object(obj(5, 1), back);
        r.handle_end(5, back);
        assert_eq!(drain(&mut r, back), vec![(5, 1), (6, 0)]);
        assert_eq!(r.abandoned(), 0);
    }

    #[test]
    fn stalled_group_is_abandoned_when_a_newer_one_waits() {
        let t = Instant::now();
        let mut r = Reorder::new(1 << 20, Duration::from_secs(1), Duration::ZERO);
        r.handle_open(5, t);
        r.handle_object(obj(5, 0), t);
        assert_eq!(drain(&mut r, t), vec![(5, 0)]);
        r.handle_open(6, t);
        r.handle_object(obj(6, 0), t);
        assert_eq!(drain(&mut r, t), vec![]);
        assert_eq!(r.poll_timeout(), Some(t + Duration::from_secs(1)));
        let later = t + Duration::from_secs(1);
        assert_eq!(drain(&mut r, later), vec![(6, 0)]);
        assert_eq!(r.abandoned(), 1);
    }

    #[test]
    fn gap_is_waited_for_briefly() {
        let t = Instant::now();
        let mut r = Reorder::new(1 << 20, Duration::from_secs(1), Duration::from_millis(50));
        r.handle_open(0, t);
        r.handle_object(obj(0, 0), t);
        r.handle_end(0, t);
        assert_eq!(drain(&mut r, t), vec![(0, 0)]);
        // Group 2's stream is read before group 1's.
        r.handle_open(2, t);
        r.handle_object(obj(2, 0), t);
        assert_eq!(drain(&mut r, t), vec![]);
        r.handle_open(1, t);
        r.handle_object(obj(1, 0), t);
        r.handle_end(1, t);
        assert_eq!(drain(&mut r, t), vec![(1, 0), (2, 0)]);
        // A real gap is passed after the wait.
        r.handle_end(2, t);
        r.handle_open(9, t);
        r.handle_object(obj(9, 0), t);
        assert_eq!(drain(&mut r, t), vec![]);
        assert_eq!(drain(&mut r, t + Duration::from_millis(50)), vec![(9, 0)]);
        assert!(r.is_idle() || r.poll_timeout().is_none());
    }

    #[test]
    fn over_budget_drops_the_oldest_group() {
        let t = Instant::now();
        let mut r = Reorder::new(8, Duration::from_secs(60), Duration::ZERO);
        r.handle_open(0, t);
        r.handle_object(obj(0, 0), t);
        assert_eq!(drain(&mut r, t), vec![(0, 0)]);
        r.handle_open(1, t);
        for i in 0..4 {
            r.handle_object(obj(1, i), t);
        }
        assert_eq!(drain(&mut r, t), vec![(1, 0), (1, 1), (1, 2), (1, 3)]);
        assert_eq!(r.abandoned(), 1);
    }
}
