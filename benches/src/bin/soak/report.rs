//! The minute reports: relay memory, viewers receiving, objects lost, stuck SUBSCRIBEs; one
//! printed line and one CSV row a minute (the plots and the summary are in
//! [`crate::summary`]).
//!
//! Objects lost, as in `fanout`: for each viewer, the locations of its broadcast written while
//! a feed was up, after the viewer's first object, that it never got. Each minute judges the
//! locations written from 62 s to 2 s ago (the tail of 2 s is allowed to arrive), and nothing
//! written in the last 2 s of a viewer's stay. A viewer whose path went through a relay killed
//! in that span (see [`crate::chaos`]) has its losses counted apart from the others.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::chaos::Kill;
use crate::publisher::{Broadcast, Loc};
use crate::tree::Tree;
use crate::viewer::{Registry, lock};

/// The tail a location has to arrive.
const TAIL: Duration = Duration::from_secs(2);
/// A viewer attached this long before the minute's end is expected to have received in it.
const SETTLED: Duration = Duration::from_secs(5);
/// A loss this close to a feed's reconnection (before it went down, after it came back) is
/// counted as near a publisher reconnect too.
const NEAR_BEFORE: Duration = Duration::from_secs(1);
const NEAR_AFTER: Duration = Duration::from_secs(5);

