//! The node's local API ([`tern_model::local`]) on running relays over real loopback QUIC: an
//! in-process publisher and an in-process reader next to MoQ publishers and viewers on the
//! same tracks, across a two-relay tree, and each point of the contract the front-ends rely
//! on (identity and trust class, take-over and linger, budgets, fast "not found", catalog,
//! joining at the current group, past groups, end of track, incomplete groups, plugin phases).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tern_model::local::{
    BroadcastProducer, Credentials, LocalApi, ReadOptions, Reading, RefusedKind, Start, TrackLost,
    Vouched,
};
use tern_model::{Appended, Delivery, Next, Object, ObjectStatus, SubgroupEnd, TrackName};
use tern_moq::Location;
use tern_moq::message::Parameters;
use tern_relay::core::router::TakeOver;
use tern_relay::node::Node;

use support::*;

fn relay(
    upstreams: &[&Node],
    tune: impl FnOnce(&mut tern_relay::core::router::RouterConfig, &mut tern_relay::node::NodeSettings),
) -> Node {
    let (mut router, mut settings) = default_settings();
    settings.upstreams = upstreams.iter().map(|n| url(n)).collect();
    settings.upstream_tls.disable_verify = true;
    tune(&mut router, &mut settings);
    start_relay(router, settings)
}

fn namespace(path: &str) -> Vec<Bytes> {
    path.split('/')
        .map(|f| Bytes::copy_from_slice(f.as_bytes()))
        .collect()
}

fn track(path: &str, name: &str) -> TrackName {
    TrackName::from_path(path, name)
}

/// A peer of the front-end at `ip` (an address value only: nothing is sent to it).
fn from(ip: [u8; 4]) -> Credentials {
    Credentials {
        peer: SocketAddr::from((ip, 40_000)),
        token: None,
        via: "test",
        member: false,
    }
}

fn object(group: u64, id: u64, payload: Bytes) -> Object {
    Object {
        location: Location::new(group, id),
        status: ObjectStatus::Normal,
        properties: Bytes::new(),
        payload,
        end_of_group: false,
    }
}

async fn publish(api: &LocalApi, path: &str, who: Credentials) -> BroadcastProducer {
    within(STEP, "local publish", api.publish(namespace(path), who))
        .await
        .unwrap_or_else(|e| panic!("publishing {path} refused: {e}"))
}

/// Every delivery of `reading` until `done` holds for those so far, or until the track
/// closed; each wait is bounded by [`STEP`] (`what` names it).
async fn deliveries(
    reading: &mut Reading,
    what: &str,
    done: impl Fn(&[Delivery]) -> bool,
) -> Vec<Delivery> {
    let mut seen = Vec::new();
    let mut batch = Vec::new();
    loop {
        let next = within(STEP, what, reading.next(64, &mut batch)).await;
        seen.append(&mut batch);
        if done(&seen) || next == Next::Closed {
            return seen;
        }
    }
}

/// The objects among `deliveries`.
fn objects_in(deliveries: &[Delivery]) -> Vec<&Object> {
    deliveries
        .iter()
        .filter_map(|d| match d {
            Delivery::Object { object, .. } => Some(object),
            _ => None,
        })
        .collect()
}

/// The objects (location, payload) a reading delivers until `n` arrived.
async fn read_objects(reading: &mut Reading, n: usize) -> Vec<(Location, Bytes)> {
    let seen = deliveries(reading, "local reader's objects", |d| {
        objects_in(d).len() >= n
    })
    .await;
    let out: Vec<_> = objects_in(&seen)
        .into_iter()
        .map(|o| (o.location, o.payload.clone()))
        .collect();
    assert!(
        out.len() >= n,
        "the track closed after {} of {n} objects",
        out.len()
    );
    out
}

/// A local reader of `path`/`name` that waits up to 5 s for a publisher, subscribing on a task
/// of its own.
fn subscribe_waiting(
    api: &LocalApi,
    path: &'static str,
    name: &'static str,
) -> tokio::task::JoinHandle<Result<Reading, tern_model::local::Refused>> {
    let api = api.clone();
    let options = ReadOptions {
        rendezvous: Duration::from_secs(5),
        ..ReadOptions::default()
    };
    tokio::spawn(async move {
        api.subscribe(track(path, name), Credentials::in_process("test"), options)
            .await
    })
}

