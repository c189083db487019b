//! `/metrics` from real traffic: refusals counted by reason as they happen on the wire, and
//! viewers counted per broadcast.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use tern_quic::{Client, ClientConfig, ServerConfig};
use tern_relay::node::Node;

use support::{Peer, Publisher, default_settings, metric, scrape, url};

/// The admin port (the process-wide Prometheus recorder) and a relay on `server`.
async fn start(
    server: ServerConfig,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
    Node,
) {
    let (admin, task) = tern_relay::admin::serve(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        tern_relay::admin::Readiness::new(),
    )
    .await
    .expect("admin port");
    let (router, settings) = default_settings();
    let relay = Node::start(server, router, settings).expect("relay starts");
    (admin, task, relay)
}

/// [`start`] with the default server settings on a loopback port.
async fn start_on_loopback() -> (
    SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
    Node,
) {
    start(ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServerConfig::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_counted_by_reason() {
    let (admin, _task, relay) = start(ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_sessions_per_ip: 2,
        ..ServerConfig::default()
    })
    .await;
    let url = url(&relay);

    let client = |protocols: &[&str]| {
        Client::new(ClientConfig {
            disable_verify: true,
            protocols: protocols.iter().map(|p| p.to_string()).collect(),
            connect_timeout: Duration::from_secs(3),
            ..ClientConfig::default()
        })
        .expect("client")
    };
    // The relay copies its endpoint's counts into the metrics at least every 500 ms: wait
    // (bounded) until `series` reaches `want`, and return the whole text.
    let wait_for = |series: &'static str, want: f64| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = scrape(admin).await;
            if metric(&text, series).is_some_and(|v| v >= want)
                || tokio::time::Instant::now() > deadline
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    const VERSION: &str = "tern_sessions_refused_total{reason=\"version\"}";
    const PER_IP: &str = "tern_sessions_refused_total{reason=\"per_ip\"}";

    // A client that speaks no MoQ version this relay knows: refused at the handshake. Its
    // per-IP slot is released by the same task that counts the refusal, so once the count
    // shows, the slot is free again.
    let _first = Peer::connect(&url).await;
    assert!(
        client(&["moqt-15"]).connect(&url).await.is_err(),
        "no common version"
    );
    let text = wait_for(VERSION, 1.0).await;
    assert_eq!(metric(&text, VERSION), Some(1.0), "{text}");

    // Two sessions from 127.0.0.1 are the cap: the third is refused.
    let _second = Peer::connect(&url).await;
    assert!(
        client(&["moqt-18"]).connect(&url).await.is_err(),
        "over the per-IP cap"
    );
    let text = wait_for(PER_IP, 1.0).await;
    let get = |series: &str| metric(&text, series).unwrap_or(0.0);
    assert_eq!(get(PER_IP), 1.0, "{text}");
    assert_eq!(get(VERSION), 1.0, "{text}");
    assert_eq!(
        get("tern_sessions_refused_total{reason=\"bad_setup\"}"),
        0.0,
        "{text}"
    );
    assert_eq!(get("tern_quic_retries_total"), 0.0, "{text}");
}

/// `tern_broadcast_viewers{namespace}` counts sessions, not subscriptions, per broadcast, and
/// follows viewers as they come and go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_are_counted_per_broadcast() {
    let (admin, _task, relay) = start_on_loopback().await;
    let url = url(&relay);
    let _a = Publisher::start(&url, "live/viewers-a").await;
    let _b = Publisher::start(&url, "live/viewers-b").await;
    const A: &str = "tern_broadcast_viewers{namespace=\"live/viewers-a\"}";
    const B: &str = "tern_broadcast_viewers{namespace=\"live/viewers-b\"}";
    let wait_for = |want_a: f64, want_b: f64| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = scrape(admin).await;
            let (a, b) = (metric(&text, A), metric(&text, B));
            if (a == Some(want_a) && b.unwrap_or(0.0) == want_b)
                || tokio::time::Instant::now() > deadline
            {
                return (a, b.unwrap_or(0.0), text);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };

    // One player on video and audio of A is one viewer; a second player on A's video and a
    // third on B make A 2 and B 1.
    let first = Peer::connect(&url).await;
    let _v1 = first.subscribe_ok("live/viewers-a", "video", None).await;
    let _a1 = first.subscribe_ok("live/viewers-a", "audio", None).await;
    let second = Peer::connect(&url).await;
    let _v2 = second.subscribe_ok("live/viewers-a", "video", None).await;
    let third = Peer::connect(&url).await;
    let _v3 = third.subscribe_ok("live/viewers-b", "video", None).await;
    let (a, b, text) = wait_for(2.0, 1.0).await;
    assert_eq!((a, b), (Some(2.0), 1.0), "{text}");

    // The first player leaves: A drops to 1, B is untouched.
    drop((_v1, _a1));
    drop(first);
    let (a, b, text) = wait_for(1.0, 1.0).await;
    assert_eq!((a, b), (Some(1.0), 1.0), "{text}");
    assert!(text.contains("# HELP tern_broadcast_viewers"), "{text}");
}

