//! Fan-out: one downstream subscription reading a cached track.
//!
//! Every subscriber of a track holds a [`Fanout`]: a cursor into the track's log plus the set of
//! subgroup streams it has open. [`Fanout::poll`] turns log entries into [`Delivery`] steps for
//! the session driver (open a stream, write an object, finish, reset). Objects are handed out by
//! cloning [`bytes::Bytes`] handles, so N subscribers share one payload allocation, and nothing is
//! queued per subscriber beyond the cursor: a slow subscriber simply lags in the log.
//!
//! A subscriber that lags more than `max_lag_groups` groups or `max_pending_bytes` bytes, or whose
//! next object is older than `max_lag`, has its old subgroup streams reset and jumps to the start
//! of the newest group. One
//! that keeps having to skip (more than `max_skips` within `skip_window`) is ended with
//! PUBLISH_DONE(TOO_FAR_BEHIND).
//!
//! Publisher priority 0 ([`NEVER_SKIP_PRIORITY`]) is the publisher saying "every group matters"
//! (catalogs, the init track, the origin's ordered `events` track): a reader on such a subgroup
//! is never skipped by this policy, only slowed down to its own pace. It stays bounded: the
//! cache still evicts under its byte and age budget (a reader whose entries were evicted lags
//! and skips, counted like any skip), and a subscriber that asked for a DELIVERY_TIMEOUT itself
//! still gets it. (The driver's per-write timeout still resets a stream that the subscriber's
//! QUIC flow control keeps shut for that long: a stuck connection, not a slow reader.)

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use tern_moq::message::codes::StreamResetCode;

use super::track::{Cursor, Read, SubgroupEnd, Track};
use super::types::{Object, ObjectStatus, Range};

/// Stream reset code DELIVERY_TIMEOUT (draft-18 "Stream Reset Error Codes").
pub const RESET_DELIVERY_TIMEOUT: u64 = StreamResetCode::DELIVERY_TIMEOUT.0;
/// Stream reset code CANCELLED.
pub const RESET_CANCELLED: u64 = StreamResetCode::CANCELLED.0;

/// Publisher priority of subgroups the lag policy never skips.
pub const NEVER_SKIP_PRIORITY: u8 = 0;

/// Policy for slow subscribers.
#[derive(Debug, Clone, Copy)]
pub struct LagPolicy {
    /// Groups a subscriber may trail the newest group before skipping.
    pub max_lag_groups: u64,
    /// Bytes of older groups a subscriber may have left to send before skipping (what is queued
    /// for it: the cache holds them, the cursor has not reached them).
    pub max_pending_bytes: u64,
    /// Age of the next pending object beyond which the subscriber skips (the delivery timeout).
    pub max_lag: Duration,
    /// How long a reader may trail by more than `max_lag_groups` before it skips: a reader
    /// catching up from the cache (an absolute filter, a burst of groups) is not slow.
    pub group_grace: Duration,
    /// Skips tolerated within `skip_window` before TOO_FAR_BEHIND.
    pub max_skips: usize,
    /// Window for counting skips.
    pub skip_window: Duration,
}

impl Default for LagPolicy {
    fn default() -> Self {
        Self {
            max_lag_groups: 2,
            max_pending_bytes: 4 << 20,
            max_lag: Duration::from_secs(5),
            group_grace: Duration::from_millis(500),
            max_skips: 5,
            skip_window: Duration::from_secs(10),
        }
    }
}

/// Why a subscription ended from the relay's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneReason {
    /// The subscriber stayed too far behind (PUBLISH_DONE TOO_FAR_BEHIND).
    TooFarBehind,
    /// The requested range is complete (PUBLISH_DONE SUBSCRIPTION_ENDED).
    RangeComplete,
    /// The track ended (PUBLISH_DONE TRACK_ENDED).
    TrackEnded,
    /// The publisher restarted the track's group numbering: the subscription's range is in a
    /// numbering that is gone (PUBLISH_DONE TRACK_ENDED; subscribing again gets the new one).
    Restarted,
}

