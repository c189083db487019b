//! In-memory tests of the relay core on a virtual clock: no runtime, no socket.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::cache::{CacheBudget, CacheGauge};
use super::fanout::{Delivery, DoneReason, Fanout, LagPolicy};
use super::router::{Command, Refusal, Router, RouterConfig, TrackId};
use super::track::{Appended, SubgroupEnd, Track};
use super::types::{Filter, Location, Object, ObjectStatus, Range, TrackName};

/// Publisher priority of a video track (the lag policy may skip its groups; priority 0 it never
/// skips).
const VIDEO: u8 = 2;

fn obj(group: u64, object: u64, payload: Bytes) -> Object {
    Object {
        location: Location::new(group, object),
        status: ObjectStatus::Normal,
        properties: Bytes::new(),
        payload,
        end_of_group: false,
    }
}

/// Drain every delivery of a fan-out reader.
fn drain(f: &mut Fanout, t: &Track, now: Instant) -> Vec<Delivery> {
    std::iter::from_fn(|| f.poll(t, now)).collect()
}

fn objects(ds: &[Delivery]) -> Vec<Location> {
    ds.iter()
        .filter_map(|d| match d {
            Delivery::Object { object, .. } => Some(object.location),
            _ => None,
        })
        .collect()
}

/// Publisher → router + track → 3 subscribers, all on a virtual clock.
#[test]
fn publisher_to_three_subscribers_virtual_clock() {
    let t0 = Instant::now();
    let mut router = Router::new(RouterConfig::default());
    let name = TrackName::from_path("live/demo", "video");
    router.handle_publish_namespace(1, 0, name.namespace.clone(), Vec::new(), t0);
    assert_eq!(
        router.poll_command(),
        Some(Command::Ok {
            session: 1,
            request: 0
        })
    );

    // Three subscribers: exactly one upstream SUBSCRIBE.
    for s in 10..13 {
        router.handle_subscribe(
            s,
            0,
            name.clone(),
            Filter::NextGroupStart,
            Duration::ZERO,
            t0,
        );
    }
    let up = router.poll_command();
    let Some(Command::SubscribeUpstream {
        session: 1, track, ..
    }) = up
    else {
        panic!("expected one upstream subscribe, got {up:?}");
    };
    assert_eq!(
        router.poll_command(),
        None,
        "waiting subscribers get nothing before upstream OK"
    );
    assert_eq!(router.upstream_subscribes(), 1);
    router.handle_upstream_ok(track, 1);

    let mut tracks: HashMap<TrackId, Track> = HashMap::new();
    let t = tracks.entry(track).or_default();
    let mut readers = Vec::new();
    while let Some(cmd) = router.poll_command() {
        let Command::SubscribeOk {
            session,
            filter,
            track: id,
            ..
        } = cmd
        else {
            panic!("unexpected {cmd:?}");
        };
        assert_eq!(id, track);
        let range = filter.resolve(t.largest()).expect("range");
        readers.push((
            session,
            Fanout::new(range, t.head(), 128, LagPolicy::default()),
        ));
    }
    assert_eq!(readers.len(), 3);

    // The publisher sends 3 groups of 5 objects over 3 virtual seconds.
    let payload = Bytes::from(vec![7u8; 1000]);
    let mut now = t0;
    for g in 0..3u64 {
        for o in 0..5u64 {
            now += Duration::from_millis(200);
            assert_eq!(
                t.append(obj(g, o, payload.clone()), 0, 128, now),
                Appended::New(1064)
            );
        }
        t.end_subgroup(g, 0, SubgroupEnd::Fin, true);
    }
    for (_, r) in readers.iter_mut() {
        let ds = drain(r, t, now);
        let locs = objects(&ds);
        assert_eq!(locs.len(), 15);
        assert!(locs.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            ds.iter()
                .filter(|d| matches!(d, Delivery::Open { .. }))
                .count(),
            3
        );
        assert_eq!(
            ds.iter()
                .filter(|d| matches!(d, Delivery::Finish { .. }))
                .count(),
            3
        );
        // Zero-copy: every delivered payload points at the publisher's allocation.
        for d in &ds {
            if let Delivery::Object { object, .. } = d {
                assert_eq!(object.payload.as_ptr(), payload.as_ptr());
            }
        }
    }
    // Last subscriber leaves: the upstream subscription lingers, then goes.
    for s in 10..13 {
        router.handle_unsubscribe(s, 0, now);
    }
    assert_eq!(router.poll_command(), None);
    let deadline = router.poll_timeout().expect("linger deadline");
    router.handle_timeout(deadline);
    assert_eq!(
        router.poll_command(),
        Some(Command::UnsubscribeUpstream { session: 1, track })
    );
}

