//! [`Sequencer`]: viewers' events in, one total order out, as objects of the `events` track.
//!
//! Sans-IO: every input carries `now` (an [`Instant`] for rate limits and group age) and the
//! origin's wall clock in Unix milliseconds (only stamped into records, never used to decide);
//! objects are drained with [`Sequencer::poll_object`]. Nothing grows without bound: events are
//! refused (and counted by [`Refusal`]) past a size, a per-viewer rate, a number of viewers
//! tracked and a queue of objects not yet drained.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::record::{DEFAULT_KIND, Record, ViewerEvent, valid_kind, valid_viewer};

/// Limits and group policy. Plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Largest event payload accepted, in bytes (checked before parsing).
    pub max_event_bytes: usize,
    /// Events one viewer may send per second, sustained.
    pub rate_per_second: u32,
    /// Events one viewer may send in a burst.
    pub burst: u32,
    /// Viewers whose rate is tracked at once; a new viewer beyond it is refused until older
    /// ones have been quiet long enough to be forgotten.
    pub max_viewers: usize,
    /// Objects sequenced but not yet drained.
    pub max_queue: usize,
    /// A group holds at most this many events…
    pub group_max_events: u64,
    /// …and an event arriving this long after its group started opens a new one.
    pub group_max_age: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_event_bytes: 1024,
            rate_per_second: 5,
            burst: 10,
            max_viewers: 10_000,
            max_queue: 1024,
            group_max_events: 64,
            group_max_age: Duration::from_secs(1),
        }
    }
}

/// Why an event was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// Larger than [`Config::max_event_bytes`].
    TooLarge,
    /// The viewer ID (from the namespace) is not 1 to 32 of `A-Z a-z 0-9 _ - .`.
    BadViewer,
    /// Not a JSON [`ViewerEvent`], or its kind is not 1 to 16 of `a-z 0-9 _ -`.
    Malformed,
    /// The viewer is over its rate.
    RateLimited,
    /// [`Config::max_viewers`] viewers are being rate-tracked already.
    TooManyViewers,
    /// [`Config::max_queue`] objects are waiting to be drained.
    QueueFull,
}

impl Refusal {
    /// Every reason, in the order of [`Stats::refused`].
    pub const ALL: [Refusal; 6] = [
        Refusal::TooLarge,
        Refusal::BadViewer,
        Refusal::Malformed,
        Refusal::RateLimited,
        Refusal::TooManyViewers,
        Refusal::QueueFull,
    ];

    /// A short name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::TooLarge => "too_large",
            Refusal::BadViewer => "bad_viewer",
            Refusal::Malformed => "malformed",
            Refusal::RateLimited => "rate_limited",
            Refusal::TooManyViewers => "too_many_viewers",
            Refusal::QueueFull => "queue_full",
        }
    }

    fn index(self) -> usize {
        Refusal::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events sequenced.
    pub accepted: u64,
    /// Events refused, per reason (indexed as [`Refusal::ALL`]).
    pub refused: [u64; 6],
    /// Groups started.
    pub groups: u64,
}

impl Stats {
    /// Events refused for `reason`.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refused[reason.index()]
    }
}

/// One event as it arrives at the origin.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    /// The viewer ID (the last field of the namespace it arrived on).
    pub viewer: &'a str,
    /// The object payload: a JSON [`ViewerEvent`].
    pub payload: &'a [u8],
    /// Monotonic time of arrival.
    pub now: Instant,
    /// The origin's wall clock, Unix milliseconds (stamped as `sequencedAt`).
    pub wall_ms: u64,
}

/// One object for the `events` track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventObject {
    /// Group ID.
    pub group: u64,
    /// Object ID within the group.
    pub object: u64,
    /// This object opens its group (start the group before writing it).
    pub new_group: bool,
    /// The event's place in the total order.
    pub seq: u64,
    /// The JSON [`Record`].
    pub payload: Bytes,
}

#[derive(Debug, Clone, Copy)]
struct OpenGroup {
    id: u64,
    first_seq: u64,
    started: Instant,
}

/// A token bucket in thousandths of an event.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    milli: u64,
    at: Instant,
}

/// Thousandths of a token one event costs.
const EVENT: u64 = 1000;

/// Puts every viewer's events in one order. See the module documentation.
#[derive(Debug)]
pub struct Sequencer {
    config: Config,
    group_base: u64,
    next_seq: u64,
    group: Option<OpenGroup>,
    last_sequenced_ms: u64,
    buckets: HashMap<String, Bucket>,
    out: VecDeque<EventObject>,
    stats: Stats,
}

