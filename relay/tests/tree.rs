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

/// A relay named `name` on loopback `port` whose upstreams are the relays on `upstreams`.
fn relay_at(name: &str, port: u16, upstreams: &[u16]) -> Node {
    let (mut router, mut settings) = default_settings();
    router.relay_id = bytes::Bytes::copy_from_slice(name.as_bytes());
    settings.upstreams = upstreams
        .iter()
        .map(|p| format!("moqt://127.0.0.1:{p}"))
        .collect();
    settings.upstream_tls.disable_verify = true;
    let server = tern_quic::ServerConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        max_sessions_per_ip: 256,
        // Every viewer of the test comes from 127.0.0.1.
        new_sessions_per_ip: 100_000,
        retry_threshold: 1024,
        ..tern_quic::ServerConfig::default()
    };
    Node::start(server, router, settings).expect("relay starts")
}

/// A loopback UDP port free a moment ago.
fn free_port() -> u16 {
    std::net::UdpSocket::bind(("127.0.0.1", 0))
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_that_are_each_others_upstream_detect_the_loop_and_do_not_amplify() {
    let (pa, pb) = (free_port(), free_port());
    let a = relay_at("relay-a", pa, &[pb]);
    let b = relay_at("relay-b", pb, &[pa]);

    let publisher = Publisher::start(&url(&a), "live/loop").await;
    let watcher = Peer::connect(&url(&b)).await;
    let mut listing = watcher
        .request(tern_moq::message::SubscribeNamespace {
            request_id: watcher.request_id(),
            track_namespace_prefix: ns("live"),
            parameters: Parameters::new(),
        })
        .await;
    let viewer = Peer::connect(&url(&b)).await;
    let _sub = subscribe_waiting(&viewer, "live/loop", "video", Duration::from_secs(5)).await;
    let subscribed = publisher.subscribed().await;
    let payloads: Vec<_> = (0..3).map(|o| payload(2, 0, o, 500)).collect();
    publisher
        .peer
        .write_group(subscribed.alias, 0, &payloads)
        .await;
    assert_eq!(viewer.objects(3, STEP).await.len(), 3);

    // Give announcements time to circle if they were going to.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        viewer
            .drain_objects(Duration::from_millis(300))
            .await
            .is_empty(),
        "each object arrives once"
    );
    assert_eq!(
        publisher
            .subscribes
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one SUBSCRIBE reaches the publisher"
    );
    for (name, relay) in [("A", &a), ("B", &b)] {
        let (loops, upstream) = relay
            .hub
            .read(move |r| (r.loops_detected(), r.upstream_subscribes()))
            .await;
        assert!(loops >= 1, "relay {name} detected the loop");
        assert!(
            upstream <= 1,
            "relay {name} subscribed upstream {upstream} times"
        );
    }
    // B's announcement of A's namespace back to A was refused, once: nothing keeps circling.
    let loops_then = a.hub.read(move |r| r.loops_detected()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.hub.read(move |r| r.loops_detected()).await, loops_then);

    // The watcher at B saw the namespace once; when the publisher leaves, it goes everywhere
    // (no route left circling between the two relays).
    let mut namespaces = 0;
    loop {
        match listing.next_within(Duration::from_millis(300)).await {
            Some(Message::RequestOk(_)) => {}
            Some(Message::Namespace(_)) => namespaces += 1,
            None => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(namespaces, 1, "NAMESPACE once at B");
    publisher.peer.session.close(0, "done");
    match listing.next_within(STEP).await {
        Some(Message::NamespaceDone(n)) => assert_eq!(n.track_namespace_suffix, ns("loop")),
        other => panic!("expected NAMESPACE_DONE at B, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_deeper_than_the_maximum_is_refused() {
    // root ← mid ← edge with max_depth 2 at the root: the edge's namespace reaches the mid
    // (hop list [edge]) but not the root (hop list [edge, mid]).
    let (mut router, settings) = default_settings();
    router.max_depth = 2;
    router.relay_id = bytes::Bytes::from_static(b"root");
    let root = start_relay(router, settings);
    let mid = relay_under(&[&root]);
    let edge = relay_under(&[&mid]);
    let _publisher = Publisher::start(&url(&edge), "live/deep").await;
    let viewer = Peer::connect(&url(&root)).await;
    let mut parameters = Parameters::new();
    parameters.set_rendezvous_timeout(1500);
    let (_, _req, answer) = viewer
        .subscribe_with("live/deep", "video", parameters)
        .await;
    assert!(answer.is_err(), "the root never learned the namespace");
    assert!(root.hub.read(move |r| r.loops_detected()).await >= 1);
    let at_mid = Peer::connect(&url(&mid)).await;
    let _ok = subscribe_waiting(&at_mid, "live/deep", "video", Duration::from_secs(2)).await;
}