/// A track left, watched again and left again lingers from its last leave: the deadline of its
/// first leave passes without ending it. Each of many tracks ends at its own deadline.
#[test]
fn linger_counts_from_the_last_leave_of_each_track() {
    let t0 = Instant::now();
    let linger = RouterConfig::default().linger;
    let mut router = Router::new(RouterConfig::default());
    let names: Vec<TrackName> = (0..3)
        .map(|i| TrackName::from_path("a/b", &format!("t{i}")))
        .collect();
    router.handle_publish_namespace(1, 0, names[0].namespace.clone(), Vec::new(), t0);
    let mut tracks = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let request = 2 * i as u64;
        router.handle_subscribe(
            10,
            request,
            name.clone(),
            Filter::LargestObject,
            Duration::ZERO,
            t0,
        );
        let track = router.track_id(name).expect("track");
        router.handle_upstream_ok(track, 1);
        tracks.push(track);
    }
    let _ = std::iter::from_fn(|| router.poll_command()).count();
    // Track 0 is left at t0 + 1 s, re-watched at + 2 s and left at + 3 s; the others are left
    // at + 1 s and + 2 s.
    let at = |s: u64| t0 + Duration::from_secs(s);
    router.handle_unsubscribe(10, 0, at(1));
    router.handle_unsubscribe(10, 2, at(1));
    router.handle_subscribe(
        11,
        0,
        names[0].clone(),
        Filter::LargestObject,
        Duration::ZERO,
        at(2),
    );
    router.handle_unsubscribe(10, 4, at(2));
    router.handle_unsubscribe(11, 0, at(3));
    let _ = std::iter::from_fn(|| router.poll_command()).count();
    assert_eq!(
        router.poll_forgotten(),
        None,
        "lingering tracks are not forgotten"
    );

    let mut ended = Vec::new();
    let mut forgotten = Vec::new();
    let mut now = at(1);
    for _ in 0..20 {
        let Some(next) = router.poll_timeout() else {
            break;
        };
        assert!(next >= now, "deadlines never go back");
        now = next;
        router.handle_timeout(now);
        while let Some(c) = router.poll_command() {
            if let Command::UnsubscribeUpstream { track, .. } = c {
                ended.push((track, now - t0));
            }
        }
        forgotten.extend(std::iter::from_fn(|| router.poll_forgotten()));
    }
    // The driver learns of each forgotten track once, without comparing its tracks with the
    // router's.
    assert_eq!(forgotten, [tracks[1], tracks[2], tracks[0]]);
    assert_eq!(router.poll_forgotten(), None);
    assert_eq!(
        ended,
        vec![
            (tracks[1], Duration::from_secs(1) + linger),
            (tracks[2], Duration::from_secs(2) + linger),
            (tracks[0], Duration::from_secs(3) + linger),
        ]
    );
}

#[test]
fn fifty_subscribers_one_upstream_subscribe() {
    let t0 = Instant::now();
    let mut router = Router::new(RouterConfig::default());
    let name = TrackName::from_path("a/b", "t");
    router.handle_publish_namespace(1, 0, name.namespace.clone(), Vec::new(), t0);
    for s in 0..50 {
        router.handle_subscribe(
            100 + s,
            2,
            name.clone(),
            Filter::LargestObject,
            Duration::ZERO,
            t0,
        );
    }
    let cmds: Vec<Command> = std::iter::from_fn(|| router.poll_command()).collect();
    let ups = cmds
        .iter()
        .filter(|c| matches!(c, Command::SubscribeUpstream { .. }))
        .count();
    assert_eq!(ups, 1);
    assert_eq!(router.upstream_subscribes(), 1);
}

#[test]
fn rendezvous_then_publisher_arrives() {
    let t0 = Instant::now();
    let mut router = Router::new(RouterConfig::default());
    let name = TrackName::from_path("moq-test/interop", "test-track");
    router.handle_subscribe(
        5,
        0,
        name.clone(),
        Filter::LargestObject,
        Duration::from_secs(3),
        t0,
    );
    assert_eq!(router.poll_command(), None);
    router.handle_publish_namespace(
        1,
        0,
        name.namespace.clone(),
        Vec::new(),
        t0 + Duration::from_millis(500),
    );
    assert_eq!(
        router.poll_command(),
        Some(Command::Ok {
            session: 1,
            request: 0
        })
    );
    assert!(matches!(
        router.poll_command(),
        Some(Command::SubscribeUpstream { session: 1, .. })
    ));
}