/// One step for the session driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Open a subgroup stream.
    Open {
        /// Group ID.
        group: u64,
        /// Subgroup ID.
        subgroup: u64,
        /// Publisher priority from the upstream subgroup.
        publisher_priority: u8,
        /// QUIC stream priority (higher is sent first).
        send_order: i32,
        /// The stream begins with the first object ever published in its subgroup, so its
        /// header carries FIRST_OBJECT (draft-18: a relay forwarding such a subgroup MUST set
        /// it). Known for a subgroup that begins with object 0; left unset otherwise.
        first_object: bool,
    },
    /// Write an object on an open subgroup stream.
    Object {
        /// Group ID.
        group: u64,
        /// Subgroup ID.
        subgroup: u64,
        /// Object ID of the previous object written on this stream (for the ID delta).
        previous: Option<u64>,
        /// The object; its payload is shared with every other subscriber.
        object: Object,
    },
    /// Finish (FIN) a subgroup stream.
    Finish {
        /// Group ID.
        group: u64,
        /// Subgroup ID.
        subgroup: u64,
    },
    /// Reset a subgroup stream.
    Reset {
        /// Group ID.
        group: u64,
        /// Subgroup ID.
        subgroup: u64,
        /// Reset code.
        code: u64,
    },
    /// The subscription is over.
    Done(DoneReason),
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanoutStats {
    /// Objects handed out.
    pub objects: u64,
    /// Payload bytes handed out.
    pub bytes: u64,
    /// Times the subscriber jumped to the newest group.
    pub skips: u64,
    /// Subgroup streams reset because of lag.
    pub resets: u64,
}

/// One downstream subscription's delivery state.
#[derive(Debug)]
pub struct Fanout {
    range: Range,
    cursor: Cursor,
    forward: bool,
    subscriber_priority: u8,
    descending: bool,
    policy: LagPolicy,
    /// The subscriber asked for a delivery timeout (it applies even at priority 0).
    subscriber_timeout: bool,
    /// Open subgroup streams: (group, subgroup) → last object ID written.
    open: BTreeMap<(u64, u64), Option<u64>>,
    pending: VecDeque<Delivery>,
    skips: VecDeque<Instant>,
    /// When the reader was last caught up with the track's log (or first polled).
    caught_up_at: Option<Instant>,
    done: bool,
    stats: FanoutStats,
}

impl Fanout {
    /// Start delivering `range` from `cursor` (use [`Track::head`] to include cached objects,
    /// [`Track::tail`] for only new ones).
    pub fn new(range: Range, cursor: Cursor, subscriber_priority: u8, policy: LagPolicy) -> Self {
        Self {
            range,
            cursor,
            forward: true,
            subscriber_priority,
            descending: false,
            policy,
            subscriber_timeout: false,
            open: BTreeMap::new(),
            pending: VecDeque::new(),
            skips: VecDeque::new(),
            caught_up_at: None,
            done: false,
            stats: FanoutStats::default(),
        }
    }

    /// Set the Forward State (0 pauses delivery; control messages still flow).
    pub fn set_forward(&mut self, forward: bool) {
        self.forward = forward;
    }

    /// Change the subscriber priority (REQUEST_UPDATE); applies to streams opened later.
    pub fn set_subscriber_priority(&mut self, priority: u8) {
        self.subscriber_priority = priority;
    }

    /// The subscriber's delivery timeout (SUBGROUP_ / OBJECT_DELIVERY_TIMEOUT): objects older
    /// than this are not worth sending, so a reader this far behind skips ahead.
    pub fn set_delivery_timeout(&mut self, timeout: Duration) {
        self.policy.max_lag = timeout;
        self.subscriber_timeout = true;
    }

    /// The slow-subscriber policy in force.
    pub fn policy(&self) -> LagPolicy {
        self.policy
    }

    /// Prefer newer groups first.
    pub fn set_descending(&mut self, descending: bool) {
        self.descending = descending;
    }

    /// Narrow or change the range (REQUEST_UPDATE).
    pub fn set_range(&mut self, range: Range) {
        self.range = range;
    }

    /// Counters.
    pub fn stats(&self) -> FanoutStats {
        self.stats
    }

