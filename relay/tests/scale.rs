//! The control plane at a CDN's scale, over the wire: namespace listings of thousands of
//! broadcasts, pipelined announcement floods. A listing is the relay's own burst: however long,
//! it never closes the session it is written to.

mod support;

use std::time::Duration;

use tern_moq::Message;
use tern_moq::message::{Parameters, PublishNamespace, SubscribeNamespace};
use tern_relay::node::Node;

use support::*;

/// A relay as `tern relay` runs with its default configuration (1,000 request streams per
/// session, say), whose upstreams are `upstreams` (any certificate accepted).
fn relay_under(upstreams: &[&Node]) -> Node {
    let mut config = tern_relay::config::Config::default();
    config.relay.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let (router, mut settings) = tern_relay::run::node_settings(&config);
    settings.upstreams = upstreams.iter().map(|n| url(n)).collect();
    settings.upstream_tls.disable_verify = true;
    let mut server = tern_relay::run::server_config(&config);
    // Every peer of the test comes from 127.0.0.1: not a flood from one source.
    server.new_sessions_per_ip = 100_000;
    Node::start(server, router, settings).expect("relay starts")
}

/// Send `names` as pipelined PUBLISH_NAMESPACEs on `peer` (all written before any answer is
/// read) and return their streams, each answered with REQUEST_OK (panics otherwise).
async fn announce_all(peer: &Peer, names: &[String]) -> Vec<Request> {
    let mut requests = Vec::with_capacity(names.len());
    for name in names {
        requests.push(
            peer.request(PublishNamespace {
                request_id: peer.request_id(),
                track_namespace: ns(name),
                parameters: Parameters::new(),
            })
            .await,
        );
    }
    for (req, name) in requests.iter_mut().zip(names) {
        match req.next_within(STEP).await {
            Some(Message::RequestOk(_)) => {}
            other => panic!("PUBLISH_NAMESPACE {name}: expected REQUEST_OK, got {other:?}"),
        }
    }
    requests
}

/// SUBSCRIBE_NAMESPACE `prefix` on `peer`; returns the stream after its REQUEST_OK.
async fn list(peer: &Peer, prefix: &str) -> Request {
    let mut req = peer
        .request(SubscribeNamespace {
            request_id: peer.request_id(),
            track_namespace_prefix: ns(prefix),
            parameters: Parameters::new(),
        })
        .await;
    match req.next_within(STEP).await {
        Some(Message::RequestOk(_)) => req,
        other => panic!("SUBSCRIBE_NAMESPACE {prefix}: expected REQUEST_OK, got {other:?}"),
    }
}