#[test]
fn rendezvous_times_out_and_unknown_is_refused() {
    let t0 = Instant::now();
    let mut router = Router::new(RouterConfig::default());
    let name = TrackName::from_path("nonexistent/namespace", "test-track");
    router.handle_subscribe(
        5,
        0,
        name.clone(),
        Filter::LargestObject,
        Duration::ZERO,
        t0,
    );
    assert_eq!(
        router.poll_command(),
        Some(Command::Refuse {
            session: 5,
            request: 0,
            reason: Refusal::DoesNotExist
        })
    );
    router.handle_subscribe(
        5,
        2,
        name,
        Filter::LargestObject,
        Duration::from_secs(1),
        t0,
    );
    assert_eq!(router.poll_command(), None);
    router.handle_timeout(t0 + Duration::from_secs(1));
    assert_eq!(
        router.poll_command(),
        Some(Command::Refuse {
            session: 5,
            request: 2,
            reason: Refusal::Timeout
        })
    );
}

#[test]
fn too_many_subscriptions_is_excessive_load() {
    let t0 = Instant::now();
    let mut router = Router::new(RouterConfig {
        max_subscriptions_per_session: 2,
        ..RouterConfig::default()
    });
    router.handle_publish_namespace(
        1,
        0,
        TrackName::from_path("a", "x").namespace,
        Vec::new(),
        t0,
    );
    for i in 0..3 {
        router.handle_subscribe(
            9,
            i,
            TrackName::from_path("a", &format!("t{i}")),
            Filter::LargestObject,
            Duration::ZERO,
            t0,
        );
    }
    let cmds: Vec<Command> = std::iter::from_fn(|| router.poll_command()).collect();
    assert!(cmds.contains(&Command::Refuse {
        session: 9,
        request: 2,
        reason: Refusal::ExcessiveLoad
    }));
}

#[test]
fn filters_deliver_what_draft18_covers() {
    let now = Instant::now();
    let mut t = Track::new();
    let p = Bytes::from_static(b"x");
    for g in 0..3 {
        for o in 0..4 {
            t.append(obj(g, o, p.clone()), 0, 0, now);
        }
    }
    // Largest Object = {2,3}.
    let cases = [
        (Filter::LargestObject, vec![]),
        (Filter::NextGroupStart, vec![]),
        (
            Filter::AbsoluteStart(Location::new(1, 2)),
            vec![(1, 2), (1, 3), (2, 0), (2, 1), (2, 2), (2, 3)],
        ),
        (
            Filter::AbsoluteRange(Location::new(0, 3), 1),
            vec![(0, 3), (1, 0), (1, 1), (1, 2), (1, 3)],
        ),
        (
            Filter::AbsoluteRange(Location::new(2, 1), 0),
            vec![(2, 1), (2, 2), (2, 3)],
        ),
        // Draft-20 on: a relative start (1: the current group) and an end object.
        (
            Filter::RelativeStart(1),
            vec![(2, 0), (2, 1), (2, 2), (2, 3)],
        ),
        (
            Filter::RelativeStart(2),
            vec![
                (1, 0),
                (1, 1),
                (1, 2),
                (1, 3),
                (2, 0),
                (2, 1),
                (2, 2),
                (2, 3),
            ],
        ),
        (
            Filter::AbsoluteRangeToObject(Location::new(0, 3), 1, 1),
            vec![(0, 3), (1, 0), (1, 1)],
        ),
    ];
    for (filter, want) in cases {
        let range = filter.resolve(t.largest()).expect("range");
        let mut f = Fanout::new(range, t.head(), 0, LagPolicy::default());
        let got = objects(&drain(&mut f, &t, now));
        let want: Vec<Location> = want.into_iter().map(|(g, o)| Location::new(g, o)).collect();
        assert_eq!(got, want, "{filter:?}");
    }
    // New objects: Largest Object starts after {2,3}; Next Group Start at {3,0}.
    let mut lo = Fanout::new(
        Filter::LargestObject.resolve(t.largest()).expect("r"),
        t.tail(),
        0,
        LagPolicy::default(),
    );
    let mut ng = Fanout::new(
        Filter::NextGroupStart.resolve(t.largest()).expect("r"),
        t.tail(),
        0,
        LagPolicy::default(),
    );
    t.append(obj(2, 4, p.clone()), 0, 0, now);
    t.append(obj(3, 0, p.clone()), 0, 0, now);
    assert_eq!(
        objects(&drain(&mut lo, &t, now)),
        vec![Location::new(2, 4), Location::new(3, 0)]
    );
    assert_eq!(objects(&drain(&mut ng, &t, now)), vec![Location::new(3, 0)]);
}

