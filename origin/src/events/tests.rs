//! The sequencer on a virtual clock: order, groups, records and every limit.

use std::time::{Duration, Instant};

use super::*;

const WALL: u64 = 1_700_000_000_000;

fn event(kind: &str, body: &str, sent_at: u64) -> Vec<u8> {
    ViewerEvent {
        kind: Some(kind.into()),
        body: body.into(),
        sent_at: Some(sent_at),
    }
    .encode()
    .to_vec()
}

fn arrive<'a>(viewer: &'a str, payload: &'a [u8], now: Instant, wall_ms: u64) -> Arrival<'a> {
    Arrival {
        viewer,
        payload,
        now,
        wall_ms,
    }
}

fn drain(s: &mut Sequencer) -> Vec<EventObject> {
    std::iter::from_fn(|| s.poll_object()).collect()
}

fn records(objects: &[EventObject]) -> Vec<Record> {
    objects
        .iter()
        .map(|o| Record::parse(&o.payload).expect("a record"))
        .collect()
}

#[test]
fn viewers_interleaved_come_out_in_one_order() {
    let t0 = Instant::now();
    let mut s = Sequencer::new(Config::default(), 5_000);
    let arrivals = [
        ("alice", "chat", "hi", 10),
        ("bob", "reaction", "👏", 11),
        ("alice", "bid", "120", 12),
        ("carol", "chat", "hello \"all\"", 13),
        ("bob", "chat", "second", 14),
    ];
    for (i, (viewer, kind, body, sent)) in arrivals.iter().enumerate() {
        let p = event(kind, body, WALL + sent);
        let now = t0 + Duration::from_millis(i as u64);
        let seq = s
            .handle_event(arrive(viewer, &p, now, WALL + 20 + i as u64))
            .expect("accepted");
        assert_eq!(seq, i as u64);
    }
    let out = drain(&mut s);
    let got = records(&out);
    assert_eq!(got.len(), 5);
    for (i, (r, (viewer, kind, body, sent))) in got.iter().zip(arrivals).enumerate() {
        assert_eq!(r.seq, i as u64);
        assert_eq!(r.viewer, viewer);
        assert_eq!(r.kind, kind);
        assert_eq!(r.body, body);
        assert_eq!(r.sent_at, Some(WALL + sent));
        assert_eq!(r.sequenced_at, WALL + 20 + i as u64);
    }
    // One group (within a second, fewer than 64 events): the base, objects 0..5.
    assert!(out.iter().all(|o| o.group == 5_000));
    assert_eq!(
        out.iter().map(|o| o.object).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert_eq!(
        out.iter().map(|o| o.new_group).collect::<Vec<_>>(),
        [true, false, false, false, false]
    );
    assert_eq!(s.stats().accepted, 5);
    assert_eq!(s.stats().groups, 1);
}

#[test]
fn the_viewer_comes_from_the_namespace_and_defaults_fill_in() {
    let t0 = Instant::now();
    let mut s = Sequencer::new(Config::default(), 0);
    // A payload claiming another viewer: the field is not part of the format and is ignored.
    let p = br#"{"body":"x","viewer":"mallory"}"#;
    s.handle_event(arrive("alice", p, t0, WALL)).expect("ok");
    let r = &records(&drain(&mut s))[0];
    assert_eq!(r.viewer, "alice");
    assert_eq!(r.kind, DEFAULT_KIND);
    assert_eq!(r.sent_at, None);
}

#[test]
fn groups_are_cut_by_count_and_by_age() {
    let t0 = Instant::now();
    let config = Config {
        group_max_events: 3,
        group_max_age: Duration::from_secs(1),
        rate_per_second: 1000,
        burst: 1000,
        ..Config::default()
    };
    let mut s = Sequencer::new(config, 100);
    let p = event("chat", "x", WALL);
    let mut now = t0;
    for _ in 0..7 {
        s.handle_event(arrive("a", &p, now, WALL)).expect("ok");
    }
    // 1.5 s later: a new group even though the last one holds one event.
    now += Duration::from_millis(1500);
    s.handle_event(arrive("a", &p, now, WALL)).expect("ok");
    let out = drain(&mut s);
    let loc: Vec<(u64, u64, bool)> = out
        .iter()
        .map(|o| (o.group, o.object, o.new_group))
        .collect();
    assert_eq!(
        loc,
        [
            (100, 0, true),
            (100, 1, false),
            (100, 2, false),
            (101, 0, true),
            (101, 1, false),
            (101, 2, false),
            (102, 0, true),
            (103, 0, true),
        ]
    );
    assert_eq!(s.stats().groups, 4);
    // Group IDs are consecutive: a subscriber ordering groups never waits for a missing one.
    assert!(out.windows(2).all(|w| w[1].group - w[0].group <= 1));
}

#[test]
fn a_viewer_over_its_rate_is_refused_and_others_are_not() {
    let t0 = Instant::now();
    let config = Config {
        rate_per_second: 2,
        burst: 3,
        ..Config::default()
    };
    let mut s = Sequencer::new(config, 0);
    let p = event("reaction", "🔥", WALL);
    let results: Vec<_> = (0..5)
        .map(|_| s.handle_event(arrive("spammer", &p, t0, WALL)))
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3, "the burst");
    assert_eq!(results[3], Err(Refusal::RateLimited));
    assert!(s.handle_event(arrive("calm", &p, t0, WALL)).is_ok());
    // Half a second refills one event at 2 per second.
    let later = t0 + Duration::from_millis(500);
    assert!(s.handle_event(arrive("spammer", &p, later, WALL)).is_ok());
    assert_eq!(
        s.handle_event(arrive("spammer", &p, later, WALL)),
        Err(Refusal::RateLimited)
    );
    assert_eq!(s.stats().refused(Refusal::RateLimited), 3);
    assert_eq!(s.stats().accepted, 5);
    // Refused events take no place in the order.
    let seqs: Vec<u64> = records(&drain(&mut s)).iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
}