/// Read NAMESPACE messages until `n` arrived (or fail after `limit` of silence).
async fn namespaces(listing: &mut Request, n: usize, limit: Duration) -> usize {
    let mut seen = 0;
    while seen < n {
        match listing.next_within(limit).await {
            Some(Message::Namespace(_)) => seen += 1,
            Some(Message::NamespaceDone(_)) => {}
            other => panic!("after {seen} NAMESPACEs of {n}: expected another, got {other:?}"),
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_linked_to_a_root_holding_10000_namespaces_serves_a_viewer_of_the_last_one() {
    const BROADCASTS: usize = 10_000;
    const PER_SESSION: usize = 500;
    let root = relay_under(&[]);
    let root_url = url(&root);
    // 9,999 broadcasts from 20 ingest sessions, and the last one from a publisher that answers.
    let mut holders = Vec::new();
    let names: Vec<String> = (0..BROADCASTS - 1).map(|i| format!("live/b{i}")).collect();
    for chunk in names.chunks(PER_SESSION) {
        let peer = Peer::connect(&root_url).await;
        let streams = announce_all(&peer, chunk).await;
        holders.push((peer, streams));
    }
    let last = format!("live/b{}", BROADCASTS - 1);
    let publisher = Publisher::start(&root_url, &last).await;

    // The edge links to the root after the root holds them all: its link lists every one.
    let edge = relay_under(&[&root]);
    let viewer = Peer::connect(&url(&edge)).await;
    let mut parameters = Parameters::new();
    parameters.set_rendezvous_timeout(20_000);
    let (_, _sub, answer) = viewer.subscribe_with(&last, "video", parameters).await;
    if let Err(e) = answer {
        panic!("SUBSCRIBE {last}/video at the edge refused: {e:?}");
    }
    let subscribed = publisher.subscribed().await;
    let first: Vec<_> = (0..3).map(|o| payload(3, 0, o, 500)).collect();
    publisher
        .peer
        .write_group(subscribed.alias, 0, &first)
        .await;
    assert_eq!(viewer.objects(3, STEP).await.len(), 3);

    // The link stays up: a second group a while later reaches the viewer on the same upstream
    // subscription (a link that was closed and re-made would SUBSCRIBE again).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second: Vec<_> = (0..3).map(|o| payload(3, 1, o, 500)).collect();
    publisher
        .peer
        .write_group(subscribed.alias, 1, &second)
        .await;
    assert_eq!(viewer.objects(3, STEP).await.len(), 3);
    assert_eq!(
        publisher
            .subscribes
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one upstream SUBSCRIBE: the edge's link to the root never broke"
    );

    // And a viewer at the root listing everything gets all 10,000 in one listing.
    let watcher = Peer::connect(&root_url).await;
    let mut listing = list(&watcher, "live").await;
    assert_eq!(namespaces(&mut listing, BROADCASTS, STEP).await, BROADCASTS);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), watcher.session.closed())
            .await
            .is_err(),
        "the watcher's session stays open after a 10,000-namespace listing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_pipelining_1000_publish_namespaces_closes_nobody_else() {
    const FLOOD: usize = 1000;
    let relay = relay_under(&[]);
    let relay_url = url(&relay);
    // Watchers of everything and of the flooded prefix, listing before the flood.
    let everything = Peer::connect(&relay_url).await;
    let mut all = list(&everything, "").await;
    let prefixed = Peer::connect(&relay_url).await;
    let mut flood_listing = list(&prefixed, "flood").await;
    // An unrelated broadcast with a viewer.
    let publisher = Publisher::start(&relay_url, "live/calm").await;
    let viewer = Peer::connect(&relay_url).await;
    let (_sub, answer) = viewer.subscribe("live/calm", "video", None).await;
    answer.expect("SUBSCRIBE live/calm");
    let subscribed = publisher.subscribed().await;

    // The flood: 1,000 PUBLISH_NAMESPACEs written back to back, answers read afterwards.
    let flooder = Peer::connect(&relay_url).await;
    let mut requests = Vec::with_capacity(FLOOD);
    for i in 0..FLOOD {
        requests.push(
            flooder
                .request(PublishNamespace {
                    request_id: flooder.request_id(),
                    track_namespace: ns(&format!("flood/n{i}")),
                    parameters: Parameters::new(),
                })
                .await,
        );
    }
    let mut accepted = 0;
    for req in &mut requests {
        match req.next_within(STEP).await {
            Some(Message::RequestOk(_)) => accepted += 1,
            // Past the per-session request cap: refused, the session stays.
            Some(Message::RequestError(_)) => {}
            other => panic!("PUBLISH_NAMESPACE: expected an answer, got {other:?}"),
        }
    }
    assert!(accepted >= FLOOD * 9 / 10, "{accepted} of {FLOOD} accepted");

    // Every watcher sees every accepted namespace (1 + accepted for the empty prefix).
    assert_eq!(namespaces(&mut all, accepted + 1, STEP).await, accepted + 1);
    assert_eq!(
        namespaces(&mut flood_listing, accepted, STEP).await,
        accepted
    );
    // Nobody was closed: the viewer still gets the calm broadcast.
    let objects: Vec<_> = (0..2).map(|o| payload(5, 0, o, 300)).collect();
    publisher
        .peer
        .write_group(subscribed.alias, 0, &objects)
        .await;
    assert_eq!(viewer.objects(2, STEP).await.len(), 2);
    for (who, peer) in [
        ("watcher of everything", &everything),
        ("watcher of flood/", &prefixed),
        ("viewer", &viewer),
        ("flooder", &flooder),
    ] {
        assert!(
            tokio::time::timeout(Duration::from_millis(200), peer.session.closed())
                .await
                .is_err(),
            "the {who}'s session was closed"
        );
    }
}

/// The router's namespace paths look a name up by its prefixes, never by scanning every
/// namespace the relay holds: an edge whose link lists 30,000 namespaces while a viewer waits
/// for the last one (each arrival checks the waiting SUBSCRIBE), then loses them all, does
/// 60,000 steps in well under a second (a scan per step took minutes).
#[test]
fn announcing_and_withdrawing_30000_namespaces_with_a_viewer_waiting_does_not_scan_them_all() {
    use tern_relay::core::router::{Command, Router, RouterConfig};
    use tern_relay::core::types::{Filter, TrackName};
    const N: u64 = 30_000;
    let mut router = Router::new(RouterConfig {
        open_publishing: true,
        max_rendezvous: Duration::from_secs(600),
        ..RouterConfig::default()
    });
    let ns = |i: u64| vec![bytes::Bytes::from_static(b"live"), format!("b{i}").into()];
    let (link, viewer) = (1, 2);
    let now = std::time::Instant::now();
    let started = std::time::Instant::now();
    let last = TrackName {
        namespace: ns(N - 1),
        name: bytes::Bytes::from_static(b"video"),
    };
    router.handle_subscribe(
        viewer,
        0,
        last,
        Filter::LargestObject,
        Duration::from_secs(600),
        now,
    );
    let mut upstream_subscribes = 0;
    for i in 0..N {
        router.handle_publish_namespace(link, i, ns(i), Vec::new(), now);
        while let Some(c) = router.poll_command() {
            upstream_subscribes += usize::from(matches!(c, Command::SubscribeUpstream { .. }));
        }
    }
    assert_eq!(
        upstream_subscribes, 1,
        "the waiting viewer is routed once its namespace arrives"
    );
    for i in 0..N {
        router.handle_publish_namespace_done(link, i);
        while router.poll_command().is_some() {}
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "{N} namespaces in and out took {took:?}"
    );
}