#[test]
fn duplicates_from_two_publishers_are_dropped() {
    let now = Instant::now();
    let mut t = Track::new();
    let a = Bytes::from_static(b"a");
    assert!(matches!(
        t.append(obj(0, 0, a.clone()), 0, 0, now),
        Appended::New(_)
    ));
    assert_eq!(
        t.append(obj(0, 0, a.clone()), 0, 0, now),
        Appended::Duplicate
    );
    assert_eq!(t.append(obj(0, 0, a), 1, 0, now), Appended::Duplicate);
}

#[test]
fn slow_subscriber_skips_to_newest_group_then_too_far_behind() {
    let mut now = Instant::now();
    let mut t = Track::new();
    let policy = LagPolicy {
        max_lag_groups: 1,
        max_pending_bytes: u64::MAX,
        max_lag: Duration::from_secs(60),
        group_grace: Duration::from_millis(500),
        max_skips: 2,
        skip_window: Duration::from_secs(60),
    };
    let mut slow = Fanout::new(
        Filter::AbsoluteStart(Location::new(0, 0))
            .resolve(None)
            .expect("r"),
        t.head(),
        0,
        policy,
    );
    let p = Bytes::from_static(b"p");
    t.append(obj(0, 0, p.clone()), 0, VIDEO, now);
    // The subscriber writes one object then stalls.
    assert!(matches!(
        slow.poll(&t, now),
        Some(Delivery::Open { group: 0, .. })
    ));
    assert!(matches!(slow.poll(&t, now), Some(Delivery::Object { .. })));
    for g in 1..4 {
        now += Duration::from_secs(1);
        t.append(obj(g, 0, p.clone()), 0, VIDEO, now);
    }
    let ds = drain(&mut slow, &t, now);
    assert!(
        ds.contains(&Delivery::Reset {
            group: 0,
            subgroup: 0,
            code: 2
        }),
        "{ds:?}"
    );
    assert_eq!(
        objects(&ds),
        vec![Location::new(3, 0)],
        "jumped to the newest group"
    );
    assert_eq!(slow.stats().skips, 1);
    // Keeps falling behind: the third skip within the window ends it with TOO_FAR_BEHIND, and
    // its open stream is closed first.
    let mut last = Vec::new();
    for round in 0..3 {
        for g in 0..3 {
            now += Duration::from_secs(1);
            t.append(obj(4 + round * 3 + g, 0, p.clone()), 0, VIDEO, now);
        }
        last = drain(&mut slow, &t, now);
        if slow.is_done() {
            break;
        }
    }
    assert!(slow.is_done());
    assert_eq!(slow.stats().skips, 3, "{last:?}");
    assert_eq!(
        last.last(),
        Some(&Delivery::Done(DoneReason::TooFarBehind)),
        "{last:?}"
    );
    assert_eq!(slow.open_streams(), 0);
    assert!(slow.poll(&t, now).is_none(), "nothing after the end");
}

#[test]
fn a_group_that_never_ends_stays_under_the_group_cap() {
    let now = Instant::now();
    let mut t = Track::with_group_limit(10_000);
    let mut reader = Fanout::new(
        Filter::AbsoluteStart(Location::new(0, 0))
            .resolve(None)
            .expect("r"),
        t.head(),
        0,
        LagPolicy::default(),
    );
    let payload = Bytes::from(vec![7u8; 1_000]);
    for o in 0..1_000 {
        assert!(matches!(
            t.append(obj(0, o, payload.clone()), 0, 0, now),
            Appended::New(_)
        ));
        assert!(t.bytes() <= 10_000, "object {o}: {} bytes held", t.bytes());
    }
    // The newest objects are there, the oldest are gone, and the group is still the track's.
    assert_eq!(t.group_count(), 1);
    assert!(t.payload(Location::new(0, 999)).is_some());
    assert!(t.payload(Location::new(0, 0)).is_none());
    // A repeat of a trimmed object is stale, not a new object or a malformed track.
    assert_eq!(
        t.append(obj(0, 3, payload.clone()), 0, 0, now),
        Appended::Stale
    );
    // A reader that had not started lags to what is left and gets only held objects, in order.
    let got = objects(&drain(&mut reader, &t, now));
    assert!(!got.is_empty() && got.len() <= 10, "{got:?}");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    assert_eq!(got.last(), Some(&Location::new(0, 999)));
    // The cache cannot vouch for the trimmed start of the group.
    let (held, complete) = t.range(Location::new(0, 0), Location::new(0, 999));
    assert!(!complete);
    assert_eq!(held.len(), got.len());
    let (_, tail_complete) = t.range(Location::new(0, 995), Location::new(0, 999));
    assert!(tail_complete, "the held tail is vouched for");
}