macro_rules! counters {
    ($($field:ident),* $(,)?) => {
        /// Events counted as they happen, taken (and reset) by each minute's report.
        #[derive(Debug, Default)]
        pub struct Counters {
            $(#[doc = stringify!($field)] pub $field: AtomicU64,)*
        }

        /// One minute's events.
        #[derive(Debug, Default, Clone, Copy)]
        pub struct Events {
            $(#[doc = stringify!($field)] pub $field: u64,)*
        }

        impl Counters {
            /// The events since the last call.
            pub fn take(&self) -> Events {
                Events { $($field: self.$field.swap(0, Ordering::Relaxed),)* }
            }
        }

        impl Events {
            /// (CSV column, value), in order.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($field), self.$field),)*]
            }

            /// Add `o`'s counts.
            pub fn add(&mut self, o: &Events) {
                $(self.$field += o.$field;)*
            }
        }
    };
}

counters!(
    joins,
    leaves,
    ended_early,
    connect_errors,
    subscribe_errors,
    stuck,
    corrupt,
    publisher_reconnects,
    publisher_failures,
    publisher_connect_errors,
);

impl Counters {
    /// Count one event.
    pub fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Objects expected and lost on a set of paths.
#[derive(Debug, Default, Clone, Copy)]
pub struct Loss {
    /// Viewers judged.
    pub viewers: u64,
    /// Locations expected.
    pub expected: u64,
    /// Locations never received.
    pub lost: u64,
}

impl Loss {
    /// Add `o`'s figures.
    pub fn add(&mut self, o: &Loss) {
        self.viewers += o.viewers;
        self.expected += o.expected;
        self.lost += o.lost;
    }
}

/// One minute's figures.
#[derive(Debug, Clone)]
pub struct Minute {
    /// Minutes since the viewers started.
    pub minute: u32,
    /// RSS of each relay (bytes), `None` while down.
    pub rss: Vec<Option<u64>>,
    /// Viewers subscribed for at least 5 s by the minute's end and present in it.
    pub attached: u64,
    /// Those of them that received an object in the minute.
    pub receiving: u64,
    /// Viewers subscribed right now.
    pub watching: u64,
    /// Events in the minute.
    pub events: Events,
    /// Losses on paths that did not lose a relay.
    pub surviving: Loss,
    /// Of `surviving.lost`, those near a reconnection of the broadcast's publisher.
    pub near_reconnect: u64,
    /// Losses on paths through a killed relay.
    pub killed_paths: Loss,
    /// Relays killed in the minute.
    pub killed: Vec<String>,
}

/// `t - d`, or `t` where the clock does not reach back that far.
fn earlier(t: Instant, d: Duration) -> Instant {
    t.checked_sub(d).unwrap_or(t)
}

fn overlaps(a: (Instant, Instant), b: (Instant, Instant)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The figures of the minute ending `now`.
pub fn measure(
    minute: u32,
    now: Instant,
    tree: &Tree,
    registry: &Registry,
    broadcasts: &[Arc<Broadcast>],
    kills: &[Kill],
    counters: &Counters,
) -> Minute {
    let ago = |d: Duration| earlier(now, d);
    let span = (ago(Duration::from_secs(60)), now);
    let judged = (ago(Duration::from_secs(60) + TAIL), ago(TAIL));
    let mut published: Vec<Vec<(Loc, Instant)>> = Vec::new();
    let mut reconnects: Vec<Vec<(Instant, Instant)>> = Vec::new();
    for b in broadcasts {
        let log = b.log();
        published.push(
            log.published
                .iter()
                .filter(|(_, t)| *t >= judged.0 && *t < judged.1)
                .copied()
                .collect(),
        );
        reconnects.push(
            log.reconnects
                .iter()
                .map(|&(down, up)| (earlier(down, NEAR_BEFORE), up.unwrap_or(now) + NEAR_AFTER))
                .collect(),
        );
    }
    let mut m = Minute {
        minute,
        rss: (0..tree.specs.len()).map(|i| tree.rss(i)).collect(),
        attached: 0,
        receiving: 0,
        watching: 0,
        events: counters.take(),
        surviving: Loss::default(),
        near_reconnect: 0,
        killed_paths: Loss::default(),
        killed: kills
            .iter()
            .filter(|k| k.at >= span.0 && k.at < span.1)
            .map(|k| k.name.clone())
            .collect(),
    };
    for v in registry.snapshot() {
        let v = lock(&v);
        let presence = (v.joined, v.left.unwrap_or(now));
        if !overlaps(presence, (judged.0, now)) {
            continue;
        }
        if v.left.is_none() && v.subscribed.is_some() {
            m.watching += 1;
        }
        if v.subscribed.is_some_and(|s| s + SETTLED <= now) && presence.1 >= span.0 {
            m.attached += 1;
            if v.last_object.is_some_and(|t| t >= span.0) {
                m.receiving += 1;
            }
        }
        let Some(first) = v.first else {
            continue;
        };
        let cutoff = v.left.map(|l| earlier(l, TAIL));
        let mut loss = Loss {
            viewers: 1,
            ..Loss::default()
        };
        let mut near = 0;
        for &(loc, t) in &published[v.broadcast] {
            if loc <= first || cutoff.is_some_and(|c| t > c) {
                continue;
            }
            loss.expected += 1;
            if !v.received.contains(&loc) {
                loss.lost += 1;
                if reconnects[v.broadcast]
                    .iter()
                    .any(|&(a, b)| t >= a && t <= b)
                {
                    near += 1;
                }
            }
        }
        if loss.expected == 0 {
            continue;
        }
        let cut = kills.iter().any(|k| {
            let w = k.window(now);
            k.affects(v.edge, v.broadcast) && overlaps(w, judged) && overlaps(w, presence)
        });
        if cut {
            m.killed_paths.add(&loss);
        } else {
            m.surviving.add(&loss);
            m.near_reconnect += near;
        }
    }
    m
}

/// The CSV header.
pub fn csv_header(tree: &Tree) -> String {
    let mut cols = vec!["minute".to_owned()];
    cols.extend(tree.specs.iter().map(|s| format!("rss_mib_{}", s.name)));
    cols.extend(["viewers_attached", "viewers_receiving", "viewers_watching"].map(String::from));
    cols.extend(
        Events::default()
            .fields()
            .iter()
            .map(|(n, _)| n.to_string()),
    );
    cols.extend(
        [
            "viewers_surviving_paths",
            "expected_surviving_paths",
            "lost_surviving_paths",
            "lost_near_publisher_reconnect",
            "viewers_killed_paths",
            "expected_killed_paths",
            "lost_killed_paths",
            "killed",
        ]
        .map(String::from),
    );
    cols.join(",")
}

/// Bytes in MiB.
pub fn mib(b: u64) -> f64 {
    b as f64 / 1_048_576.0
}

impl Minute {
    /// The CSV row.
    pub fn csv(&self) -> String {
        let mut cols = vec![self.minute.to_string()];
        cols.extend(
            self.rss
                .iter()
                .map(|r| r.map_or(String::new(), |b| format!("{:.1}", mib(b)))),
        );
        cols.extend([self.attached, self.receiving, self.watching].map(|n| n.to_string()));
        cols.extend(self.events.fields().iter().map(|(_, v)| v.to_string()));
        let (s, k) = (&self.surviving, &self.killed_paths);
        cols.extend(
            [
                s.viewers,
                s.expected,
                s.lost,
                self.near_reconnect,
                k.viewers,
                k.expected,
                k.lost,
            ]
            .map(|n| n.to_string()),
        );
        cols.push(self.killed.join(" "));
        cols.join(",")
    }

    /// The printed line.
    pub fn line(&self, tree: &Tree) -> String {
        let rss: Vec<String> = tree
            .specs
            .iter()
            .zip(&self.rss)
            .map(|(s, r)| {
                let v = r.map_or("down".to_owned(), |b| format!("{:.0}", mib(b)));
                format!("{} {v}", s.name)
            })
            .collect();
        let e = &self.events;
        let mut line = format!(
            "min {:>3} | RSS MiB: {} | viewers receiving/attached in the minute {}/{} ({} watching \
             now) | joins {} \
             leaves {} ended-early {} | stuck {} | errors: connect {} subscribe {} | lost {}/{} \
             on surviving paths ({} near publisher reconnects), {}/{} on {} viewers of killed \
             paths | publisher reconnects {} ({} failed)",
            self.minute,
            rss.join(", "),
            self.receiving,
            self.attached,
            self.watching,
            e.joins,
            e.leaves,
            e.ended_early,
            e.stuck,
            e.connect_errors,
            e.subscribe_errors,
            self.surviving.lost,
            self.surviving.expected,
            self.near_reconnect,
            self.killed_paths.lost,
            self.killed_paths.expected,
            self.killed_paths.viewers,
            e.publisher_reconnects,
            e.publisher_failures,
        );
        if e.corrupt > 0 {
            line.push_str(&format!(" | CORRUPT payloads {}", e.corrupt));
        }
        if !self.killed.is_empty() {
            line.push_str(&format!(" | killed {}", self.killed.join(" ")));
        }
        line
    }
}

/// The CSV file, a row appended (and flushed) each minute.
pub struct Csv(File);

impl Csv {
    /// Create `path` (replacing it) with its header.
    pub fn create(path: &Path, header: &str) -> anyhow::Result<Self> {
        let mut f = File::create(path)?;
        writeln!(f, "{header}")?;
        Ok(Self(f))
    }

    /// Append a row.
    pub fn row(&mut self, row: &str) -> anyhow::Result<()> {
        writeln!(self.0, "{row}")?;
        self.0.flush()?;
        Ok(())
    }
}
