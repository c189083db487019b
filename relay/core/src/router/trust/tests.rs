//! Trust decisions: who may announce and publish on a relay of a cluster, and that an
//! outsider can neither take over nor capture a member's broadcast.

use std::time::{Duration, Instant};

use crate::router::{Command, Publishers, Refusal, Router, RouterConfig};
use crate::types::{Filter, TrackName};

fn router(publishers: Option<Publishers>) -> Router {
    Router::new(RouterConfig {
        linger: Duration::from_secs(2),
        cluster: publishers,
        ..RouterConfig::default()
    })
}

fn drain(r: &mut Router) -> Vec<Command> {
    std::iter::from_fn(|| r.poll_command()).collect()
}

fn refused(cmds: &[Command], session: u64) -> Option<Refusal> {
    cmds.iter().find_map(|c| match c {
        Command::Refuse {
            session: s, reason, ..
        } if *s == session => Some(*reason),
        _ => None,
    })
}

fn accepted(cmds: &[Command], session: u64) -> bool {
    cmds.iter()
        .any(|c| matches!(c, Command::Ok { session: s, .. } if *s == session))
}

fn cam() -> TrackName {
    TrackName::from_path("live", "cam")
}

#[test]
fn without_a_cluster_everyone_publishes() {
    let t0 = Instant::now();
    let mut r = router(None);
    r.handle_publish_namespace(1, 0, vec!["live".into()], Vec::new(), t0);
    assert!(accepted(&drain(&mut r), 1));
    assert!(r.handle_publish(2, 0, cam(), t0).is_some());
    assert!(r.is_trusted(2));
}

#[test]
fn a_cluster_relay_refuses_announcements_and_publishes_from_outsiders() {
    let t0 = Instant::now();
    let mut r = router(Some(Publishers::Cluster));
    r.handle_publish_namespace(1, 0, vec!["live".into()], Vec::new(), t0);
    assert_eq!(refused(&drain(&mut r), 1), Some(Refusal::Unauthorized));
    assert_eq!(r.handle_publish(1, 2, cam(), t0), None);
    assert_eq!(refused(&drain(&mut r), 1), Some(Refusal::Unauthorized));
    assert_eq!(r.untrusted_refusals(), 2);
    assert_eq!(r.track_count(), 0, "nothing of theirs is kept");

    // A member and an upstream link publish.
    r.handle_member(3);
    r.handle_publish_namespace(3, 0, vec!["live".into()], Vec::new(), t0);
    assert!(accepted(&drain(&mut r), 3));
    r.handle_link_up(4);
    assert!(
        r.handle_publish(4, 0, TrackName::from_path("live", "b"), t0)
            .is_some()
    );
}

#[test]
fn membership_ends_with_the_session() {
    let t0 = Instant::now();
    let mut r = router(Some(Publishers::Cluster));
    r.handle_member(3);
    assert!(r.is_trusted(3));
    r.handle_session_closed(3, t0);
    assert!(!r.is_trusted(3));
}

#[test]
fn an_outsider_cannot_take_over_a_members_track() {
    let t0 = Instant::now();
    let mut r = router(Some(Publishers::Any));
    r.handle_member(1);
    let track = r.handle_publish(1, 0, cam(), t0).expect("member publishes");
    r.handle_subscribe(9, 0, cam(), Filter::LargestObject, Duration::ZERO, t0);
    drain(&mut r);

    // An outsider publishes the same track: refused, the member keeps feeding it.
    assert_eq!(r.handle_publish(2, 0, cam(), t0), None);
    assert_eq!(refused(&drain(&mut r), 2), Some(Refusal::Unauthorized));
    assert_eq!(r.upstream_for(&cam()), Some(1));

    // Even while the member is gone and its subscribers are held.
    r.handle_session_closed(1, t0);
    assert_eq!(r.lost_tracks(), 1);
    assert_eq!(r.handle_publish(2, 1, cam(), t0), None);
    assert_eq!(refused(&drain(&mut r), 2), Some(Refusal::Unauthorized));
    // An outsider's namespace does not capture it either...
    r.handle_publish_namespace(2, 2, vec!["live".into()], Vec::new(), t0);
    let cmds = drain(&mut r);
    assert!(
        accepted(&cmds, 2),
        "outsiders publish their own broadcasts here"
    );
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Command::SubscribeUpstream { session: 2, .. })),
        "the held track is not moved to an outsider"
    );
    // ...but a member coming back does.
    r.handle_member(5);
    let back = r.handle_publish(5, 0, cam(), t0);
    assert_eq!(back, Some(track));
    assert_eq!(r.lost_tracks(), 0);
}

