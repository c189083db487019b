//! A track's cost per object does not grow with what a group already holds: a publisher
//! sending one group of many datagrams, or many subgroups, is deduplicated by one lookup per
//! object, and the number of subgroups a group may open is bounded. Through the public API.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_relay_core::track::{Appended, DATAGRAM_SUBGROUP, MAX_SUBGROUPS_PER_GROUP, Track};
use tern_relay_core::types::{Location, Object, ObjectStatus};

fn object(group: u64, id: u64) -> Object {
    Object {
        location: Location::new(group, id),
        status: ObjectStatus::Normal,
        properties: Bytes::new(),
        payload: Bytes::from_static(b"datagram"),
        end_of_group: false,
    }
}

/// Time per object of one group of `n` datagrams with distinct IDs.
fn per_datagram(n: u64) -> Duration {
    let mut track = Track::new();
    let now = Instant::now();
    let start = Instant::now();
    for id in 0..n {
        let appended = track.append(object(0, id), DATAGRAM_SUBGROUP, 128, now);
        assert!(matches!(appended, Appended::New(_)), "{id}: {appended:?}");
    }
    // Every one is a duplicate the second time.
    assert!(matches!(
        track.append(object(0, n / 2), DATAGRAM_SUBGROUP, 128, now),
        Appended::Duplicate
    ));
    start.elapsed() / u32::try_from(n).expect("small")
}

#[test]
fn a_group_of_50000_datagrams_costs_no_more_per_object_than_one_of_5000() {
    // The best of three of each, so that the machine's load does not decide.
    let small = (0..3).map(|_| per_datagram(5_000)).min().expect("runs");
    let large = (0..3).map(|_| per_datagram(50_000)).min().expect("runs");
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    assert!(
        ratio < 4.0,
        "{small:?} per datagram in a group of 5,000, {large:?} in one of 50,000 ({ratio:.1}x)"
    );
}

#[test]
fn a_group_opens_a_bounded_number_of_subgroups_and_duplicates_are_found_across_them() {
    let mut track = Track::new();
    let now = Instant::now();
    let subgroups = MAX_SUBGROUPS_PER_GROUP as u64;
    for sg in 0..subgroups {
        assert!(matches!(
            track.append(object(0, sg), sg, 128, now),
            Appended::New(_)
        ));
    }
    // The same object ID in another subgroup, or as a datagram, is the same object.
    assert!(matches!(
        track.append(object(0, 7), 3, 128, now),
        Appended::Duplicate
    ));
    assert!(matches!(
        track.append(object(0, 9), DATAGRAM_SUBGROUP, 128, now),
        Appended::Duplicate
    ));
    // One subgroup more is refused; the subgroups already open take objects on.
    assert!(matches!(
        track.append(object(0, subgroups + 1), subgroups + 1, 128, now),
        Appended::Malformed(_)
    ));
    assert!(matches!(
        track.append(object(0, subgroups + 2), subgroups - 1, 128, now),
        Appended::New(_)
    ));
    // The next group has its own allowance.
    assert!(matches!(
        track.append(object(1, 0), subgroups + 1, 128, now),
        Appended::New(_)
    ));
}

/// Tracks behind a counter of visits, as a driver's locks would be.
struct Counted<'a> {
    tracks: &'a mut [Track],
    visits: usize,
}

impl tern_relay_core::cache::Tracks for Counted<'_> {
    fn count(&self) -> usize {
        self.tracks.len()
    }

    fn with<R>(&mut self, i: usize, f: impl FnOnce(&mut Track) -> R) -> Option<R> {
        self.visits += 1;
        self.tracks.get_mut(i).map(f)
    }
}

#[test]
fn a_sweep_visits_each_track_alone_and_evicts_the_oldest_groups_first() {
    use tern_relay_core::cache::{CacheBudget, sweep};
    let start = Instant::now();
    // 2,000 tracks of two groups each, the groups of track i created at i ms and 10 s + i ms.
    let mut tracks: Vec<Track> = (0..2_000u64)
        .map(|i| {
            let mut t = Track::new();
            let at = start + Duration::from_millis(i);
            t.append(object(0, 0), 0, 128, at);
            t.append(object(1, 0), 0, 128, at + Duration::from_secs(10));
            t
        })
        .collect();
    let per_group = tracks[0].bytes() / 2;
    let budget = CacheBudget {
        // Room for all but 10 groups.
        max_bytes: per_group * (4_000 - 10),
        max_age: Duration::from_secs(3600),
        ..CacheBudget::default()
    };
    let mut set = Counted {
        tracks: &mut tracks,
        visits: 0,
    };
    let swept = sweep(&mut set, &budget, start + Duration::from_secs(20));
    assert_eq!(swept.groups, 10);
    assert!(swept.held <= budget.max_bytes);
    // One visit per track, then one per eviction: never every track per eviction.
    assert!(set.visits <= 2_000 + 10, "{} visits", set.visits);
    // The ten oldest groups went: tracks 0..10 lost group 0, the others kept it.
    for (i, t) in tracks.iter().enumerate() {
        let kept = t.group_ids().collect::<Vec<_>>();
        if i < 10 {
            assert_eq!(kept, [1], "track {i}");
        } else {
            assert_eq!(kept, [0, 1], "track {i}");
        }
    }
}
