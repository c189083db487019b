//! `upstream.linger`: an edge keeps its upstream subscription for the linger window after its
//! last subscriber leaves (a viewer who comes straight back reuses it), then UNSUBSCRIBEs.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tern_moq::Location;
use tern_moq::message::SubscriptionFilter;
use tern_relay::core::types::TrackName;
use tern_relay::node::Node;

use support::*;

const LINGER: Duration = Duration::from_millis(1200);

/// Downstream subscribers the relay has for `live/l` `video` (0 when it forgot the track).
async fn subscribers(relay: &Node) -> usize {
    let name = TrackName::from_path("live/l", "video");
    relay
        .hub
        .read(move |r| r.track_id(&name).map_or(0, |t| r.subscribers(t).len()))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_keeps_its_upstream_subscription_for_the_linger_window_then_unsubscribes() {
    let root = start_relay(default_settings().0, default_settings().1);
    let (mut router, mut settings) = default_settings();
    router.linger = LINGER;
    settings.upstreams = vec![url(&root)];
    settings.upstream_tls.disable_verify = true;
    let edge = start_relay(router, settings);
    let publisher = Publisher::start(&url(&root), "live/l").await;

    // First viewer: the edge subscribes at the root, the root at the publisher.
    let first = Peer::connect(&url(&edge)).await;
    let mut waiting = None;
    for _ in 0..50 {
        let (req, answer) = first.subscribe("live/l", "video", None).await;
        if answer.is_ok() {
            waiting = Some(req);
            break;
        }
        // The edge has not learned the namespace from the root yet.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let req = waiting.expect("the edge learns live/l from the root within 5 s");
    let subscribed = publisher.subscribed().await;
    let payloads: Vec<_> = (0..2).map(|o| payload(3, 0, o, 300)).collect();
    publisher
        .peer
        .write_group(subscribed.alias, 0, &payloads)
        .await;
    assert_eq!(first.objects(2, STEP).await.len(), 2);
    assert_eq!(
        subscribers(&root).await,
        1,
        "the edge's one subscription at the root"
    );

    // The last viewer leaves; another comes back within the window.
    req.close(Duration::from_millis(200)).await;
    let left = Instant::now();
    tokio::time::sleep(LINGER / 3).await;
    let second = Peer::connect(&url(&edge)).await;
    let (_again, _ok) = second
        .subscribe_ok("live/l", "video", Some(SubscriptionFilter::LargestObject))
        .await;
    assert!(
        left.elapsed() < LINGER,
        "the test was too slow to come back in time"
    );
    let payloads: Vec<_> = (0..2).map(|o| payload(3, 1, o, 300)).collect();
    publisher
        .peer
        .write_group(subscribed.alias, 1, &payloads)
        .await;
    let got = second.objects(2, STEP).await;
    assert_eq!(
        got[0].0,
        Location::new(1, 0),
        "the lingering subscription carries on"
    );
    assert_eq!(
        edge.hub.read(move |r| r.upstream_subscribes()).await,
        1,
        "no new upstream SUBSCRIBE from the edge"
    );
    assert_eq!(publisher.subscribes.load(Ordering::SeqCst), 1);
    assert_eq!(subscribers(&root).await, 1);

    // Everyone leaves: the subscription stays for the window, and is gone after it.
    _again.close(Duration::from_millis(200)).await;
    let left = Instant::now();
    tokio::time::sleep(LINGER / 2).await;
    assert_eq!(
        subscribers(&root).await,
        1,
        "still subscribed at the root {:?} after the last viewer left",
        left.elapsed()
    );
    let deadline = Instant::now() + LINGER + STEP;
    while subscribers(&root).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the edge still subscribes at the root {:?} after its last viewer left",
            left.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = left.elapsed();
    assert!(
        gone >= LINGER,
        "UNSUBSCRIBEd after {gone:?}, before the {LINGER:?} linger window"
    );
    assert!(
        edge.hub.read(move |r| r.track_count()).await == 0,
        "the edge forgot the track"
    );
}