#[test]
fn a_group_over_the_cap_evicts_older_groups_first() {
    let now = Instant::now();
    let mut t = Track::with_group_limit(5_000);
    let payload = Bytes::from(vec![1u8; 1_000]);
    t.append(obj(0, 0, payload.clone()), 0, 0, now);
    for o in 0..5 {
        t.append(obj(1, o, payload.clone()), 0, 0, now);
    }
    assert_eq!(t.group_ids().collect::<Vec<_>>(), vec![1]);
    assert!(t.bytes() <= 5_000);
    assert!(t.payload(Location::new(1, 4)).is_some());
}

#[test]
fn a_reader_with_too_many_bytes_queued_skips_ahead() {
    let t0 = Instant::now();
    let mut t = Track::new();
    let policy = LagPolicy {
        max_lag_groups: 100,
        max_pending_bytes: 50_000,
        ..LagPolicy::default()
    };
    let mut f = Fanout::new(
        Filter::AbsoluteStart(Location::new(0, 0))
            .resolve(None)
            .expect("r"),
        t.head(),
        0,
        policy,
    );
    let payload = Bytes::from(vec![0u8; 10_000]);
    t.append(obj(0, 0, payload.clone()), 0, VIDEO, t0);
    assert!(matches!(f.poll(&t, t0), Some(Delivery::Open { .. })));
    assert!(matches!(f.poll(&t, t0), Some(Delivery::Object { .. })));
    assert_eq!(t.pending_bytes(t.tail()), 0);
    // 100 kB lands in 10 groups while the reader is stalled for 1 s: twice its byte budget,
    // though only 10 groups behind (it may trail 100).
    let later = t0 + Duration::from_secs(1);
    for g in 1..=10 {
        t.append(obj(g, 0, payload.clone()), 0, VIDEO, later);
    }
    let got = objects(&drain(&mut f, &t, later + Duration::from_secs(1)));
    assert_eq!(
        got,
        vec![Location::new(10, 0)],
        "skipped to the newest group"
    );
    assert_eq!(f.stats().skips, 1);
}

#[test]
fn the_writer_over_the_cache_budget_gives_up_its_own_oldest_groups_but_never_the_newest() {
    let mut now = Instant::now();
    let gauge = Arc::new(CacheGauge::new(CacheBudget {
        max_bytes: 35_000,
        max_age: Duration::from_secs(3600),
        ..CacheBudget::default()
    }));
    let mut video = Track::charged_to(gauge.clone());
    let mut init = Track::charged_to(gauge.clone());
    init.append(obj(0, 0, Bytes::from(vec![0; 10_000])), 0, 0, now);
    for g in 0..10 {
        now += Duration::from_secs(1);
        video.append(obj(g, 0, Bytes::from(vec![0; 10_000])), 0, 0, now);
        // Charged at append: the gauge is every track's bytes at every moment.
        assert_eq!(gauge.bytes(), video.bytes() + init.bytes());
        assert!(gauge.bytes() <= 35_000, "{} after group {g}", gauge.bytes());
    }
    assert_eq!(init.group_count(), 1, "the init track's only group stays");
    assert_eq!(video.newest_group(), Some(9));
    assert!(video.payload(Location::new(9, 0)).is_some());
    assert_eq!(gauge.groups(), video.group_count() + init.group_count());
    assert_eq!(gauge.evictions(), video.evicted_groups());
    // A dropped track gives back what it held.
    drop(video);
    assert_eq!(gauge.bytes(), init.bytes());
    assert_eq!(gauge.groups(), 1);
}

#[test]
fn groups_past_the_cache_age_go_when_their_track_is_next_written() {
    let t0 = Instant::now();
    let gauge = Arc::new(CacheGauge::new(CacheBudget {
        max_age: Duration::from_millis(1500),
        ..CacheBudget::default()
    }));
    let mut video = Track::charged_to(gauge.clone());
    for g in 0..5 {
        video.append(obj(g, 0, Bytes::from_static(b"x")), 0, 0, t0);
    }
    assert_eq!(video.group_count(), 5, "nothing expired yet");
    video.append(
        obj(5, 0, Bytes::from_static(b"x")),
        0,
        0,
        t0 + Duration::from_secs(100),
    );
    assert_eq!(video.group_ids().collect::<Vec<_>>(), [5]);
    assert_eq!(gauge.groups(), 1);
}

