//! Sessions over the in-memory transport ([`tern_quic::Session::pair`]), served by a running
//! relay ([`Node::serve`]) with the one session driver the relay and the client share: an
//! in-memory publisher and an in-memory viewer next to a viewer over real loopback QUIC on the
//! same track; the SETUP exchange bounded the same way on every transport; a closed in-memory
//! session leaving the relay as a QUIC one does.

mod support;

use std::time::Duration;

use bytes::Bytes;
use tern_moq::message::SubscriptionFilter;
use tern_peer::{ConnectOptions, Session, Subscription, TrackWriter};
use tern_quic::Transport;
use tern_relay::node::Node;

use support::*;

const TRACK: &str = "video";

fn options() -> ConnectOptions {
    ConnectOptions {
        disable_verify: true,
        ..ConnectOptions::default()
    }
}

/// A MoQ client on one side of an in-memory pair whose other side `relay` serves.
async fn in_memory(relay: &Node) -> Session {
    let (client, server) = tern_quic::Session::pair("moqt-18");
    relay.serve(server);
    let session = within(
        Duration::from_secs(5),
        "SETUP over the in-memory pair",
        Session::over(client, &options()),
    )
    .await
    .expect("session over the in-memory pair");
    assert_eq!(session.transport(), Transport::Memory);
    session
}

/// The next `n` objects of `sub` as (group, object, payload).
async fn objects(sub: &mut Subscription, n: usize) -> Vec<(u64, u64, Bytes)> {
    let mut got = Vec::new();
    while got.len() < n {
        let o = within(Duration::from_secs(5), "an object", sub.next())
            .await
            .expect("the subscription goes on")
            .expect("not ended");
        got.push((o.location.group, o.location.object, o.payload));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_publisher_reaches_in_memory_and_quic_viewers() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let publisher = in_memory(&relay).await;
    let writer = TrackWriter::new(ns("live/mem"), TRACK);
    publisher.serve_track(&writer);
    let _announcement = publisher
        .publish_namespace(ns("live/mem"))
        .await
        .expect("PUBLISH_NAMESPACE over the in-memory pair");

    let viewer = in_memory(&relay).await;
    let quic = Session::connect(&url(&relay), &options())
        .await
        .expect("QUIC viewer");
    let filter = Some(SubscriptionFilter::NextGroupStart);
    let mut from_memory = viewer
        .subscribe(ns("live/mem"), TRACK, filter)
        .await
        .expect("SUBSCRIBE over the in-memory pair");
    let mut from_quic = quic
        .subscribe(ns("live/mem"), TRACK, filter)
        .await
        .expect("SUBSCRIBE over QUIC");

    let mut sent = Vec::new();
    for group in 0..3u64 {
        writer.new_group(group).expect("group");
        for object in 0..4u64 {
            let p = payload(7, group, object, 2_000);
            writer.write_object(p.clone()).expect("object");
            sent.push((group, object, p));
        }
    }
    assert_eq!(objects(&mut from_memory, sent.len()).await, sent);
    assert_eq!(objects(&mut from_quic, sent.len()).await, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_peer_without_setup_is_closed_after_the_setup_timeout() {
    let (router, mut settings) = default_settings();
    settings.timeouts.setup = Duration::from_millis(300);
    let relay = start_relay(router, settings);
    let (silent, server) = tern_quic::Session::pair("moqt-18");
    relay.serve(server);
    let why = within(Duration::from_secs(5), "the relay closes", silent.closed()).await;
    assert!(why.to_string().contains("no SETUP"), "{why}");
    within(
        Duration::from_secs(5),
        "the relay forgets the session",
        async {
            while relay.hub.session_count() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_in_memory_session_leaves_the_relay() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let sessions: Vec<Session> = connect_many(&relay, 16).await;
    assert_eq!(relay.hub.session_count(), 16);
    for s in &sessions {
        s.close(0, "done");
    }
    within(Duration::from_secs(5), "every session leaves", async {
        while relay.hub.session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // The relay still takes new ones.
    let again = in_memory(&relay).await;
    assert!(!again.is_closed());
}

async fn connect_many(relay: &Node, n: usize) -> Vec<Session> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(in_memory(relay).await);
    }
    out
}