#[test]
fn outsiders_publish_their_own_tracks_on_an_ingest_edge() {
    let t0 = Instant::now();
    let mut r = router(Some(Publishers::Any));
    let own = r.handle_publish(2, 0, TrackName::from_path("mine", "cam"), t0);
    assert!(own.is_some());
    let mine = TrackName::from_path("mine", "cam");
    r.handle_subscribe(9, 0, mine, Filter::LargestObject, Duration::ZERO, t0);
    // A newer outsider takes a watched outsider's track over as usual.
    assert_eq!(
        r.handle_publish(3, 0, TrackName::from_path("mine", "cam"), t0),
        own
    );
}

#[test]
fn new_subscriptions_prefer_members_over_a_more_specific_outsider() {
    let t0 = Instant::now();
    let mut r = router(Some(Publishers::Any));
    r.handle_member(1);
    r.handle_publish_namespace(1, 0, vec!["live".into()], Vec::new(), t0);
    r.handle_publish_namespace(2, 0, vec!["live".into(), "match".into()], Vec::new(), t0);
    drain(&mut r);
    let name = TrackName::from_path("live/match", "cam");
    assert_eq!(r.upstream_for(&name), Some(1));
}

fn who(class: crate::router::Class, identity: &'static str) -> crate::router::Publisher {
    crate::router::Publisher {
        class,
        identity: bytes::Bytes::from_static(identity.as_bytes()),
    }
}

fn with_takeover(policy: crate::router::TakeOver) -> Router {
    Router::new(RouterConfig {
        linger: Duration::from_secs(2),
        takeover: policy,
        ..RouterConfig::default()
    })
}

/// Under every policy the same publisher takes its own track back at once (a reconnecting
/// encoder is never "already publishing"); between different publishers the policy decides:
/// `class` lets an equal or higher class take over, `newest` anyone, `first` nobody.
#[test]
fn one_policy_decides_takeover_between_classes_and_the_same_identity_always_takes_over() {
    use crate::router::{Class, TakeOver};
    let t0 = Instant::now();
    // (policy, feeding class, new class, taken over?)
    let cases = [
        (TakeOver::Class, Class::Anonymous, Class::Anonymous, true),
        (TakeOver::Class, Class::Anonymous, Class::Authorised, true),
        (TakeOver::Class, Class::Authorised, Class::Anonymous, false),
        (TakeOver::Class, Class::Authorised, Class::Authorised, true),
        (TakeOver::Class, Class::Member, Class::Authorised, false),
        (TakeOver::Newest, Class::Authorised, Class::Anonymous, true),
        (TakeOver::First, Class::Anonymous, Class::Anonymous, false),
        (TakeOver::First, Class::Anonymous, Class::Member, false),
    ];
    for (policy, old, new, taken) in cases {
        let mut r = with_takeover(policy);
        r.handle_identity(1, who(old, "encoder-a"));
        r.handle_identity(2, who(new, "encoder-b"));
        assert!(r.handle_publish(1, 0, cam(), t0).is_some());
        drain(&mut r);
        let got = r.handle_publish(2, 0, cam(), t0).is_some();
        let cmds = drain(&mut r);
        assert_eq!(got, taken, "{policy:?}: {new:?} over {old:?}");
        if !taken {
            assert_eq!(
                refused(&cmds, 2),
                Some(Refusal::Published { class: old, policy }),
                "{policy:?}: {new:?} over {old:?}"
            );
        }
        // The track's publisher now, reconnecting on a new session, takes it back at once.
        let owner = if taken {
            who(new, "encoder-b")
        } else {
            who(old, "encoder-a")
        };
        r.handle_identity(3, owner.clone());
        let back = r.handle_publish(3, 0, cam(), t0);
        assert!(
            back.is_some(),
            "{policy:?}: {owner:?} was refused its own track: {:?}",
            drain(&mut r)
        );
    }
}

/// A lost publisher's identity outlives its session: its reconnection within the linger
/// window takes the track back under `first`, and a stranger is still refused.
#[test]
fn a_publisher_that_dropped_takes_its_track_back_under_first() {
    use crate::router::{Class, TakeOver};
    let t0 = Instant::now();
    let mut r = with_takeover(TakeOver::First);
    r.handle_identity(1, who(Class::Authorised, "cam-1"));
    assert!(r.handle_publish(1, 0, cam(), t0).is_some());
    // A viewer holds the track while its publisher is away.
    r.handle_subscribe(9, 0, cam(), Filter::LargestObject, Duration::ZERO, t0);
    r.handle_session_closed(1, t0);
    drain(&mut r);
    r.handle_identity(2, who(Class::Authorised, "someone-else"));
    assert!(r.handle_publish(2, 0, cam(), t0).is_none());
    r.handle_identity(3, who(Class::Authorised, "cam-1"));
    assert!(r.handle_publish(3, 0, cam(), t0).is_some());
}
