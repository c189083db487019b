//! Relay trees in one process: a root and edges linked to it (and to each other) over real
//! loopback QUIC. Announcements travel up, so a broadcast published at any edge plays at every
//! other edge through the root.

mod support;

use std::time::Duration;

use tern_moq::message::Parameters;
use tern_moq::{Location, Message};
use tern_relay::node::Node;

use support::*;

/// A relay whose upstreams are `upstreams` (any certificate accepted).
fn relay_under(upstreams: &[&Node]) -> Node {
    let (router, mut settings) = default_settings();
    settings.upstreams = upstreams.iter().map(|n| url(n)).collect();
    settings.upstream_tls.disable_verify = true;
    start_relay(router, settings)
}

/// SUBSCRIBE waiting up to `rendezvous` for the track to be known; must succeed.
async fn subscribe_waiting(
    peer: &Peer,
    namespace: &str,
    track: &str,
    rendezvous: Duration,
) -> Request {
    let mut parameters = Parameters::new();
    parameters.set_rendezvous_timeout(rendezvous.as_millis() as u64);
    let (_, req, answer) = peer.subscribe_with(namespace, track, parameters).await;
    if let Err(e) = answer {
        panic!("SUBSCRIBE {namespace}/{track} refused: {e:?}");
    }
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_published_at_one_edge_plays_at_another() {
    let root = relay_under(&[]);
    let edge_a = relay_under(&[&root]);
    let edge_b = relay_under(&[&root]);

    let publisher = Publisher::start(&url(&edge_a), "live/a").await;
    let viewer = Peer::connect(&url(&edge_b)).await;
    let _sub = subscribe_waiting(&viewer, "live/a", "video", Duration::from_secs(5)).await;

    // edge B → root → edge A → the publisher: one SUBSCRIBE reaches it.
    let subscribed = publisher.subscribed().await;
    assert_eq!(&subscribed.track[..], b"video");
    let payloads: Vec<_> = (0..3).map(|o| payload(1, 0, o, 700)).collect();
    publisher
        .peer
        .write_group(subscribed.alias, 0, &payloads)
        .await;
    let got = viewer.objects(3, STEP).await;
    let want: Vec<_> = (0..3)
        .map(|o| (Location::new(0, o), payload(1, 0, o, 700)))
        .collect();
    assert_eq!(
        got, want,
        "the viewer at edge B gets edge A's objects byte for byte"
    );
    assert_eq!(
        publisher
            .subscribes
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_is_withdrawn_upstream_when_its_last_publisher_leaves() {
    let root = relay_under(&[]);
    let edge = relay_under(&[&root]);

    let first = Publisher::start(&url(&edge), "live/w").await;
    let second = Publisher::start(&url(&edge), "live/w").await;
    let watcher = Peer::connect(&url(&root)).await;
    let mut listing = watcher
        .request(tern_moq::message::SubscribeNamespace {
            request_id: watcher.request_id(),
            track_namespace_prefix: ns("live"),
            parameters: Parameters::new(),
        })
        .await;
    let mut seen = Vec::new();
    // REQUEST_OK, then the edge's announcement (once, whatever the number of publishers).
    while seen.is_empty() {
        match listing.next_within(STEP).await {
            Some(Message::RequestOk(_)) => {}
            Some(Message::Namespace(n)) => seen.push(n.track_namespace_suffix),
            other => panic!("expected NAMESPACE at the root, got {other:?}"),
        }
    }
    assert_eq!(seen, vec![ns("w")]);

    first.peer.session.close(0, "done");
    // One publisher is left: nothing changes at the root.
    assert!(
        listing
            .next_within(Duration::from_millis(500))
            .await
            .is_none_or(|m| !matches!(m, Message::NamespaceDone(_))),
        "withdrawn while a publisher remains"
    );
    second.peer.session.close(0, "done");
    match listing.next_within(STEP).await {
        Some(Message::NamespaceDone(n)) => assert_eq!(n.track_namespace_suffix, ns("w")),
        other => panic!("expected NAMESPACE_DONE at the root, got {other:?}"),
    }
}