#[test]
fn subscribe_tracks_offers_published_tracks_now_and_later() {
    let t0 = Instant::now();
    let mut router = Router::new(RouterConfig::default());
    let a = TrackName::from_path("room/1", "alice");
    let pub_a = router
        .handle_publish(1, 0, a.clone(), t0)
        .expect("admitted");
    let _ = std::iter::from_fn(|| router.poll_command()).count();
    // Viewer 9 asks for every track under room/.
    router.handle_subscribe_tracks(9, 4, TrackName::from_path("room", "").namespace);
    assert_eq!(
        router.poll_command(),
        Some(Command::Ok {
            session: 9,
            request: 4
        })
    );
    assert_eq!(
        router.poll_command(),
        Some(Command::PublishDownstream {
            session: 9,
            request: 4,
            track: pub_a
        })
    );
    // A later PUBLISH under the prefix is offered too; one outside it is not; the publisher's
    // own SUBSCRIBE_TRACKS never gets its own track back.
    router.handle_subscribe_tracks(2, 6, TrackName::from_path("room", "").namespace);
    let _ = std::iter::from_fn(|| router.poll_command()).count();
    let b = router
        .handle_publish(2, 2, TrackName::from_path("room/2", "bob"), t0)
        .expect("admitted");
    router.handle_publish(3, 0, TrackName::from_path("hall", "x"), t0);
    let cmds: Vec<Command> = std::iter::from_fn(|| router.poll_command()).collect();
    assert!(cmds.contains(&Command::PublishDownstream {
        session: 9,
        request: 4,
        track: b
    }));
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Command::PublishDownstream { session: 2, .. }))
    );
    assert_eq!(
        cmds.iter()
            .filter(|c| matches!(c, Command::PublishDownstream { .. }))
            .count(),
        1,
        "{cmds:?}"
    );
}

#[test]
fn overlapping_prefixes_are_refused() {
    let mut router = Router::new(RouterConfig::default());
    router.handle_subscribe_namespace(9, 0, TrackName::from_path("a/b", "").namespace);
    router.handle_subscribe_namespace(9, 2, TrackName::from_path("a", "").namespace);
    router.handle_subscribe_tracks(9, 4, TrackName::from_path("a", "").namespace);
    let cmds: Vec<Command> = std::iter::from_fn(|| router.poll_command()).collect();
    assert_eq!(
        cmds,
        vec![
            Command::Ok {
                session: 9,
                request: 0
            },
            Command::Refuse {
                session: 9,
                request: 2,
                reason: Refusal::PrefixOverlap
            },
            Command::Ok {
                session: 9,
                request: 4
            },
        ],
        "SUBSCRIBE_NAMESPACE and SUBSCRIBE_TRACKS have separate overlap spaces"
    );
}

#[test]
fn a_new_publisher_takes_over_and_the_old_one_leaving_ends_nothing() {
    let t0 = Instant::now();
    let mut router = Router::new(RouterConfig::default());
    let name = TrackName::from_path("live", "cam");
    let t = router
        .handle_publish(1, 0, name.clone(), t0)
        .expect("admitted");
    router.handle_subscribe(
        9,
        0,
        name.clone(),
        Filter::LargestObject,
        Duration::ZERO,
        t0,
    );
    let _ = std::iter::from_fn(|| router.poll_command()).count();
    // A second publisher of the same track: same track, no ghost.
    assert_eq!(router.handle_publish(2, 0, name.clone(), t0), Some(t));
    let _ = std::iter::from_fn(|| router.poll_command()).count();
    // The first one leaves: the subscriber keeps its subscription.
    router.handle_publish_done(1, 0, 0x2);
    router.handle_session_closed(1, t0);
    assert_eq!(router.poll_command(), None);
    assert_eq!(router.subscribers(t), &[(9, 0)]);
    // The current one ends the track.
    router.handle_publish_done(2, 0, 0x2);
    assert!(matches!(
        router.poll_command(),
        Some(Command::PublishDone { session: 9, .. })
    ));
}

#[test]
fn a_burst_after_an_idle_period_is_not_lag() {
    let t0 = Instant::now();
    let mut t = Track::new();
    let policy = LagPolicy {
        max_lag_groups: 2,
        ..LagPolicy::default()
    };
    let mut f = Fanout::new(
        Filter::AbsoluteStart(Location::new(0, 0))
            .resolve(None)
            .expect("r"),
        t.head(),
        0,
        policy,
    );
    assert!(f.poll(&t, t0).is_none(), "nothing yet: caught up");
    // Idle for 5 s, then 10 groups land at once.
    let later = t0 + Duration::from_secs(5);
    for g in 0..10 {
        t.append(obj(g, 0, Bytes::from_static(b"x")), 0, VIDEO, later);
    }
    let got = objects(&drain(&mut f, &t, later + Duration::from_millis(1)));
    assert_eq!(
        got.len(),
        10,
        "every group of the burst is delivered: {got:?}"
    );
    assert_eq!(f.stats().skips, 0);
}

