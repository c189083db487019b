//! What a FETCH of a range gets from a track's cache: its objects in order, an End of Unknown
//! Range for the part the cache held and dropped, and a refusal that names the window when
//! none of the range is held. Sans-IO: a plan is made under the track's lock and written by a
//! driver.

use std::fmt;

use bytes::Bytes;
use tern_relay_core::track::Track;
use tern_relay_core::types::Location;

/// One entry of a FETCH answer, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An object with its subgroup, publisher priority and properties.
    Object {
        /// Where it is.
        location: Location,
        /// Its subgroup.
        subgroup: u64,
        /// Its publisher priority.
        priority: u8,
        /// Its properties, as they came.
        properties: Bytes,
        /// Its payload, shared with the cache.
        payload: Bytes,
    },
    /// Every object after the previous entry (or the start) up to this Location, inclusive, is
    /// no longer held: End of Unknown Range.
    Unknown(Location),
}

impl Entry {
    /// The entry's Location.
    pub fn location(&self) -> Location {
        match self {
            Self::Object { location, .. } | Self::Unknown(location) => *location,
        }
    }
}

/// What a FETCH of a range gets from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The first Location asked for.
    pub start: Location,
    /// Objects and unknown ranges, in ascending order.
    pub entries: Vec<Entry>,
    /// The last Location covered (what FETCH_OK's End Location describes).
    pub last: Location,
}

/// Why a range cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No object was written yet.
    NothingPublished,
    /// The end comes before the start.
    Reversed,
    /// The start is after the Largest Object.
    AfterLargest(Location),
    /// No object of the range is held; `window` is what is held (first group, last object).
    OutsideWindow {
        /// The first group and the last object held.
        window: Option<(u64, Location)>,
    },
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

/// The first group and the last object the cache holds.
pub fn window(track: &Track) -> Option<(u64, Location)> {
    let first = track.group_ids().next()?;
    let last = track.last_in(Location::new(first, 0), Location::new(u64::MAX, u64::MAX))?;
    Some((first, last))
}

/// The objects of `start..=end` (inclusive) the cache holds.
///
/// A range that begins in what the cache dropped starts with an End of Unknown Range entry up
/// to the last object dropped; one that runs past the Largest Object ends there. A range where
/// nothing ever existed (between groups) is an empty answer covering it whole; a range none of
/// whose objects is held any more is refused, naming the window.
pub fn plan(track: &Track, start: Location, end: Location) -> Result<Plan, Refusal> {
    let largest = track.largest().ok_or(Refusal::NothingPublished)?;
    if end < start {
        return Err(Refusal::Reversed);
    }
    if start > largest {
        return Err(Refusal::AfterLargest(largest));
    }
    let end = end.min(largest);
    let mut entries = Vec::new();
    if let Some(f) = track.forgotten()
        && start <= f
    {
        entries.push(Entry::Unknown(f.min(end)));
    }
    let held = entries.len();
    entries.extend(
        track
            .page(start, end, usize::MAX, usize::MAX)
            .into_iter()
            .map(|(o, subgroup, priority)| Entry::Object {
                location: o.location,
                subgroup,
                priority,
                properties: o.properties,
                payload: o.payload,
            }),
    );
    if entries.len() == held && held > 0 {
        return Err(Refusal::OutsideWindow {
            window: window(track),
        });
    }
    let last = entries.last().map_or(end, Entry::location);
    Ok(Plan {
        start,
        entries,
        last,
    })
}

