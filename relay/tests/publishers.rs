//! Publishers that come and go: one that drops and returns within the linger window keeps its
//! subscribers; a new publisher of a track takes it over (no ghost, no "already publishing");
//! primary and backup origins publishing byte-identical objects at the same locations (group
//! IDs from media time, as `tern origin --group-base` does) switch without viewers noticing.

mod support;

#[path = "failover/tree.rs"]
mod tree;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_peer::{History, TrackWriter};
use tern_quic::{ServerConfig, TransportLimits};
use tern_relay::node::Node;

use support::{default_settings, url};
use tree::{Cut, Origin, Seen, name, ns, produce, wait_flowing, watch};

const LINGER: Duration = Duration::from_secs(3);

/// A relay whose sessions idle out after 2 s (a killed publisher is noticed quickly).
fn relay() -> Node {
    tree::logs();
    let (mut router, settings) = default_settings();
    router.linger = LINGER;
    let server = ServerConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        max_sessions_per_ip: 256,
        // Every viewer of the test comes from 127.0.0.1.
        new_sessions_per_ip: 100_000,
        retry_threshold: 1024,
        transport: TransportLimits {
            idle_timeout: Duration::from_secs(2),
            keep_alive: Some(Duration::from_millis(500)),
            ..TransportLimits::default()
        },
        ..ServerConfig::default()
    };
    Node::start(server, router, settings).expect("relay starts")
}

async fn subscriptions(relay: &Node) -> Vec<(u64, u64)> {
    relay
        .hub
        .read(move |r| {
            let track = r.track_id(&name()).expect("the relay has the track");
            r.subscribers(track).to_vec()
        })
        .await
}

/// Each viewer's locations only ever increase (no duplicate, no step back).
fn assert_increasing(seen: &[Arc<Mutex<Seen>>]) {
    for (i, s) in seen.iter().enumerate() {
        let s = s.lock().expect("lock");
        if let Some(w) = s.objects.windows(2).find(|w| w[0].0 >= w[1].0) {
            panic!("viewer {i} got {:?} then {:?}", w[0].0, w[1].0);
        }
    }
}

async fn viewers(relay: &Node, n: usize) -> (Vec<tern_peer::Session>, Vec<Arc<Mutex<Seen>>>) {
    let mut sessions = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..n {
        let (v, s) = watch(&url(relay)).await;
        sessions.push(v);
        seen.push(s);
    }
    (sessions, seen)
}