/// Waits a MoQ SUBSCRIBE makes for a publisher not there yet.
fn waiting(ms: u64) -> Parameters {
    let mut p = Parameters::new();
    p.set_rendezvous_timeout(ms);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_and_moq_publishers_and_readers_share_tracks_across_a_tree() {
    let root = relay(&[], |_, _| {});
    let edge = relay(&[&root], |_, _| {});
    let api = edge.local();

    // An in-process publisher on the edge; a MoQ viewer at the root and an in-process reader
    // on the edge read its track.
    let broadcast = publish(&api, "live/local", Credentials::in_process("test")).await;
    let video = broadcast.track("video").await.expect("track granted");
    let moq_viewer = Peer::connect(&url(&root)).await;
    let (_id, _sub, answer) = moq_viewer
        .subscribe_with("live/local", "video", waiting(5_000))
        .await;
    answer.expect("the root reaches the edge's local broadcast");
    let mut local_reader = within(
        STEP,
        "local subscribe",
        api.subscribe(
            track("live/local", "video"),
            Credentials::in_process("test"),
            ReadOptions::default(),
        ),
    )
    .await
    .expect("local reader admitted");
    let payloads: Vec<Bytes> = (0..4).map(|o| payload(7, 0, o, 900)).collect();
    for (o, p) in payloads.iter().enumerate() {
        let appended = video
            .append(object(0, o as u64, p.clone()), 0, 128)
            .unwrap();
        assert!(matches!(appended, Appended::New(_)), "{appended:?}");
    }
    let want: Vec<_> = (0..4)
        .map(|o| (Location::new(0, o), payloads[o as usize].clone()))
        .collect();
    assert_eq!(
        moq_viewer.objects(4, STEP).await,
        want,
        "MoQ viewer at the root"
    );
    assert_eq!(
        read_objects(&mut local_reader, 4).await,
        want,
        "local reader on the edge"
    );

    // A MoQ publisher at the root; an in-process reader and a MoQ viewer on the edge.
    let moq_publisher = Publisher::start(&url(&root), "live/moq").await;
    let reader = subscribe_waiting(&api, "live/moq", "audio");
    let subscribed = moq_publisher.subscribed().await;
    assert_eq!(&subscribed.track[..], b"audio");
    let mut moq_read = within(STEP, "local subscribe answered", reader)
        .await
        .unwrap()
        .expect("the edge reaches the root's MoQ publisher");
    let edge_viewer = Peer::connect(&url(&edge)).await;
    let (_sub2, _) = edge_viewer.subscribe_ok("live/moq", "audio", None).await;
    let group: Vec<Bytes> = (0..3).map(|o| payload(9, 0, o, 300)).collect();
    moq_publisher
        .peer
        .write_group(subscribed.alias, 0, &group)
        .await;
    let want: Vec<_> = (0..3)
        .map(|o| (Location::new(0, o), group[o as usize].clone()))
        .collect();
    assert_eq!(read_objects(&mut moq_read, 3).await, want, "local reader");
    assert_eq!(
        edge_viewer.objects(3, STEP).await,
        want,
        "MoQ viewer on the edge"
    );
    assert_eq!(
        moq_publisher
            .subscribes
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one upstream subscription for the local reader and the MoQ viewer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_publishers_from_other_hosts_are_refused_unless_publishing_is_open() {
    let closed = relay(&[], |r, _| r.open_publishing = false);
    let refused = closed
        .local()
        .publish(namespace("live/cam1"), from([192, 0, 2, 7]))
        .await
        .expect_err("an anonymous publisher from another host");
    assert_eq!(refused.kind, RefusedKind::Unauthorized);
    assert!(
        refused.reason.contains("open_publishing"),
        "{}",
        refused.reason
    );
    // The same publisher on this host is admitted.
    publish(
        &closed.local(),
        "live/cam1",
        Credentials::in_process("test"),
    )
    .await;

    let open = relay(&[], |r, _| r.open_publishing = true);
    publish(&open.local(), "live/cam1", from([192, 0, 2, 7])).await;
    let empty = open.local().publish(Vec::new(), from([192, 0, 2, 7])).await;
    assert_eq!(
        empty.expect_err("an empty namespace").kind,
        RefusedKind::Invalid
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_its_front_end_vouched_for_publishes_from_anywhere_under_that_identity() {
    // Publishing is not open, and the first publisher keeps its tracks.
    let node = relay(&[], |r, _| {
        r.open_publishing = false;
        r.takeover = TakeOver::First;
    });
    let key = |k: &str| node.local().vouched(Vouched(k.to_owned()));
    let a = publish(&key("cam1 key"), "live/v", from([192, 0, 2, 7])).await;
    let a_video = a
        .track("video")
        .await
        .expect("a vouched publisher from another host");
    a_video
        .append(object(0, 0, payload(4, 0, 0, 100)), 0, 128)
        .unwrap();
    // Another identity is refused by the take-over policy...
    let b = publish(&key("another key"), "live/v", from([192, 0, 2, 8])).await;
    let refused = b.track("video").await.expect_err("the first keeps it");
    assert_eq!(refused.kind, RefusedKind::Conflict);
    // ... and the same one, coming back from elsewhere, takes its track back.
    let again = publish(&key("cam1 key"), "live/v", from([198, 51, 100, 1])).await;
    let again_video = again.track("video").await.expect("its own track back");
    assert!(
        again_video
            .append(object(0, 1, payload(4, 0, 1, 100)), 0, 128)
            .is_ok()
    );
    assert_eq!(
        a_video.append(object(0, 2, payload(4, 0, 2, 100)), 0, 128),
        Err(TrackLost)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_take_over_policy_decides_between_local_and_moq_publishers() {
    // "first": a second publisher of another identity is refused, the same identity is not.
    let first = relay(&[], |r, _| {
        r.open_publishing = true;
        r.takeover = TakeOver::First;
    });
    let api = first.local();
    let a = publish(&api, "live/t", from([10, 0, 0, 1])).await;
    let a_video = a.track("video").await.unwrap();
    a_video
        .append(object(0, 0, payload(1, 0, 0, 100)), 0, 128)
        .unwrap();
    let b = publish(&api, "live/t", from([10, 0, 0, 2])).await;
    let refused = b
        .track("video")
        .await
        .expect_err("the first publisher keeps it");
    assert_eq!(refused.kind, RefusedKind::Conflict);
    assert!(
        refused.reason.contains("relay.takeover"),
        "{}",
        refused.reason
    );
    let again = publish(&api, "live/t", from([10, 0, 0, 1])).await;
    let again_video = again.track("video").await.expect("its own track back");
    assert_eq!(
        a_video.append(object(0, 1, payload(1, 0, 1, 100)), 0, 128),
        Err(TrackLost)
    );
    assert!(a_video.is_lost());
    assert!(
        again_video
            .append(object(0, 1, payload(1, 0, 1, 100)), 0, 128)
            .is_ok()
    );

    // "class" (the default): a newer anonymous publisher takes over; a MoQ publisher of the
    // same class takes over a local one, which learns it on its next append.
    let class = relay(&[], |r, _| r.open_publishing = true);
    let api = class.local();
    let viewer = Peer::connect(&url(&class)).await;
    let local = publish(&api, "live/c", from([10, 0, 0, 1])).await;
    let local_video = local.track("video").await.unwrap();
    let (_sub, _) = viewer.subscribe_ok("live/c", "video", None).await;
    local_video
        .append(object(0, 0, payload(2, 0, 0, 100)), 0, 128)
        .unwrap();
    assert_eq!(viewer.objects(1, STEP).await.len(), 1);
    let moq = Peer::connect(&url(&class)).await;
    let _ns = moq.publish_namespace("live/c").await;
    let _publish = moq.publish_track("live/c", "video", 1).await;
    within(STEP, "take-over seen by the local publisher", async {
        while !local_video.is_lost() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(
        local_video.append(object(0, 1, payload(2, 0, 1, 100)), 0, 128),
        Err(TrackLost)
    );
    moq.write_group(1, 1, &[payload(3, 1, 0, 100)]).await;
    let got = viewer.objects(1, STEP).await;
    assert_eq!(
        got,
        vec![(Location::new(1, 0), payload(3, 1, 0, 100))],
        "the viewer goes on with the MoQ publisher"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_publisher_that_goes_away_lingers_and_one_that_finishes_ends_its_tracks() {
    let node = relay(&[], |r, _| r.linger = Duration::from_secs(5));
    let api = node.local();
    let viewer = Peer::connect(&url(&node)).await;

    let first = publish(&api, "live/l", Credentials::in_process("test")).await;
    let video = first.track("video").await.unwrap();
    let (mut sub, _) = viewer.subscribe_ok("live/l", "video", None).await;
    video
        .append(object(0, 0, payload(4, 0, 0, 200)), 0, 128)
        .unwrap();
    assert_eq!(viewer.objects(1, STEP).await.len(), 1);

    // Gone without finishing: the viewer's subscription is held, and the same publisher
    // coming back carries it on.
    drop(video);
    drop(first);
    assert!(
        sub.next_within(Duration::from_millis(500)).await.is_none(),
        "no PUBLISH_DONE while the track lingers"
    );
    let back = publish(&api, "live/l", Credentials::in_process("test")).await;
    let video = back.track("video").await.expect("its track back");
    video
        .append(object(1, 0, payload(4, 1, 0, 200)), 0, 128)
        .unwrap();
    assert_eq!(
        viewer.objects(1, STEP).await,
        vec![(Location::new(1, 0), payload(4, 1, 0, 200))]
    );

    // Finished: the track ends for its MoQ viewer and for a local reader.
    let mut reader = api
        .subscribe(
            track("live/l", "video"),
            Credentials::in_process("test"),
            ReadOptions::default(),
        )
        .await
        .unwrap();
    video
        .append(
            Object {
                status: ObjectStatus::EndOfTrack,
                ..object(1, 1, Bytes::new())
            },
            0,
            128,
        )
        .unwrap();
    back.finish();
    match within(STEP, "PUBLISH_DONE", sub.next()).await {
        Some(tern_moq::Message::PublishDone(_)) => {}
        other => panic!("expected PUBLISH_DONE, got {other:?}"),
    }
    let seen = deliveries(&mut reader, "local reader ends", |_| false).await;
    let statuses: Vec<ObjectStatus> = objects_in(&seen).iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        vec![ObjectStatus::EndOfTrack],
        "the end of track, then closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_publisher_is_pushed_back_past_its_live_budget() {
    let node = relay(&[], |_, s| s.cache.max_live_per_session = 64 << 10);
    let api = node.local();
    let broadcast = publish(&api, "live/big", Credentials::in_process("test")).await;
    let video = broadcast.track("video").await.unwrap();
    let mut outcomes = Vec::new();
    for o in 0..32 {
        outcomes.push(
            video
                .append(object(0, o, payload(5, 0, o, 8 << 10)), 0, 128)
                .unwrap(),
        );
    }
    let cached = outcomes
        .iter()
        .filter(|a| matches!(a, Appended::New(_)))
        .count();
    assert!(outcomes.contains(&Appended::OverBudget), "{outcomes:?}");
    assert!(
        (4..=8).contains(&cached),
        "64 KiB of an open group: {cached} objects of 8 KiB"
    );
    // Another publisher is not held to this one's share.
    let other = publish(&api, "live/small", Credentials::in_process("other")).await;
    let audio = other.track("audio").await.unwrap();
    assert!(matches!(
        audio
            .append(object(0, 0, payload(6, 0, 0, 1000)), 0, 128)
            .unwrap(),
        Appended::New(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_broadcast_is_not_found_at_once_without_asking_upstream() {
    let root = relay(&[], |_, _| {});
    let edge = relay(&[&root], |_, _| {});
    let publisher = Publisher::start(&url(&root), "live/known").await;
    let api = edge.local();
    // The edge learns the root's namespaces over its link.
    within(STEP, "the root's broadcast listed at the edge", async {
        while api
            .broadcast(namespace("live/known"), Credentials::in_process("test"))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let started = std::time::Instant::now();
    for i in 0..1000 {
        let name = format!("live/missing{i}");
        let refused = api
            .broadcast(namespace(&name), Credentials::in_process("test"))
            .await
            .expect_err("unknown");
        assert_eq!(refused.kind, RefusedKind::NotFound);
        let refused = api
            .subscribe(
                track(&name, "video"),
                Credentials::in_process("test"),
                ReadOptions::default(),
            )
            .await
            .expect_err("unknown");
        assert_eq!(refused.kind, RefusedKind::NotFound);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "2000 lookups of unknown names took {:?}",
        started.elapsed()
    );
    assert_eq!(edge.hub.read(move |r| r.upstream_subscribes()).await, 0);
    assert_eq!(
        publisher
            .subscribes
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_gets_the_catalog_joins_at_the_current_group_and_fetches_past_groups() {
    let node = relay(&[], |_, _| {});
    let api = node.local();
    let broadcast = publish(&api, "live/j", Credentials::in_process("test")).await;
    let catalog = broadcast.track("catalog").await.unwrap();
    let video = broadcast.track("video").await.unwrap();
    let json = Bytes::from_static(br#"{"version":1,"tracks":[{"name":"video"}]}"#);
    catalog.append(object(0, 0, json.clone()), 0, 128).unwrap();
    for g in 0..3 {
        for o in 0..4 {
            video
                .append(object(g, o, payload(8, g, o, 500)), 0, 128)
                .unwrap();
        }
        if g < 2 {
            video.end_subgroup(g, 0, SubgroupEnd::Fin, true).unwrap();
        }
    }
    let info = api
        .broadcast(namespace("live/j"), Credentials::in_process("test"))
        .await
        .unwrap();
    assert_eq!(
        info.tracks,
        vec![Bytes::from("catalog"), Bytes::from("video")]
    );
    let got = api
        .catalog(namespace("live/j"), Credentials::in_process("test"), STEP)
        .await
        .unwrap();
    assert_eq!(got, json);

    let mut reader = api
        .subscribe(
            track("live/j", "video"),
            Credentials::in_process("test"),
            ReadOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(reader.largest(), Some(Location::new(2, 3)));
    let joined: Vec<Location> = reader.joined().iter().map(|e| e.location()).collect();
    assert_eq!(
        joined,
        (0..4).map(|o| Location::new(2, o)).collect::<Vec<_>>()
    );
    video
        .append(object(2, 4, payload(8, 2, 4, 500)), 0, 128)
        .unwrap();
    assert_eq!(
        read_objects(&mut reader, 1).await,
        vec![(Location::new(2, 4), payload(8, 2, 4, 500))],
        "the live objects follow on from the joined ones"
    );
    let past = reader
        .fetch(Location::new(0, 0), Location::new(1, 3))
        .await
        .expect("past groups held");
    assert_eq!(past.entries.len(), 8);

    // A reader of the next group sees nothing of the current one; an incomplete subgroup
    // reaches it as a reset.
    let mut next = api
        .subscribe(
            track("live/j", "video"),
            Credentials::in_process("test"),
            ReadOptions {
                start: Start::NextGroup,
                ..ReadOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(next.joined().is_empty());
    video
        .append(object(3, 0, payload(8, 3, 0, 500)), 0, 128)
        .unwrap();
    video
        .end_subgroup(3, 0, SubgroupEnd::Reset(0x5), false)
        .unwrap();
    let seen = deliveries(&mut next, "the reset reaches the reader", |d| {
        d.iter().any(|d| matches!(d, Delivery::Reset { .. }))
    })
    .await;
    assert!(
        seen.iter().any(|d| matches!(d, Delivery::Reset { .. })),
        "{seen:?}"
    );
    let objects: Vec<Location> = objects_in(&seen).iter().map(|o| o.location).collect();
    assert_eq!(objects, vec![Location::new(3, 0)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_of_a_track_nobody_publishes_waits_for_its_rendezvous() {
    let node = relay(&[], |_, _| {});
    let api = node.local();
    let reader = subscribe_waiting(&api, "live/late", "video");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let broadcast = publish(&api, "live/late", Credentials::in_process("test")).await;
    let video = broadcast.track("video").await.unwrap();
    let mut reading = within(STEP, "rendezvous", reader)
        .await
        .unwrap()
        .expect("met");
    video
        .append(object(0, 0, payload(1, 0, 0, 10)), 0, 128)
        .unwrap();
    assert_eq!(read_objects(&mut reading, 1).await.len(), 1);

    let timed_out = api
        .subscribe(
            track("live/never", "video"),
            Credentials::in_process("test"),
            ReadOptions {
                rendezvous: Duration::from_millis(200),
                ..ReadOptions::default()
            },
        )
        .await
        .expect_err("nobody publishes it");
    assert_eq!(timed_out.kind, RefusedKind::Timeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_of_a_track_a_local_broadcast_has_not_made_yet_waits_for_it() {
    let node = relay(&[], |_, s| {
        s.upstream_answer_timeout = Duration::from_millis(800)
    });
    let api = node.local();
    let broadcast = publish(&api, "live/p", Credentials::in_process("test")).await;
    let viewer = Peer::connect(&url(&node)).await;
    let asked = tokio::spawn(async move {
        let (request, answer) = viewer.subscribe("live/p", "video", None).await;
        (viewer, request, answer)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let video = broadcast.track("video").await.expect("made");
    let (viewer, _request, answer) = within(STEP, "SUBSCRIBE answered", asked).await.unwrap();
    answer.expect("the viewer gets the track once its publisher makes it");
    video
        .append(object(0, 0, payload(3, 0, 0, 50)), 0, 128)
        .unwrap();
    assert_eq!(viewer.objects(1, STEP).await.len(), 1);

    // A track the publisher never makes is refused after the answer timeout.
    let started = std::time::Instant::now();
    let (_req, answer) = viewer.subscribe("live/p", "nothing", None).await;
    answer.expect_err("never made");
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_is_refused_tracks_past_the_request_limit_and_others_are_not() {
    let node = relay(&[], |_, s| s.max_requests_per_session = 3);
    let api = node.local();
    let greedy = publish(&api, "live/many", Credentials::in_process("test")).await;
    for i in 0..3 {
        greedy
            .track(format!("t{i}"))
            .await
            .expect("within the limit");
    }
    let refused = greedy.track("t3").await.expect_err("past the limit");
    assert_eq!(refused.kind, RefusedKind::Overloaded);
    assert!(
        refused.reason.contains("limits.max_requests_per_session"),
        "{}",
        refused.reason
    );
    let other = publish(&api, "live/few", Credentials::in_process("test")).await;
    other
        .track("video")
        .await
        .expect("another broadcast is not held to it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_on_a_cold_edge_joins_at_the_current_groups_start_and_fetches_past_groups_upstream()
 {
    let root = relay(&[], |_, _| {});
    let edge = relay(&[&root], |_, _| {});
    let at_root = root.local();
    let broadcast = publish(&at_root, "live/cold", Credentials::in_process("test")).await;
    let video = broadcast.track("video").await.unwrap();
    for g in 0..3 {
        for o in 0..4 {
            video
                .append(object(g, o, payload(6, g, o, 700)), 0, 128)
                .unwrap();
        }
        if g < 2 {
            video.end_subgroup(g, 0, SubgroupEnd::Fin, true).unwrap();
        }
    }

    // The edge holds nothing of the track: the start of the current group comes from the
    // root, and what follows arrives live.
    let api = edge.local();
    let mut reader = within(
        STEP,
        "local subscribe on the edge",
        api.subscribe(
            track("live/cold", "video"),
            Credentials::in_process("test"),
            ReadOptions {
                rendezvous: Duration::from_secs(5),
                ..ReadOptions::default()
            },
        ),
    )
    .await
    .expect("the edge reaches the root's broadcast");
    assert_eq!(reader.largest(), Some(Location::new(2, 3)));
    let joined: Vec<(Location, Bytes)> = reader
        .joined()
        .into_iter()
        .filter_map(|e| match e {
            tern_model::fetch::Entry::Object {
                location, payload, ..
            } => Some((location, payload)),
            tern_model::fetch::Entry::Unknown(_) => None,
        })
        .collect();
    assert_eq!(
        joined,
        (0..4)
            .map(|o| (Location::new(2, o), payload(6, 2, o, 700)))
            .collect::<Vec<_>>(),
        "the current group from its first object"
    );
    video
        .append(object(2, 4, payload(6, 2, 4, 700)), 0, 128)
        .unwrap();
    assert_eq!(
        read_objects(&mut reader, 1).await,
        vec![(Location::new(2, 4), payload(6, 2, 4, 700))],
        "the live objects follow on from the joined ones"
    );

    // Past groups the edge never held come from the root.
    let past = within(
        STEP,
        "fetch of past groups",
        reader.fetch(Location::new(0, 0), Location::new(1, 3)),
    )
    .await
    .expect("the root holds the past groups");
    let got: Vec<Location> = past.entries.iter().map(|e| e.location()).collect();
    let want: Vec<Location> = (0..2)
        .flat_map(|g| (0..4).map(move |o| Location::new(g, o)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(past.last, Location::new(1, 3));

    // A range nobody holds is refused with a reason.
    let refused = within(
        STEP,
        "fetch past the largest",
        reader.fetch(Location::new(9, 0), Location::new(9, 3)),
    )
    .await
    .expect_err("nothing there");
    assert_eq!(refused.kind, RefusedKind::NotFound);
    assert!(!refused.reason.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_are_bounded_and_the_rest_wait_their_turn() {
    let node = relay(&[], |_, s| s.max_local_calls = 2);
    let api = node.local();
    let _held = publish(&api, "live/here", Credentials::in_process("test")).await;
    // Two readers of tracks nobody publishes hold both places for their rendezvous.
    let waiting: Vec<_> = (0..2)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                let options = ReadOptions {
                    rendezvous: Duration::from_millis(1_500),
                    ..ReadOptions::default()
                };
                let name = format!("nobody{i}");
                api.subscribe(
                    track("live/none", &name),
                    Credentials::in_process("test"),
                    options,
                )
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A third call waits for a place rather than adding a task of its own ...
    let started = tokio::time::Instant::now();
    let third = api.broadcast(namespace("live/here"), Credentials::in_process("test"));
    tokio::pin!(third);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut third)
            .await
            .is_err(),
        "answered while both places were held"
    );
    // ... and is answered once one is free.
    let info = within(STEP, "the third call", third)
        .await
        .expect("the broadcast is here");
    assert_eq!(info.namespace, namespace("live/here"));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    for w in waiting {
        let refused = w.await.unwrap().expect_err("nobody publishes");
        assert_eq!(refused.kind, RefusedKind::Timeout);
    }
}

/// The entries of a FETCH of `track` in `path`, groups `from..=to`, as a MoQ viewer gets them;
/// `Err` when it is refused.
async fn fetched(
    node: &Node,
    path: &str,
    track: &str,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, u64)>, tern_peer::Error> {
    let opts = tern_peer::ConnectOptions {
        disable_verify: true,
        ..Default::default()
    };
    let viewer = tern_peer::Session::connect(&url(node), &opts)
        .await
        .expect("viewer connects");
    // End Location (to, 0): the whole of group `to`.
    let end = Location::new(to, 0);
    let mut fetch = viewer
        .fetch(ns(path), track.to_owned(), Location::new(from, 0), end)
        .await?;
    let mut got = Vec::new();
    while let Some(entry) = within(STEP, "a fetched entry", fetch.next()).await? {
        if let tern_peer::FetchEntry::Object(o) = entry {
            got.push((o.location.group, o.location.object));
        }
    }
    Ok(got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_publishers_dvr_answers_fetch_past_the_node_caches_age() {
    // The node keeps completed groups for 300 ms; the publisher's DVR keeps them for a minute.
    let node = relay(&[], |_, s| s.cache.max_age = Duration::from_millis(300));
    let api = node.local();
    let broadcast = publish(&api, "live/dvr", Credentials::in_process("test")).await;
    let dvr = tern_peer::History::new(Duration::from_secs(60), 1 << 20);
    let kept = tern_peer::TrackWriter::in_node(broadcast.track("video").await.unwrap())
        .with_history(dvr.clone());
    let plain = tern_peer::TrackWriter::in_node(broadcast.track("audio").await.unwrap());
    for g in 0..4 {
        for w in [&kept, &plain] {
            w.new_group(g).unwrap();
            for o in 0..3 {
                w.write_object(payload(9, g, o, 1_000)).unwrap();
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The next group's first object makes each track evict what its budget no longer keeps.
    for w in [&kept, &plain] {
        w.new_group(4).unwrap();
        w.write_object(payload(9, 4, 0, 1_000)).unwrap();
    }
    assert!(dvr.used_bytes() >= 4 * 3 * 1_000, "{}", dvr.used_bytes());

    let from_dvr = fetched(&node, "live/dvr", "video", 0, 1).await.unwrap();
    let want: Vec<(u64, u64)> = (0..2).flat_map(|g| (0..3).map(move |o| (g, o))).collect();
    assert_eq!(
        from_dvr, want,
        "the DVR's groups, past the node cache's age"
    );
    // Without a DVR the node's own budget applies: those groups are gone.
    match fetched(&node, "live/dvr", "audio", 0, 1).await {
        Ok(got) => assert!(got.is_empty(), "{got:?}"),
        Err(e) => assert!(matches!(e, tern_peer::Error::Refused { .. }), "{e}"),
    }
}
