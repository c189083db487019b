//! Failover decisions on a virtual clock: which upstream a track moves to, and that its
//! downstream subscriptions never notice.

use std::time::{Duration, Instant};

use crate::router::{Command, Ended, Router, RouterConfig};
use crate::types::{Filter, TrackName};

const LINGER: Duration = Duration::from_secs(2);

fn router() -> Router {
    Router::new(RouterConfig {
        linger: LINGER,
        ..RouterConfig::default()
    })
}

fn drain(r: &mut Router) -> Vec<Command> {
    std::iter::from_fn(|| r.poll_command()).collect()
}

/// Sessions 1 and 2 are upstream links announcing `live`; subscriber 9 takes `live/cam`,
/// which goes to the newest route (2) and is accepted there.
fn subscribed_through_two_links(t0: Instant) -> (Router, u64) {
    let mut r = router();
    r.handle_link_up(1);
    r.handle_link_up(2);
    r.handle_publish_namespace(1, 100, vec!["live".into()], Vec::new(), t0);
    r.handle_publish_namespace(2, 100, vec!["live".into()], Vec::new(), t0);
    r.handle_subscribe(
        9,
        0,
        TrackName::from_path("live", "cam"),
        Filter::LargestObject,
        Duration::ZERO,
        t0,
    );
    let track = drain(&mut r)
        .into_iter()
        .find_map(|c| match c {
            Command::SubscribeUpstream {
                session: 2,
                track,
                resume: false,
                ..
            } => Some(track),
            _ => None,
        })
        .expect("one upstream SUBSCRIBE at the newest route");
    r.handle_upstream_ok(track, 2);
    drain(&mut r);
    (r, track)
}

/// Session 1 announces `live`; subscriber 9 asks for `live/cam`, which waits for session 1's
/// answer to the relay's SUBSCRIBE.
fn waiting_on_one(t0: Instant) -> (Router, TrackName, u64) {
    let mut r = router();
    r.handle_publish_namespace(1, 100, vec!["live".into()], Vec::new(), t0);
    let name = TrackName::from_path("live", "cam");
    r.handle_subscribe(
        9,
        0,
        name.clone(),
        Filter::LargestObject,
        Duration::ZERO,
        t0,
    );
    let track = r.track_id(&name).expect("track");
    (r, name, track)
}

fn resubscribed(cmds: &[Command]) -> Vec<u64> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::SubscribeUpstream {
                session,
                resume: true,
                ..
            } => Some(*session),
            _ => None,
        })
        .collect()
}

fn ends_a_subscription(cmds: &[Command]) -> bool {
    cmds.iter()
        .any(|c| matches!(c, Command::PublishDone { .. } | Command::Refuse { .. }))
}

#[test]
fn a_dead_upstream_moves_its_tracks_to_the_next_route_without_ending_subscribers() {
    let t0 = Instant::now();
    let (mut r, track) = subscribed_through_two_links(t0);
    // The upstream subscription's stream dies first, then the session is reported closed.
    r.handle_upstream_ended(track, 2, None, t0);
    r.handle_session_closed(2, t0);
    let cmds = drain(&mut r);
    assert_eq!(
        resubscribed(&cmds),
        vec![1],
        "one SUBSCRIBE at the other link"
    );
    assert!(!ends_a_subscription(&cmds), "{cmds:?}");
    assert_eq!(r.subscribers(track), &[(9, 0)], "same downstream request");
    assert_eq!(r.failovers(), 1);
    r.handle_upstream_ok(track, 1);
    assert!(drain(&mut r).is_empty());
}

#[test]
fn a_clean_publish_done_ends_the_track_instead() {
    let t0 = Instant::now();
    let (mut r, track) = subscribed_through_two_links(t0);
    r.handle_upstream_ended(track, 2, Some(0x2), t0);
    let cmds = drain(&mut r);
    assert!(resubscribed(&cmds).is_empty());
    assert!(cmds.contains(&Command::PublishDone {
        session: 9,
        request: 0,
        reason: Ended::Upstream(0x2)
    }));
}

