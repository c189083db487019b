//! A track's cost per object does not grow with what a group already holds: a publisher
//! sending one group of many datagrams, or many subgroups, is deduplicated by one lookup per
//! object, and the number of subgroups a group may open is bounded. The cache's budget is paid
//! by the writer at append, with no walk over the other tracks. Through the public API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_relay_core::cache::{CacheBudget, CacheGauge};
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

/// Tracks of two groups each, charged to one gauge whose budget the last append overshoots.
fn full_cache(tracks: u64) -> (Arc<CacheGauge>, Vec<Track>) {
    let per_track = {
        let mut t = Track::new();
        t.append(object(0, 0), 0, 128, Instant::now());
        t.append(object(1, 0), 0, 128, Instant::now());
        t.bytes()
    };
    let gauge = Arc::new(CacheGauge::new(CacheBudget {
        max_bytes: per_track * usize::try_from(tracks).expect("small"),
        max_age: Duration::from_secs(3600),
        ..CacheBudget::default()
    }));
    let now = Instant::now();
    let held = (0..tracks)
        .map(|_| {
            let mut t = Track::charged_to(gauge.clone());
            t.append(object(0, 0), 0, 128, now);
            t.append(object(1, 0), 0, 128, now);
            t
        })
        .collect();
    (gauge, held)
}

#[test]
fn a_writer_over_the_budget_pays_with_its_own_groups_and_visits_no_other_track() {
    let (gauge, mut tracks) = full_cache(2_000);
    assert!(!gauge.over());
    assert_eq!(gauge.groups(), 4_000);
    // Track 7 writes a third group: the process is over, so track 7 gives up its oldest.
    tracks[7].append(object(2, 0), 0, 128, Instant::now());
    assert!(!gauge.over(), "{} held", gauge.bytes());
    assert_eq!(tracks[7].group_ids().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(gauge.evictions(), 1);
    for (i, t) in tracks.iter().enumerate().filter(|(i, _)| *i != 7) {
        assert_eq!(t.group_ids().collect::<Vec<_>>(), [0, 1], "track {i}");
    }
    assert_eq!(
        gauge.bytes(),
        tracks.iter().map(Track::bytes).sum::<usize>(),
        "the gauge is the sum of what the tracks hold"
    );
}

/// Median time of an append that goes over the budget and evicts, with `tracks` held.
fn paying_append(tracks: u64) -> Duration {
    let (_gauge, mut held) = full_cache(tracks);
    let mut times: Vec<Duration> = (0..301u64)
        .map(|i| {
            let t = &mut held[usize::try_from(i % tracks).expect("small")];
            let group = t.newest_group().expect("held") + 1;
            let start = Instant::now();
            t.append(object(group, 0), 0, 128, Instant::now());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

#[test]
fn paying_for_an_append_costs_the_same_with_20_or_20000_tracks_cached() {
    let small = (0..3).map(|_| paying_append(20)).min().expect("runs");
    let large = (0..3).map(|_| paying_append(20_000)).min().expect("runs");
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-9);
    assert!(
        ratio < 5.0,
        "{small:?} per paying append with 20 tracks, {large:?} with 20,000 ({ratio:.1}x)"
    );
}