    /// Number of subgroup streams currently open.
    pub fn open_streams(&self) -> usize {
        self.open.len()
    }

    /// Whether the subscription has ended.
    pub fn is_done(&self) -> bool {
        self.done && self.pending.is_empty()
    }

    /// QUIC stream priority for a subgroup: subscriber priority, then publisher priority, then
    /// group order (draft-18 "Scheduling Algorithm"). Higher values are sent first. Groups are
    /// ordered by their rank in the track (`ordinal`, see [`Track::group_ordinal`]) rather than
    /// their ID, whose low bits say nothing when IDs leap (an origin numbering groups by media
    /// time in milliseconds); 15 bits of rank wrap once every 32,768 groups.
    pub fn send_order(&self, publisher_priority: u8, ordinal: u64) -> i32 {
        let sub = (255 - self.subscriber_priority as i32) << 23;
        let publ = (255 - publisher_priority as i32) << 15;
        let g = (ordinal & 0x7fff) as i32;
        let order = if self.descending { g } else { 0x7fff - g };
        sub | publ | order
    }

    /// Next step, or `None` when caught up.
    pub fn poll(&mut self, track: &Track, now: Instant) -> Option<Delivery> {
        if self.cursor.next >= track.tail().next || self.caught_up_at.is_none() {
            self.caught_up_at = Some(now);
        }
        loop {
            if let Some(d) = self.pending.pop_front() {
                return Some(d);
            }
            if self.done {
                return None;
            }
            if self.cursor.epoch != track.restarts() {
                self.end(DoneReason::Restarted);
                continue;
            }
            if self.is_lagging(track, now) {
                self.skip(track, now);
                continue;
            }
            match track.read(&mut self.cursor)? {
                Read::Lagged => self.evicted(track, now),
                Read::Restarted => self.end(DoneReason::Restarted),
                Read::Object(object, subgroup, priority) => {
                    let group = object.location.group;
                    let ordinal = track.group_ordinal(group).unwrap_or(group);
                    self.on_object(object, subgroup, priority, ordinal);
                }
                Read::SubgroupEnd(group, subgroup, end) => {
                    if self.open.remove(&(group, subgroup)).is_some() {
                        self.pending.push_back(match end {
                            SubgroupEnd::Fin => Delivery::Finish { group, subgroup },
                            SubgroupEnd::Reset(code) => Delivery::Reset {
                                group,
                                subgroup,
                                code,
                            },
                        });
                    }
                    self.check_range_complete(track, group);
                }
            }
        }
    }

    /// End the subscription: its open streams finish, then [`Delivery::Done`].
    fn end(&mut self, reason: DoneReason) {
        self.finish_all();
        self.pending.push_back(Delivery::Done(reason));
        self.done = true;
    }

    fn on_object(&mut self, object: &Object, subgroup: u64, priority: u8, ordinal: u64) {
        let loc = object.location;
        if !self.forward || !self.range.contains(loc) {
            // The end of the track ends every subscription still open on it, also one that is
            // paused (forward 0) or whose range skips the end object itself.
            if object.status == ObjectStatus::EndOfTrack && loc >= self.range.start {
                self.finish_all();
                self.pending
                    .push_back(Delivery::Done(DoneReason::TrackEnded));
                self.done = true;
            }
            return;
        }
        let key = (loc.group, subgroup);
        let previous = match self.open.get(&key) {
            Some(prev) => *prev,
            None => {
                self.pending.push_back(Delivery::Open {
                    group: loc.group,
                    subgroup,
                    publisher_priority: priority,
                    send_order: self.send_order(priority, ordinal),
                    first_object: loc.object == 0,
                });
                None
            }
        };
        self.open.insert(key, Some(loc.object));
        self.stats.objects += 1;
        self.stats.bytes += object.payload.len() as u64;
        self.pending.push_back(Delivery::Object {
            group: loc.group,
            subgroup,
            previous,
            object: object.clone(),
        });
        if object.status == ObjectStatus::EndOfTrack {
            self.finish_all();
            self.pending
                .push_back(Delivery::Done(DoneReason::TrackEnded));
            self.done = true;
        }
    }