#[test]
fn goaway_makes_the_new_subscription_before_breaking_the_old() {
    let t0 = Instant::now();
    let (mut r, track) = subscribed_through_two_links(t0);
    r.handle_goaway(2, t0);
    let cmds = drain(&mut r);
    assert_eq!(resubscribed(&cmds), vec![1]);
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Command::UnsubscribeUpstream { .. })),
        "the old upstream keeps feeding until the new one answers"
    );
    r.handle_upstream_ok(track, 1);
    assert_eq!(
        drain(&mut r),
        vec![Command::UnsubscribeUpstream { session: 2, track }]
    );
    // The old subscription ending afterwards changes nothing; new subscribers avoid session 2.
    r.handle_upstream_ended(track, 2, Some(0x4), t0);
    assert!(drain(&mut r).is_empty());
    r.handle_subscribe(
        8,
        0,
        TrackName::from_path("live", "other"),
        Filter::LargestObject,
        Duration::ZERO,
        t0,
    );
    assert!(drain(&mut r).iter().any(|c| matches!(
        c,
        Command::SubscribeUpstream {
            session: 1,
            resume: false,
            ..
        }
    )));
}

#[test]
fn with_no_other_route_subscribers_wait_for_the_linger_window() {
    let t0 = Instant::now();
    let (mut r, _, track) = waiting_on_one(t0);
    r.handle_upstream_ok(track, 1);
    drain(&mut r);
    // The publisher drops; it comes back within the window on a new session.
    r.handle_session_closed(1, t0);
    assert!(drain(&mut r).is_empty(), "nothing ends yet");
    assert_eq!(r.lost_tracks(), 1);
    assert_eq!(r.poll_timeout(), Some(t0 + LINGER));
    let back = t0 + LINGER / 2;
    r.handle_timeout(back);
    r.handle_publish_namespace(3, 100, vec!["live".into()], Vec::new(), back);
    let cmds = drain(&mut r);
    assert_eq!(resubscribed(&cmds), vec![3]);
    assert!(!ends_a_subscription(&cmds));
    assert_eq!(r.lost_tracks(), 0);
    r.handle_upstream_ok(track, 3);
    // It drops again and never returns: after the window the subscriber is told.
    r.handle_session_closed(3, back);
    drain(&mut r);
    r.handle_timeout(back + LINGER - Duration::from_millis(1));
    assert!(drain(&mut r).is_empty());
    r.handle_timeout(back + LINGER);
    assert_eq!(
        drain(&mut r),
        vec![Command::PublishDone {
            session: 9,
            request: 0,
            reason: Ended::PublisherGone
        }]
    );
    assert_eq!(r.track_count(), 0);
}

#[test]
fn a_dropped_publisher_is_replaced_by_the_next_publish_of_the_track() {
    let t0 = Instant::now();
    let mut r = router();
    let name = TrackName::from_path("live", "cam");
    let track = r.handle_publish(1, 4, name.clone(), t0).expect("admitted");
    r.handle_subscribe(
        9,
        0,
        name.clone(),
        Filter::LargestObject,
        Duration::ZERO,
        t0,
    );
    drain(&mut r);
    r.handle_publish_lost(1, 4, t0);
    r.handle_session_closed(1, t0);
    assert!(!ends_a_subscription(&drain(&mut r)));
    // The same publisher reconnects (a new session) and publishes again: same track.
    assert_eq!(r.handle_publish(2, 4, name, t0), Some(track));
    assert_eq!(r.lost_tracks(), 0);
    r.handle_timeout(t0 + LINGER * 3);
    assert!(!ends_a_subscription(&drain(&mut r)));
    assert_eq!(r.subscribers(track), &[(9, 0)]);
}

#[test]
fn a_refused_move_tries_the_next_route() {
    let t0 = Instant::now();
    let (mut r, track) = subscribed_through_two_links(t0);
    r.handle_link_up(3);
    r.handle_publish_namespace(3, 100, vec!["live".into()], Vec::new(), t0);
    drain(&mut r);
    r.handle_session_closed(2, t0);
    assert_eq!(
        resubscribed(&drain(&mut r)),
        vec![3],
        "the newest route first"
    );
    r.handle_upstream_refused(track, 3, 0x4, t0);
    let cmds = drain(&mut r);
    assert_eq!(resubscribed(&cmds), vec![1], "then the next one");
    assert!(!ends_a_subscription(&cmds));
}

