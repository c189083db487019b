//! An origin inside a relay's process publishes through the node's local API (what `tern demo`
//! does, and what a gateway does with an RTMP publisher): no MoQ session carries it, and a MoQ
//! viewer reads the broadcast (catalog, init segment, frames) from the node as from any origin.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tern_model::local::Credentials;
use tern_moq::TrackNamespace;
use tern_origin::publish::{self, Target};
use tern_origin::source::{Input, SAMPLE_CLIP};
use tern_peer::{ConnectOptions, Session};
use tern_relay::config::Config;

use common::catalog_track_names;

const STEP: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_in_the_relays_process_publishes_through_the_local_api() {
    let mut config = Config::default();
    config.relay.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    config.admin.enabled = false;
    let (node, _ready) = tern_relay::run::start(&config).await.expect("relay starts");
    let api = node.local();
    let ns = TrackNamespace::from_path("live/inside");
    let origin_ns = ns.clone();
    let origin = tokio::spawn(async move {
        let credentials = Credentials::member("test");
        let target = Target::Node(&api, &credentials);
        let input = Input::Embedded(SAMPLE_CLIP);
        publish::looped(
            target,
            origin_ns,
            input,
            publish::Options::default(),
            |_| {},
        )
        .await
    });

    let opts = ConnectOptions {
        cert_hashes: vec![node.fingerprint],
        ..ConnectOptions::default()
    };
    let session = Session::connect(&format!("moqt://{}", node.addr), &opts)
        .await
        .expect("viewer connects");
    // The broadcast appears once the origin has announced it.
    let mut catalog = tokio::time::timeout(STEP, async {
        loop {
            match session.subscribe(ns.clone(), "catalog", None).await {
                Ok(s) => return s,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("the catalog within 10 s");
    let first = tokio::time::timeout(STEP, catalog.next())
        .await
        .expect("a catalog object")
        .expect("no error")
        .expect("not ended");
    let json: serde_json::Value = serde_json::from_slice(&first.payload).expect("catalog JSON");
    let names = catalog_track_names(&json);
    assert!(names.contains(&"video-144p"), "{names:?}");

    let mut init = session
        .subscribe(ns.clone(), "0.mp4", None)
        .await
        .expect("init track");
    let segment = tokio::time::timeout(STEP, init.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&segment.payload[4..8], b"ftyp");

    let mut video = session
        .subscribe(ns.clone(), "video-144p", None)
        .await
        .expect("video track");
    for _ in 0..20 {
        let frame = tokio::time::timeout(STEP, video.next())
            .await
            .expect("a frame within 10 s")
            .unwrap()
            .unwrap();
        assert!(frame.payload.windows(4).any(|w| w == b"mdat"));
    }
    assert_eq!(
        node.hub.session_count(),
        1,
        "the viewer's is the only session: the origin publishes with no network hop"
    );
    origin.abort();
}