impl Sequencer {
    /// A sequencer whose groups are numbered from `group_base` up, one by one (consecutive IDs:
    /// a subscriber never waits for a group that does not exist). A restarted origin passes a
    /// larger base, for example the Unix time in milliseconds, so its groups are newer than its
    /// last run's.
    pub fn new(config: Config, group_base: u64) -> Self {
        Self {
            config,
            group_base,
            next_seq: 0,
            group: None,
            last_sequenced_ms: 0,
            buckets: HashMap::new(),
            out: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Objects waiting to be drained.
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Sequence one event: its place in the order, or why it was refused (counted).
    pub fn handle_event(&mut self, a: Arrival<'_>) -> Result<u64, Refusal> {
        let result = self.admit(&a).map(|event| self.sequence(&a, event));
        match result {
            Ok(_) => self.stats.accepted += 1,
            Err(r) => self.stats.refused[r.index()] += 1,
        }
        result
    }

    /// The next object to write, in order.
    pub fn poll_object(&mut self) -> Option<EventObject> {
        self.out.pop_front()
    }

    /// Cheap checks first; the rate is charged before parsing, so a flood of garbage costs its
    /// sender its rate and the origin no parsing.
    fn admit(&mut self, a: &Arrival<'_>) -> Result<ViewerEvent, Refusal> {
        if a.payload.len() > self.config.max_event_bytes {
            return Err(Refusal::TooLarge);
        }
        if !valid_viewer(a.viewer) {
            return Err(Refusal::BadViewer);
        }
        if self.out.len() >= self.config.max_queue {
            return Err(Refusal::QueueFull);
        }
        self.charge(a.viewer, a.now)?;
        let event: ViewerEvent =
            serde_json::from_slice(a.payload).map_err(|_| Refusal::Malformed)?;
        if event.kind.as_deref().is_some_and(|k| !valid_kind(k)) {
            return Err(Refusal::Malformed);
        }
        Ok(event)
    }

    /// Take one event from the viewer's bucket.
    fn charge(&mut self, viewer: &str, now: Instant) -> Result<(), Refusal> {
        let rate = u64::from(self.config.rate_per_second);
        let cap = u64::from(self.config.burst.max(1)) * EVENT;
        let refill = |b: &mut Bucket| {
            let ms = now.saturating_duration_since(b.at).as_millis() as u64;
            b.milli = b.milli.saturating_add(ms.saturating_mul(rate)).min(cap);
            b.at = now;
        };
        if !self.buckets.contains_key(viewer) {
            if self.buckets.len() >= self.config.max_viewers {
                // Forget viewers whose bucket has refilled: they lose nothing by it.
                self.buckets.retain(|_, b| {
                    refill(b);
                    b.milli < cap
                });
            }
            if self.buckets.len() >= self.config.max_viewers {
                return Err(Refusal::TooManyViewers);
            }
            self.buckets.insert(
                viewer.to_owned(),
                Bucket {
                    milli: cap,
                    at: now,
                },
            );
        }
        let b = self
            .buckets
            .get_mut(viewer)
            .ok_or(Refusal::TooManyViewers)?;
        refill(b);
        if b.milli < EVENT {
            return Err(Refusal::RateLimited);
        }
        b.milli -= EVENT;
        Ok(())
    }

    /// Give the event its place and queue its object.
    fn sequence(&mut self, a: &Arrival<'_>, event: ViewerEvent) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let max_events = self.config.group_max_events.max(1);
        let group = match self.group {
            Some(g)
                if seq - g.first_seq < max_events
                    && a.now.saturating_duration_since(g.started) < self.config.group_max_age =>
            {
                g
            }
            _ => {
                let g = OpenGroup {
                    id: self.group_base + self.stats.groups,
                    first_seq: seq,
                    started: a.now,
                };
                self.group = Some(g);
                self.stats.groups += 1;
                g
            }
        };
        self.last_sequenced_ms = self.last_sequenced_ms.max(a.wall_ms);
        let record = Record {
            seq,
            viewer: a.viewer.to_owned(),
            kind: event.kind.unwrap_or_else(|| DEFAULT_KIND.to_owned()),
            body: event.body,
            sent_at: event.sent_at,
            sequenced_at: self.last_sequenced_ms,
        };
        self.out.push_back(EventObject {
            group: group.id,
            object: seq - group.first_seq,
            new_group: group.first_seq == seq,
            seq,
            payload: record.encode(),
        });
        seq
    }
}