#[test]
fn a_backfilled_group_is_finished_once_and_only_its_open_subgroups() {
    use crate::track::{Read, SubgroupEnd, Track};
    use crate::types::{Location, Object, ObjectStatus};
    let t0 = Instant::now();
    let mut t = Track::new();
    let obj = |g, o| Object {
        location: Location::new(g, o),
        status: ObjectStatus::Normal,
        properties: bytes::Bytes::new(),
        payload: bytes::Bytes::from_static(b"x"),
        end_of_group: false,
    };
    t.append(obj(5, 0), 0, 1, t0);
    t.append(obj(5, 1), 1, 1, t0);
    t.end_subgroup(5, 1, SubgroupEnd::Fin, false);
    assert_eq!(t.received_largest(), Some(Location::new(5, 1)));
    assert_eq!(t.finish_group(5), 1, "only subgroup 0 was open");
    assert_eq!(t.finish_group(5), 0);
    assert_eq!(t.finish_group(6), 0, "a group the cache lacks");
    let mut cursor = t.head();
    let mut ends = Vec::new();
    while let Some(read) = t.read(&mut cursor) {
        if let Read::SubgroupEnd(g, sg, end) = read {
            ends.push((g, sg, end));
        }
    }
    assert_eq!(
        ends,
        vec![(5, 1, SubgroupEnd::Fin), (5, 0, SubgroupEnd::Fin)]
    );
}

#[test]
fn a_new_publish_of_an_unwatched_or_finished_track_starts_afresh() {
    let t0 = Instant::now();
    let mut r = router();
    let name = TrackName::from_path("live", "cam");
    let first = r.handle_publish(1, 0, name.clone(), t0).expect("admitted");
    // Nobody watches: the next publisher gets a new track, not the old one's cache.
    let second = r.handle_publish(2, 0, name.clone(), t0).expect("admitted");
    assert_ne!(first, second);
    // Watched, but its publisher said PUBLISH_DONE: a new track too, and the old one's
    // subscriber is told it ended.
    r.handle_subscribe(
        9,
        0,
        name.clone(),
        Filter::LargestObject,
        Duration::ZERO,
        t0,
    );
    drain(&mut r);
    r.handle_publish_done_received(2, 0);
    let third = r.handle_publish(3, 0, name, t0).expect("admitted");
    assert_ne!(second, third);
    assert!(
        drain(&mut r)
            .iter()
            .any(|c| matches!(c, Command::PublishDone { session: 9, .. }))
    );
}

/// A publisher that announced a namespace and then PUBLISHes a track the relay has just asked
/// it for may refuse the relay's SUBSCRIBE as a duplicate (its PUBLISH is the subscription):
/// that late refusal does not end the track its PUBLISH now feeds.
#[test]
fn a_refused_subscribe_after_the_same_publishers_publish_ends_nothing() {
    let t0 = Instant::now();
    let (mut r, name, track) = waiting_on_one(t0);
    assert!(
        drain(&mut r).contains(&Command::SubscribeUpstream {
            session: 1,
            track,
            name: name.clone(),
            filter: Filter::LargestObject,
            resume: false,
        }),
        "SUBSCRIBE to the publisher"
    );
    assert_eq!(r.handle_publish(1, 102, name.clone(), t0), Some(track));
    drain(&mut r);
    r.handle_upstream_refused(track, 1, 0x19, t0);
    let after = drain(&mut r);
    assert!(
        !after
            .iter()
            .any(|c| matches!(c, Command::PublishDone { .. } | Command::Refuse { .. })),
        "{after:?}"
    );
    assert_eq!(r.track_id(&name), Some(track));
    assert_eq!(r.subscribers(track), &[(9, 0)]);
}