/// A publisher (`produce`'s clock-based group IDs) watched by two viewers, which then drops
/// (its session closes) and stays away a third of the linger window. Returns its writers (now
/// none), the producer, the viewers, what they see and the relay's subscriptions before.
async fn watched_then_dropped(
    relay: &Node,
) -> (
    Arc<Mutex<Vec<TrackWriter>>>,
    tokio::task::JoinHandle<()>,
    Vec<tern_peer::Session>,
    Vec<Arc<Mutex<Seen>>>,
    Vec<(u64, u64)>,
) {
    let first = Origin::start(&url(relay)).await;
    let writers = Arc::new(Mutex::new(vec![first.writer.clone()]));
    let (producer, _written) = produce(writers.clone());
    let (v, seen) = viewers(relay, 2).await;
    wait_flowing(&seen, Duration::from_secs(5)).await;
    let before = subscriptions(relay).await;
    writers.lock().expect("lock").clear();
    first.session.close(0, "restarting");
    drop(first);
    tokio::time::sleep(LINGER / 3).await;
    (writers, producer, v, seen, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_drops_and_returns_within_the_linger_window_keeps_its_subscribers() {
    let relay = relay();
    // The publisher drops (its connection closes)...
    let (writers, producer, _v, seen, before) = watched_then_dropped(&relay).await;
    assert_eq!(
        relay.hub.read(move |r| r.lost_tracks()).await,
        1,
        "held, not ended"
    );
    assert_eq!(subscriptions(&relay).await, before);

    // ...and comes back on a new session within the window.
    let back = Origin::start(&url(&relay)).await;
    writers.lock().expect("lock").push(back.writer.clone());
    wait_flowing(&seen, Duration::from_secs(5)).await;
    assert_eq!(relay.hub.read(move |r| r.lost_tracks()).await, 0);
    assert_eq!(subscriptions(&relay).await, before, "nobody re-subscribed");
    // Past the window nothing ends either: the track is the returned publisher's.
    tokio::time::sleep(LINGER).await;
    wait_flowing(&seen, Duration::from_secs(5)).await;
    producer.abort();
    assert_increasing(&seen);
}

/// A publisher that comes back within the linger window as a new process, its group numbering
/// started again from 0 (a restarted encoder; an origin whose clock stepped back): the viewers
/// of the old numbering are told at once (PUBLISH_DONE) instead of waiting in a range that
/// will never come, and a viewer who subscribes again gets the new numbering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_returns_with_its_group_numbering_restarted_is_served() {
    let relay = relay();
    // Group IDs from the clock, far above the new numbering.
    let (_writers, producer, _v, seen, _) = watched_then_dropped(&relay).await;
    let back = Origin::start(&url(&relay)).await;
    let (restarted, _) = tree::produce_from(Arc::new(Mutex::new(vec![back.writer.clone()])), 0);
    tree::wait_for(
        LINGER / 2,
        "the viewers of the old numbering are told it is gone",
        async || seen.iter().all(|s| s.lock().expect("lock").ended.is_some()),
    )
    .await;
    for s in &seen {
        let s = s.lock().expect("lock");
        assert_eq!(s.ended.as_deref(), Some("ended"), "a clean PUBLISH_DONE");
    }
    let (_again, again) = watch(&url(&relay)).await;
    let again = [again];
    wait_flowing(&again, Duration::from_secs(5)).await;
    let got = again[0].lock().expect("lock").locations();
    assert!(
        got.iter().all(|&(g, _)| g < 1_000),
        "only the new numbering: {:?}",
        &got[..got.len().min(5)]
    );
    producer.abort();
    restarted.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_publisher_of_the_same_track_takes_over_cleanly() {
    let relay = relay();
    // Both push the track with PUBLISH.
    let first = tree::connect(&url(&relay)).await;
    let w1 = TrackWriter::new(ns(), tree::TRACK)
        .with_history(History::new(Duration::from_secs(30), 1 << 20));
    let writers = Arc::new(Mutex::new(vec![w1.clone()]));
    let (producer, written) = produce(writers.clone());
    first.publish(&w1).await.expect("first PUBLISH accepted");
    let (_v, seen) = viewers(&relay, 2).await;
    wait_flowing(&seen, Duration::from_secs(5)).await;
    let before = subscriptions(&relay).await;

    // A second publisher of the same track while the first is still there: accepted.
    let second = tree::connect(&url(&relay)).await;
    let w2 = TrackWriter::new(ns(), tree::TRACK)
        .with_history(History::new(Duration::from_secs(30), 1 << 20));
    writers.lock().expect("lock").push(w2.clone());
    second
        .publish(&w2)
        .await
        .expect("the second PUBLISH of a live track is accepted (no \"already publishing\")");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The first leaves: no ghost is left holding the track, viewers carry on.
    writers.lock().expect("lock").remove(0);
    first.close(0, "replaced");
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_flowing(&seen, Duration::from_secs(5)).await;
    let second_session = tree::upstream_address(&relay).await;
    assert_eq!(relay.hub.read(move |r| r.lost_tracks()).await, 0);
    assert_eq!(subscriptions(&relay).await, before, "nobody re-subscribed");
    assert_ne!(second_session.port(), 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    producer.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tree::assert_contiguous(&written.lock().expect("lock"), &seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_and_backup_origins_switch_without_viewers_noticing() {
    let relay = relay();
    let cuts = [Cut::start(relay.addr).await, Cut::start(relay.addr).await];
    let origins = [
        Origin::start(&cuts[0].url()).await,
        Origin::start(&cuts[1].url()).await,
    ];
    let writers = Arc::new(Mutex::new(vec![
        origins[0].writer.clone(),
        origins[1].writer.clone(),
    ]));
    let (producer, written) = produce(writers.clone());
    let (_v, seen) = viewers(&relay, 3).await;
    wait_flowing(&seen, Duration::from_secs(5)).await;
    let before = subscriptions(&relay).await;

    // The origin in use dies silently (its packets stop, as when its process is killed).
    let primary = origins
        .iter()
        .position(|o| o.writer.subscribers() == 1)
        .expect("the relay subscribes at one of the origins");
    cuts[primary].kill();
    writers.lock().expect("lock").remove(primary);
    let waited = wait_flowing(&seen, Duration::from_secs(10)).await;
    eprintln!("primary killed → next object at each viewer: {waited:?}");
    // Longer than a player waits on a stalled group (2 s): a group left open would show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    producer.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tree::assert_contiguous(&written.lock().expect("lock"), &seen);
    assert_eq!(subscriptions(&relay).await, before, "nobody re-subscribed");
    assert!(relay.hub.read(move |r| r.failovers()).await >= 1);
}

/// Viewers of a publisher that ends its track and closes its session right after: the end
/// reaches them as a clean PUBLISH_DONE at once, not after a hold for the linger window (the
/// close must not cut short the relay's reading of the PUBLISH_DONE that came before it).
async fn end_then_close(session: tern_peer::Session, writer: TrackWriter, relay: &Node) {
    let writers = Arc::new(Mutex::new(vec![writer.clone()]));
    let (producer, _written) = produce(writers.clone());
    let (_v, seen) = viewers(relay, 2).await;
    wait_flowing(&seen, Duration::from_secs(5)).await;

    producer.abort();
    writer.finish();
    // PUBLISH_DONE is on its way; the session closes while the relay still lets the track's
    // last data land.
    tokio::time::sleep(Duration::from_millis(50)).await;
    session.close(0, "done");
    let deadline = tokio::time::Instant::now() + LINGER / 2;
    while seen.iter().any(|s| s.lock().expect("lock").ended.is_none()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "viewers still wait {:?} after the publisher ended its track and left",
            LINGER / 2
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for s in &seen {
        let ended = s.lock().expect("lock").ended.clone();
        assert_eq!(ended.as_deref(), Some("ended"), "a clean end");
    }
    assert_eq!(relay.hub.read(move |r| r.lost_tracks()).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_ends_its_published_track_and_closes_at_once_ends_it_for_viewers() {
    let relay = relay();
    let session = tree::connect(&url(&relay)).await;
    let writer = TrackWriter::new(ns(), tree::TRACK)
        .with_history(History::new(Duration::from_secs(30), 1 << 20));
    session.publish(&writer).await.expect("PUBLISH accepted");
    end_then_close(session, writer, &relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_that_ends_its_track_and_closes_at_once_ends_it_for_viewers() {
    let relay = relay();
    let origin = Origin::start(&url(&relay)).await;
    end_then_close(origin.session.clone(), origin.writer.clone(), &relay).await;
    drop(origin);
}