#[test]
fn group_ids_that_leap_are_counted_as_groups() {
    // An origin numbering groups by media time (milliseconds): 0, 1000, 2000, …
    let t0 = Instant::now();
    let mut t = Track::new();
    let policy = LagPolicy {
        max_lag_groups: 2,
        group_grace: Duration::from_millis(100),
        ..LagPolicy::default()
    };
    let mut f = Fanout::new(
        Filter::AbsoluteStart(Location::new(0, 0))
            .resolve(None)
            .expect("r"),
        t.head(),
        0,
        policy,
    );
    let p = Bytes::from_static(b"frame");
    t.append(obj(0, 0, p.clone()), 0, VIDEO, t0);
    let mut got = objects(&drain(&mut f, &t, t0));
    // Two groups later (2 s of media) the reader is 2 groups behind, not 2000: no skip.
    let later = t0 + Duration::from_secs(1);
    t.append(obj(1000, 0, p.clone()), 0, VIDEO, later);
    t.append(obj(2000, 0, p.clone()), 0, VIDEO, later);
    got.extend(objects(&drain(&mut f, &t, later + Duration::from_secs(1))));
    assert_eq!(
        got,
        vec![
            Location::new(0, 0),
            Location::new(1000, 0),
            Location::new(2000, 0)
        ]
    );
    assert_eq!(f.stats().skips, 0);
}

/// Publisher priority 0 (the ordered `events` track, catalogs): a reader far behind is slowed
/// to its own pace but never skipped by the lag policy, while a video reader in the same spot
/// is; a subscriber that set its own delivery timeout is still skipped; and the cache budget
/// still bounds what it may trail (evicted entries are lost, counted as a skip).
#[test]
fn priority_zero_groups_are_never_skipped_by_the_lag_policy() {
    let t0 = Instant::now();
    let policy = LagPolicy {
        max_lag_groups: 1,
        max_pending_bytes: 10,
        max_lag: Duration::from_millis(100),
        group_grace: Duration::from_millis(100),
        ..LagPolicy::default()
    };
    let reader = |t: &Track| {
        Fanout::new(
            Filter::AbsoluteStart(Location::new(0, 0))
                .resolve(None)
                .expect("r"),
            t.head(),
            0,
            policy,
        )
    };
    let mut events = Track::new();
    let mut video = Track::new();
    let mut ev = reader(&events);
    let mut timed = reader(&events);
    timed.set_delivery_timeout(Duration::from_millis(100));
    let mut vid = reader(&video);
    let p = Bytes::from_static(b"{\"seq\":0}");
    events.append(obj(0, 0, p.clone()), 0, 0, t0);
    video.append(obj(0, 0, p.clone()), 0, VIDEO, t0);
    for f in [&mut ev, &mut timed] {
        assert!(matches!(f.poll(&events, t0), Some(Delivery::Open { .. })));
    }
    assert!(matches!(vid.poll(&video, t0), Some(Delivery::Open { .. })));
    // The readers stall for 10 s while 20 groups land: far past every limit of the policy.
    let mut now = t0;
    for g in 1..=20 {
        now += Duration::from_millis(500);
        events.append(obj(g, 0, p.clone()), 0, 0, now);
        video.append(obj(g, 0, p.clone()), 0, VIDEO, now);
    }
    let got = objects(&drain(&mut ev, &events, now));
    let all: Vec<Location> = (0..=20).map(|g| Location::new(g, 0)).collect();
    assert_eq!(got, all, "every event group, in order");
    assert_eq!(ev.stats().skips, 0);
    assert_eq!(ev.stats().resets, 0);
    assert!(!ev.is_done());
    let got = objects(&drain(&mut vid, &video, now));
    assert_eq!(got.last(), Some(&Location::new(20, 0)));
    assert!(got.len() < 5, "video skips ahead: {got:?}");
    assert_eq!(vid.stats().skips, 1);
    let got = objects(&drain(&mut timed, &events, now));
    assert_eq!(
        timed.stats().skips,
        1,
        "the subscriber's own timeout: {got:?}"
    );
    // The cache still bounds the track: a reader whose groups were evicted goes on from the
    // oldest group left, not the newest.
    let mut late = reader(&events);
    while events.group_count() > 3 {
        events.evict_oldest();
    }
    let got = objects(&drain(&mut late, &events, now));
    assert_eq!(got, all[18..].to_vec());
    assert_eq!(late.stats().skips, 1, "eviction is counted as a skip");
}