    /// An AbsoluteRange is complete once the reader has read everything cached, every cached
    /// group in range (the end group included) is over, and no stream in range is open.
    fn check_range_complete(&mut self, track: &Track, _group: u64) {
        if let Some(end) = self.range.end_group
            && self.cursor.next >= track.tail().next
            && track.group_finished(end)
            && (self.range.start.group > end
                || track
                    .group_ids_in(self.range.start.group..=end)
                    .all(|g| track.group_finished(g)))
            && !self.open.keys().any(|(g, _)| *g <= end)
        {
            self.pending
                .push_back(Delivery::Done(DoneReason::RangeComplete));
            self.done = true;
        }
    }

    fn finish_all(&mut self) {
        for ((group, subgroup), _) in std::mem::take(&mut self.open) {
            self.pending.push_back(Delivery::Finish { group, subgroup });
        }
    }

    /// Behind for longer than the grace with too many groups to go, or behind for longer than
    /// the delivery timeout with a newer group waiting. Never at publisher priority 0, unless
    /// the subscriber set its own delivery timeout.
    fn is_lagging(&self, track: &Track, now: Instant) -> bool {
        let (Some(at), Some(newest)) = (track.group_at(self.cursor), track.newest_group()) else {
            return false;
        };
        let never_skip = track.priority_at(self.cursor) == Some(NEVER_SKIP_PRIORITY);
        if never_skip && !self.subscriber_timeout {
            return false;
        }
        // Behind for as long as the reader has not been caught up, but no longer than the entry
        // it is at has existed: a reader idle at the tail is not behind when a burst lands.
        let behind = self
            .caught_up_at
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
            .min(track.age_at(self.cursor, now).unwrap_or(Duration::ZERO));
        // Groups held after the reader's, not the difference of IDs: IDs may leap (an origin
        // that numbers groups by media time).
        let limit = self.policy.max_lag_groups.saturating_add(1);
        let too_much = track.groups_after(at, limit) > self.policy.max_lag_groups
            || (at < newest && track.pending_bytes(self.cursor) > self.policy.max_pending_bytes);
        if too_much && behind > self.policy.group_grace {
            return true;
        }
        at < newest && behind > self.policy.max_lag
    }

    /// The cache evicted entries the reader had not read (the cursor is now at the oldest one
    /// held). A priority-0 reader carries on from there, having lost only what was evicted;
    /// any other reader jumps to the newest group. Either way it counts as a skip.
    fn evicted(&mut self, track: &Track, now: Instant) {
        if track.priority_at(self.cursor) == Some(NEVER_SKIP_PRIORITY) {
            let oldest = track.group_at(self.cursor).unwrap_or(0);
            self.jump(oldest, self.cursor, now);
        } else {
            self.skip(track, now);
        }
    }

    /// Reset streams of old groups and jump to the newest group's first entry.
    fn skip(&mut self, track: &Track, now: Instant) {
        let newest = track.newest_group().unwrap_or(0);
        self.jump(newest, track.newest_group_start(), now);
    }

    /// Reset the streams of groups before `group` and move the cursor to `target`.
    fn jump(&mut self, group: u64, target: Cursor, now: Instant) {
        let old: Vec<(u64, u64)> = self
            .open
            .keys()
            .copied()
            .filter(|(g, _)| *g < group)
            .collect();
        for (group, subgroup) in old {
            self.open.remove(&(group, subgroup));
            self.stats.resets += 1;
            self.pending.push_back(Delivery::Reset {
                group,
                subgroup,
                code: RESET_DELIVERY_TIMEOUT,
            });
        }
        // The cursor only moves forward: no entry of the target group lies before the target,
        // so nothing is written twice.
        self.cursor = if target.next > self.cursor.next {
            target
        } else {
            self.cursor
        };
        self.stats.skips += 1;
        self.caught_up_at = Some(now);
        self.skips.push_back(now);
        while self
            .skips
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > self.policy.skip_window)
        {
            self.skips.pop_front();
        }
        if self.skips.len() > self.policy.max_skips {
            self.finish_all();
            self.pending
                .push_back(Delivery::Done(DoneReason::TooFarBehind));
            self.done = true;
        }
    }
}