/// `plan`'s entries in descending group order: whole groups from the newest, each in object
/// order, and an unknown range at the start becomes the last entry, reaching down to the
/// range's start.
pub fn descending(plan: Plan) -> Vec<Entry> {
    let mut entries = plan.entries;
    let unknown = match entries.first() {
        Some(Entry::Unknown(_)) => {
            entries.remove(0);
            Some(Entry::Unknown(plan.start))
        }
        _ => None,
    };
    let mut groups: Vec<Vec<Entry>> = Vec::new();
    for e in entries {
        let group = e.location().group;
        match groups.last_mut() {
            Some(g) if g.first().is_some_and(|f| f.location().group == group) => g.push(e),
            _ => groups.push(vec![e]),
        }
    }
    let mut out: Vec<Entry> = groups.into_iter().rev().flatten().collect();
    out.extend(unknown);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tern_relay_core::cache::{CacheBudget, CacheGauge};
    use tern_relay_core::types::{Object, ObjectStatus};

    /// A track charged to a budget of `max_bytes`, groups `ids` of three objects of 100 bytes.
    fn track(max_bytes: usize, ids: &[u64]) -> Track {
        let gauge = Arc::new(CacheGauge::new(CacheBudget {
            max_bytes,
            max_age: Duration::from_secs(3600),
            ..CacheBudget::default()
        }));
        let mut t = Track::charged_to(gauge);
        for &g in ids {
            for o in 0..3 {
                let object = Object {
                    location: Location::new(g, o),
                    status: ObjectStatus::Normal,
                    properties: Bytes::new(),
                    payload: Bytes::from(vec![7u8; 100]),
                    end_of_group: false,
                };
                t.append(object, 0, 2, Instant::now());
            }
        }
        t
    }

    fn locations(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                Entry::Object { location: l, .. } => format!("{}.{}", l.group, l.object),
                Entry::Unknown(l) => format!("?..{}.{}", l.group, l.object),
            })
            .collect()
    }

    #[test]
    fn a_plan_serves_the_window_and_marks_what_was_dropped() {
        // 492 bytes a group (three objects of 100 plus bookkeeping): three groups fit.
        let t = track(1_500, &[0, 10, 20, 30, 40]);
        assert_eq!(t.group_ids().collect::<Vec<_>>(), [20, 30, 40]);
        let l = Location::new;

        let p = plan(&t, l(20, 1), l(30, 0)).expect("inside");
        assert_eq!(locations(&p.entries), ["20.1", "20.2", "30.0"]);
        assert_eq!(p.last, l(30, 0));
        // Partly before the window: the dropped part is an unknown range.
        let p = plan(&t, l(0, 0), l(20, 0)).expect("partly held");
        assert_eq!(locations(&p.entries), ["?..10.2", "20.0"]);
        // Past the Largest Object: the answer ends there.
        let p = plan(&t, l(40, 1), l(99, u64::MAX)).expect("to the end");
        assert_eq!(locations(&p.entries), ["40.1", "40.2"]);
        assert_eq!(p.last, l(40, 2));
        // Between groups: nothing exists there, and that is an answer.
        let p = plan(&t, l(21, 0), l(29, u64::MAX)).expect("a gap");
        assert!(p.entries.is_empty());
        assert_eq!(p.last, l(29, u64::MAX));

        let before = plan(&t, l(0, 0), l(10, u64::MAX));
        assert_eq!(
            before,
            Err(Refusal::OutsideWindow {
                window: Some((20, l(40, 2)))
            })
        );
        let reason = before.expect_err("refused").to_string();
        assert!(reason.contains("groups 20 to 40"), "{reason}");
        assert_eq!(
            plan(&t, l(41, 0), l(50, 0)),
            Err(Refusal::AfterLargest(l(40, 2)))
        );
        assert_eq!(plan(&t, l(30, 0), l(20, 0)), Err(Refusal::Reversed));
        assert_eq!(
            plan(&Track::new(), l(0, 0), l(1, 0)),
            Err(Refusal::NothingPublished)
        );
    }

    #[test]
    fn descending_takes_groups_newest_first_with_objects_in_order() {
        let t = track(1_500, &[1, 3, 5, 7]);
        let l = Location::new;
        let p = plan(&t, l(1, 0), l(7, 1)).expect("partly held");
        assert_eq!(
            locations(&p.entries),
            [
                "?..1.2", "3.0", "3.1", "3.2", "5.0", "5.1", "5.2", "7.0", "7.1"
            ]
        );
        assert_eq!(
            locations(&descending(p)),
            [
                "7.0", "7.1", "5.0", "5.1", "5.2", "3.0", "3.1", "3.2", "?..1.0"
            ],
            "the unknown range reaches down to the start"
        );
    }
}