/// Garbage namespaces cannot take the labels from a real broadcast: a peer publishing and
/// watching 1,000 namespaces (one viewer each) before anyone else leaves a broadcast with more
/// viewers its own series, and once it stops watching its namespaces leave `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_namespaces_do_not_exhaust_the_viewer_labels() {
    const JUNK: usize = tern_relay::node::viewers::MAX_LABELLED;
    let (admin, _task, relay) = start(ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        new_sessions_per_ip: 100_000,
        ..ServerConfig::default()
    })
    .await;
    let url = url(&relay);
    // Four publishers and four viewers of a quarter of the junk each (under the per-session
    // request and stream limits).
    let mut junk = Vec::new();
    for quarter in 0..4 {
        let publisher = Peer::connect(&url).await;
        let viewer = Peer::connect(&url).await;
        let mut held = Vec::new();
        let range = (quarter * JUNK / 4)..((quarter + 1) * JUNK / 4);
        for i in range.clone() {
            let ns = format!("junk/{i}");
            held.push(publisher.publish_track(&ns, "video", i as u64 + 1).await);
        }
        for i in range {
            held.push(
                viewer
                    .subscribe_ok(&format!("junk/{i}"), "video", None)
                    .await
                    .0,
            );
        }
        junk.push((publisher, viewer, held));
    }
    // A real broadcast, with two viewers.
    let _real = Publisher::start(&url, "live/real").await;
    let first = Peer::connect(&url).await;
    let _v1 = first.subscribe_ok("live/real", "video", None).await;
    let second = Peer::connect(&url).await;
    let _v2 = second.subscribe_ok("live/real", "video", None).await;
    const REAL: &str = "tern_broadcast_viewers{namespace=\"live/real\"}";
    let text = scrape(admin).await;
    assert_eq!(
        metric(&text, REAL),
        Some(2.0),
        "the real broadcast has no series of its own"
    );
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("tern_broadcast_viewers{"))
            .count()
    };
    assert!(series(&text) <= JUNK + 1, "{} series", series(&text));

    // The junk viewers leave: their namespaces leave /metrics.
    drop(junk);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(admin).await;
        if series(&text) == 1 {
            assert_eq!(metric(&text, REAL), Some(2.0), "{text}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} series 10 s after the junk viewers left",
            series(&text)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_local_publishers_are_counted_as_a_moq_publishers_are() {
    let (admin, _task, relay) = start_on_loopback().await;
    let api = relay.local();
    let before = scrape(admin).await;
    let objects_before = metric(&before, "tern_objects_in_total").unwrap_or(0.0);
    let bytes_before = metric(&before, "tern_bytes_in_total").unwrap_or(0.0);
    let broadcast = api
        .publish(
            vec![bytes::Bytes::from("live"), bytes::Bytes::from("counted")],
            tern_model::local::Credentials::in_process("test"),
        )
        .await
        .expect("published");
    let video = broadcast.track("video").await.expect("track");
    for o in 0..10 {
        video
            .append(
                tern_model::Object {
                    location: tern_model::Location::new(0, o),
                    status: tern_model::ObjectStatus::Normal,
                    properties: bytes::Bytes::new(),
                    payload: bytes::Bytes::from(vec![7u8; 1000]),
                    end_of_group: false,
                },
                0,
                128,
            )
            .unwrap();
    }
    // The node adds them at its next report (at least every 500 ms).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = scrape(admin).await;
        let objects = metric(&text, "tern_objects_in_total").unwrap_or(0.0) - objects_before;
        let bytes = metric(&text, "tern_bytes_in_total").unwrap_or(0.0) - bytes_before;
        if objects >= 10.0 && bytes >= 10_000.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "local objects not counted: {objects} objects, {bytes} bytes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