#[test]
fn group_order_follows_rank_not_id_bits() {
    // Millisecond group IDs across a multiple of 32,768: the older group is still sent first.
    let now = Instant::now();
    let mut t = Track::new();
    let mut f = Fanout::new(
        Filter::AbsoluteStart(Location::new(0, 0))
            .resolve(None)
            .expect("r"),
        t.head(),
        128,
        LagPolicy::default(),
    );
    let p = Bytes::from_static(b"x");
    t.append(obj(32_000, 0, p.clone()), 0, 2, now);
    t.append(obj(33_000, 0, p), 0, 2, now);
    let orders: Vec<(u64, i32)> = drain(&mut f, &t, now)
        .into_iter()
        .filter_map(|d| match d {
            Delivery::Open {
                group, send_order, ..
            } => Some((group, send_order)),
            _ => None,
        })
        .collect();
    assert_eq!(orders.len(), 2, "{orders:?}");
    assert!(
        orders[0].1 > orders[1].1,
        "ascending: group 32000 before 33000: {orders:?}"
    );
    assert_eq!(t.group_ordinal(32_000), Some(0));
    assert_eq!(t.group_ordinal(33_000), Some(1));
}

/// The end of the track ends a paused subscription (forward 0) and one whose range starts past
/// the end object's subgroup, not only those that would forward the end object itself.
#[test]
fn end_of_track_ends_a_paused_subscription() {
    let now = Instant::now();
    let mut t = Track::new();
    let range = Range {
        start: Location::new(0, 0),
        end_group: None,
        end_object: None,
    };
    let mut paused = Fanout::new(range, t.head(), 128, LagPolicy::default());
    paused.set_forward(false);
    t.append(obj(0, 0, Bytes::from_static(b"x")), 0, 128, now);
    let end = Object {
        status: ObjectStatus::EndOfTrack,
        payload: Bytes::new(),
        ..obj(1, 0, Bytes::new())
    };
    t.append(end, 0, 128, now);
    let got = drain(&mut paused, &t, now);
    assert!(
        got.iter()
            .any(|d| matches!(d, Delivery::Done(DoneReason::TrackEnded))),
        "a paused subscriber of an ended track got {got:?}"
    );
}

/// A new feed whose numbering steps back below everything cached restarts the track: the old
/// numbering's subscribers end (so they subscribe again), new readers get the new numbering.
/// A backup feed a group behind, in a group still cached, is the same numbering.
#[test]
fn a_feed_that_restarts_its_numbering_restarts_the_track() {
    let now = Instant::now();
    let p = || Bytes::from_static(b"x");
    let mut t = Track::new();
    for g in 1000..1003 {
        for o in 0..3 {
            t.append(obj(g, o, p()), 0, VIDEO, now);
        }
    }
    let range = Range {
        start: Location::new(1002, 3),
        end_group: None,
        end_object: None,
    };
    let mut viewer = Fanout::new(range, t.tail(), 128, LagPolicy::default());
    assert!(drain(&mut viewer, &t, now).is_empty());

    // A backup a group behind: same numbering.
    assert!(!t.new_feed(Some(Location::new(1001, 2))));
    assert_eq!(t.restarts(), 0);
    // A feed without a Largest Object whose first object is in a cached group: same numbering.
    assert!(!t.new_feed(None));
    assert_eq!(
        t.append(obj(1002, 3, p()), 0, VIDEO, now),
        Appended::New(super::track::charge(&obj(1002, 3, p())))
    );
    assert_eq!(
        objects(&drain(&mut viewer, &t, now)),
        [Location::new(1002, 3)]
    );

    // A feed that says where it is, below the cache: restarted at once.
    assert!(t.new_feed(Some(Location::new(0, 4))));
    assert_eq!((t.restarts(), t.bytes(), t.largest()), (1, 0, None));
    let got = drain(&mut viewer, &t, now);
    assert!(
        matches!(got.last(), Some(Delivery::Done(DoneReason::Restarted))),
        "the old numbering's subscriber ends: {got:?}"
    );
    let mut again = Fanout::new(range_from(0), t.head(), 128, LagPolicy::default());
    t.append(obj(0, 5, p()), 0, VIDEO, now);
    assert_eq!(objects(&drain(&mut again, &t, now)), [Location::new(0, 5)]);

    // A feed without a Largest Object: its first object decides.
    t.append(obj(7, 0, p()), 0, VIDEO, now);
    assert!(!t.new_feed(None));
    t.append(obj(2, 0, p()), 0, VIDEO, now);
    assert_eq!(
        t.restarts(),
        2,
        "group 2 is below the cache (0 and 7 held, 2 never was)"
    );
    let got = drain(&mut again, &t, now);
    assert!(matches!(
        got.last(),
        Some(Delivery::Done(DoneReason::Restarted))
    ));
}

fn range_from(group: u64) -> Range {
    Range {
        start: Location::new(group, 0),
        end_group: None,
        end_object: None,
    }
}