#[test]
fn oversized_malformed_and_misnamed_events_are_refused_and_counted() {
    let t0 = Instant::now();
    let config = Config {
        max_event_bytes: 64,
        ..Config::default()
    };
    let mut s = Sequencer::new(config, 0);
    let big = event("chat", &"x".repeat(100), WALL);
    assert_eq!(
        s.handle_event(arrive("a", &big, t0, WALL)),
        Err(Refusal::TooLarge)
    );
    for bad in [
        &b"not json"[..],
        br#"{"kind":"chat"}"#,
        br#"{"body":1}"#,
        br#"{"body":"x","kind":"Chat!"}"#,
        br#"{"body":"x","kind":""}"#,
        br#"{"body":"x","sentAt":-1}"#,
        b"",
    ] {
        assert_eq!(
            s.handle_event(arrive("a", bad, t0, WALL)),
            Err(Refusal::Malformed),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let ok = event("chat", "x", WALL);
    for viewer in ["", "has space", "a/b", &"v".repeat(33), "é"] {
        assert_eq!(
            s.handle_event(arrive(viewer, &ok, t0, WALL)),
            Err(Refusal::BadViewer),
            "{viewer:?}"
        );
    }
    let st = s.stats();
    assert_eq!(st.refused(Refusal::TooLarge), 1);
    assert_eq!(st.refused(Refusal::Malformed), 7);
    assert_eq!(st.refused(Refusal::BadViewer), 5);
    assert_eq!(st.accepted, 0);
    assert!(drain(&mut s).is_empty());
}

#[test]
fn the_queue_and_the_viewer_table_are_bounded() {
    let t0 = Instant::now();
    let config = Config {
        max_queue: 2,
        max_viewers: 2,
        rate_per_second: 1,
        burst: 1,
        ..Config::default()
    };
    let mut s = Sequencer::new(config, 0);
    let p = event("chat", "x", WALL);
    assert!(s.handle_event(arrive("a", &p, t0, WALL)).is_ok());
    assert!(s.handle_event(arrive("b", &p, t0, WALL)).is_ok());
    assert_eq!(
        s.handle_event(arrive("c", &p, t0, WALL)),
        Err(Refusal::QueueFull),
        "nothing drained yet"
    );
    assert_eq!(drain(&mut s).len(), 2);
    assert_eq!(s.queued(), 0);
    // Two viewers are tracked and both are still within their last second: a third waits.
    assert_eq!(
        s.handle_event(arrive("c", &p, t0, WALL)),
        Err(Refusal::TooManyViewers)
    );
    // Once their buckets are full again they are forgotten, and c gets in.
    let later = t0 + Duration::from_secs(2);
    assert!(s.handle_event(arrive("c", &p, later, WALL)).is_ok());
    assert_eq!(s.stats().refused(Refusal::QueueFull), 1);
    assert_eq!(s.stats().refused(Refusal::TooManyViewers), 1);
}

#[test]
fn sequenced_at_never_goes_back_when_the_wall_clock_does() {
    let t0 = Instant::now();
    let mut s = Sequencer::new(Config::default(), 0);
    let p = event("chat", "x", WALL);
    s.handle_event(arrive("a", &p, t0, WALL + 1000))
        .expect("ok");
    s.handle_event(arrive("b", &p, t0, WALL)).expect("ok"); // the clock stepped back 1 s
    s.handle_event(arrive("c", &p, t0, WALL + 1001))
        .expect("ok");
    let at: Vec<u64> = records(&drain(&mut s))
        .iter()
        .map(|r| r.sequenced_at)
        .collect();
    assert_eq!(at, [WALL + 1000, WALL + 1000, WALL + 1001]);
}

#[test]
fn arbitrary_bytes_never_panic_and_never_grow_the_queue_past_its_bound() {
    let t0 = Instant::now();
    let config = Config {
        max_queue: 16,
        ..Config::default()
    };
    let mut s = Sequencer::new(config, 0);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..5_000u64 {
        let len = (x % 80) as usize;
        let mut payload = Vec::with_capacity(len);
        for _ in 0..len {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            payload.push((x >> 56) as u8);
        }
        if i % 3 == 0 {
            payload = format!(r#"{{"body":"{i}"}}"#).into_bytes();
        }
        let viewer = format!("v{}", i % 7);
        let _ = s.handle_event(arrive(
            &viewer,
            &payload,
            t0 + Duration::from_millis(i),
            WALL,
        ));
        assert!(s.queued() <= 16);
        if i % 10 == 0 {
            drain(&mut s);
        }
    }
    let st = s.stats();
    let refused: u64 = st.refused.iter().sum();
    assert_eq!(st.accepted + refused, 5_000);
    assert!(st.accepted > 0);
}

#[test]
fn viewer_namespaces_sit_under_the_broadcast() {
    let b = TrackNamespace::from_path("live/demo");
    assert_eq!(
        viewers_prefix(&b),
        TrackNamespace::from_path("live/demo/viewers")
    );
    assert_eq!(
        viewer_namespace(&b, "alice"),
        TrackNamespace::from_path("live/demo/viewers/alice")
    );
}
