//! SUBSCRIBE_NAMESPACE through an in-process tern relay: the namespaces published under a
//! prefix are listed (full namespaces), those published later arrive as they come, withdrawn
//! ones are reported, others are not, and a track in a listed namespace can be subscribed.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tern_moq::TrackNamespace;
use tern_peer::{ConnectOptions, Error, NamespaceEvent, NamespaceSubscription, Session};
use tern_peer::{Subscription, TrackWriter};
use tern_quic::ServerConfig;
use tern_relay::node::Node;

const STEP: Duration = Duration::from_secs(5);

fn ns(path: &str) -> TrackNamespace {
    TrackNamespace::from_path(path)
}

async fn connect(node: &Node) -> Session {
    let opts = ConnectOptions {
        disable_verify: true,
        ..ConnectOptions::default()
    };
    let url = format!("moqt://127.0.0.1:{}", node.addr.port());
    tokio::time::timeout(STEP, Session::connect(&url, &opts))
        .await
        .expect("connect in time")
        .expect("connect")
}

async fn next(list: &mut NamespaceSubscription) -> NamespaceEvent {
    tokio::time::timeout(STEP, list.next())
        .await
        .expect("a namespace event in time")
        .expect("listing")
        .expect("listing still open")
}

async fn first_payload(sub: &mut Subscription) -> Bytes {
    let o = tokio::time::timeout(STEP, sub.next())
        .await
        .expect("an object in time")
        .expect("subscription")
        .expect("an object");
    o.payload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_namespace_lists_viewers_as_they_come_and_go() {
    let (router, settings) = tern_relay::run::node_settings(&tern_relay::config::Config::default());
    let server = ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServerConfig::default()
    };
    let node = Node::start(server, router, settings).expect("relay starts");

    // Viewer a is there before the listing starts.
    let a = connect(&node).await;
    let track_a = TrackWriter::new(ns("live/demo/viewers/a"), "events");
    a.serve_track(&track_a);
    track_a
        .write_object(Bytes::from_static(b"hello from a"))
        .expect("write");
    let _ann_a = a
        .publish_namespace(ns("live/demo/viewers/a"))
        .await
        .expect("announce a");

    let origin = connect(&node).await;
    let _broadcast = origin
        .publish_namespace(ns("live/demo"))
        .await
        .expect("the origin's own broadcast");
    let mut list = origin
        .subscribe_namespace(ns("live/demo/viewers"))
        .await
        .expect("SUBSCRIBE_NAMESPACE");
    assert_eq!(list.prefix(), &ns("live/demo/viewers"));
    assert_eq!(
        next(&mut list).await,
        NamespaceEvent::Published(ns("live/demo/viewers/a"))
    );
    let mut sub = origin
        .subscribe(ns("live/demo/viewers/a"), "events", None)
        .await
        .expect("subscribe to a listed viewer");
    assert_eq!(first_payload(&mut sub).await, "hello from a");

    // A namespace outside the prefix is not listed; viewer b, published later, is.
    let b = connect(&node).await;
    let _other = b
        .publish_namespace(ns("live/other/viewers/x"))
        .await
        .expect("announce elsewhere");
    let ann_b = b
        .publish_namespace(ns("live/demo/viewers/b"))
        .await
        .expect("announce b");
    assert_eq!(
        next(&mut list).await,
        NamespaceEvent::Published(ns("live/demo/viewers/b"))
    );
    ann_b.done();
    assert_eq!(
        next(&mut list).await,
        NamespaceEvent::Withdrawn(ns("live/demo/viewers/b"))
    );

    // An overlapping prefix on the same session is refused, and the session stays up.
    let overlap = origin.subscribe_namespace(ns("live/demo")).await;
    assert!(matches!(overlap, Err(Error::Refused { .. })), "{overlap:?}");
    let _again = origin
        .subscribe_namespace(ns("live/third"))
        .await
        .expect("a disjoint prefix");
}
