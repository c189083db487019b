//! Forensic A/B watermarking in a real relay over QUIC, with the testbed plugin: it points track
//! `marked` at its variants `marked.wm-a`/`marked.wm-b` and chooses variant
//! `(group + viewer length) % 2` per group, but traps (viewer `trap`) or spins past its
//! deadline (viewer `spin`) on odd groups. A failed choice ends that group for that viewer alone
//! and is counted; a viewer never gets a variant by name; a marked FETCH, standalone or
//! Joining, makes the same choice per group as the subscription; `[plugin] record` keeps the
//! calls and their decisions.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tern_edge_wasm::testing::plugin;
use tern_edge_wasm::{HostConfig, PluginHost};
use tern_moq::message::codes::RequestErrorCode;
use tern_moq::{Location, Message};
use tern_relay::node::Node;

use support::*;

const NS: &str = "live/room";
const GROUPS: u64 = 4;
const OBJECTS: u64 = 2;
const FAILURES: &str = "tern_watermark_group_failures_total{reason=\"plugin\"}";

async fn testbed_relay() -> Node {
    let mut config = HostConfig::new(plugin("testbed"));
    config.reload_interval = None;
    let host = tokio::task::spawn_blocking(move || PluginHost::start(config))
        .await
        .unwrap()
        .expect("plugin starts");
    let (router, mut settings) = default_settings();
    settings.plugin = Some(Arc::new(host));
    start_relay(router, settings)
}

/// A session admitted by the testbed as `viewer`.
async fn viewer(node: &Node, viewer: &str) -> Peer {
    Peer::connect(&format!("{}/?jwt=as:{viewer}", url(node))).await
}

/// The payload of object `object` of `group` in variant `variant` (0: A, 1: B).
fn marked(variant: u64, group: u64, object: u64) -> Bytes {
    let letter = if variant == 0 { 'A' } else { 'B' };
    Bytes::from(format!("{letter} {group}.{object}"))
}

/// The testbed's choice for a viewer that does not fail.
fn variant_of(viewer: &str, group: u64) -> u64 {
    (group + viewer.len() as u64) % 2
}

/// What `viewer` must receive of `groups`: each group whole, from its chosen variant.
fn expected(viewer: &str, groups: impl Iterator<Item = u64>) -> Vec<(Location, Bytes)> {
    groups
        .flat_map(|g| {
            (0..OBJECTS).map(move |o| (Location::new(g, o), marked(variant_of(viewer, g), g, o)))
        })
        .collect()
}

fn sorted(mut objects: Vec<(Location, Bytes)>) -> Vec<(Location, Bytes)> {
    objects.sort_by_key(|(l, _)| *l);
    objects
}

/// Wait for the relay's two upstream subscriptions (A, then its companion B) and publish
/// groups `groups` of both variants, B first so that it is cached when A's objects go out.
async fn publish_variants(
    publisher: &Publisher,
    groups: std::ops::Range<u64>,
) -> BTreeMap<Bytes, u64> {
    let mut aliases = BTreeMap::new();
    while aliases.len() < 2 {
        let s = publisher.subscribed().await;
        aliases.insert(s.track, s.alias);
    }
    write_variants(publisher, &aliases, groups).await;
    aliases
}

async fn write_variants(
    publisher: &Publisher,
    aliases: &BTreeMap<Bytes, u64>,
    groups: std::ops::Range<u64>,
) {
    let alias = |name: &'static str| {
        *aliases
            .get(&Bytes::from_static(name.as_bytes()))
            .unwrap_or_else(|| panic!("no upstream subscription to {name}: {aliases:?}"))
    };
    for g in groups {
        for (variant, name) in [(1, "marked.wm-b"), (0, "marked.wm-a")] {
            let payloads: Vec<Bytes> = (0..OBJECTS).map(|o| marked(variant, g, o)).collect();
            publisher.peer.write_group(alias(name), g, &payloads).await;
        }
        // Let B land in the cache before the next group of A goes out.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Objects on fetch streams of request `request` until `n` have arrived (panics after [`STEP`]).
async fn fetched(peer: &Peer, request: u64, n: usize) -> Vec<(Location, Bytes)> {
    let deadline = tokio::time::Instant::now() + STEP;
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match peer.next_data(left).await {
            Some(DataEvent::Fetched {
                request: r,
                location,
                payload,
            }) if r == request => out.push((location, payload)),
            Some(_) => {}
            None => panic!("only {} of {n} fetched objects: {out:?}", out.len()),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_watermark_plugin_ends_that_group_for_that_viewer_alone() {
    let (admin, _task) = tern_relay::admin::serve(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        tern_relay::admin::Readiness::new(),
    )
    .await
    .expect("admin port");
    let node = testbed_relay().await;
    let publisher = Publisher::start(&format!("{}/?jwt=as:origin", url(&node)), NS).await;
    let alice = viewer(&node, "alice").await;
    let (_a, _) = alice.subscribe_ok(NS, "marked", None).await;
    let trap = viewer(&node, "trap").await;
    let (_t, _) = trap.subscribe_ok(NS, "marked", None).await;
    let spin = viewer(&node, "spin").await;
    let (_s, _) = spin.subscribe_ok(NS, "marked", None).await;
    // Unmarked viewers of another track of the broadcast.
    let plain = viewer(&node, "plain").await;
    let (_p, _) = plain.subscribe_ok(NS, "video", None).await;

    let mut aliases = BTreeMap::new();
    while aliases.len() < 3 {
        let s = publisher.subscribed().await;
        aliases.insert(s.track, s.alias);
    }
    write_variants(&publisher, &aliases, 0..GROUPS).await;
    let video = aliases[&Bytes::from_static(b"video")];
    let plain_payload = Bytes::from_static(b"plain");
    publisher
        .peer
        .write_group(video, 0, std::slice::from_ref(&plain_payload))
        .await;

    let n = (GROUPS * OBJECTS) as usize;
    assert_eq!(
        sorted(alice.objects(n, STEP).await),
        expected("alice", 0..GROUPS),
        "alice gets every group, each from its variant"
    );
    assert_eq!(
        plain.objects(1, STEP).await,
        [(Location::new(0, 0), plain_payload)]
    );
    // `trap` and `spin` get their even groups (variant A: both names have 4 letters) and none
    // of their odd ones.
    for failing in [&trap, &spin] {
        let mut got = failing.objects(n / 2, STEP).await;
        got.extend(failing.drain_objects(Duration::from_millis(300)).await);
        assert_eq!(
            sorted(got),
            expected("trap", (0..GROUPS).filter(|g| g % 2 == 0))
        );
    }

    // Two failed groups per failing viewer, counted (the count is exact: each viewer's choice
    // for a group is made once).
    let deadline = tokio::time::Instant::now() + STEP;
    let failures = loop {
        let text = scrape(admin).await;
        let value = metric(&text, FAILURES).unwrap_or(0.0);
        if value >= 4.0 || tokio::time::Instant::now() > deadline {
            break value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failures, 4.0);

    // The relay keeps serving everyone after the traps: the next group reaches alice.
    write_variants(&publisher, &aliases, GROUPS..GROUPS + 1).await;
    assert_eq!(
        sorted(alice.objects(OBJECTS as usize, STEP).await),
        expected("alice", GROUPS..GROUPS + 1)
    );
}

#[tokio::test]
async fn a_viewer_never_gets_a_variant_by_name() {
    let node = testbed_relay().await;
    let publisher = Publisher::start(&format!("{}/?jwt=as:origin", url(&node)), NS).await;
    let eve = viewer(&node, "eve").await;
    for track in ["marked.wm-a", "marked.wm-b"] {
        let (_req, answer) = eve.subscribe(NS, track, None).await;
        assert_eq!(
            answer.expect_err("a variant by name").error_code,
            RequestErrorCode::UNAUTHORIZED,
            "SUBSCRIBE {track}"
        );
        let (_, mut req) = eve
            .fetch(NS, track, Location::new(0, 0), Location::new(1, 0))
            .await;
        match req.next().await {
            Some(Message::RequestError(e)) => {
                assert_eq!(
                    e.error_code,
                    RequestErrorCode::UNAUTHORIZED,
                    "FETCH {track}"
                )
            }
            other => panic!("FETCH {track}: expected REQUEST_ERROR, got {other:?}"),
        }
    }
    assert_eq!(publisher.subscribes.load(Ordering::SeqCst), 0);
    assert_eq!(publisher.fetches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_marked_fetch_makes_the_subscriptions_choice_per_group() {
    let node = testbed_relay().await;
    let publisher = Publisher::start(&format!("{}/?jwt=as:origin", url(&node)), NS).await;
    let alice = viewer(&node, "alice").await;
    let (_a, _) = alice.subscribe_ok(NS, "marked", None).await;
    publish_variants(&publisher, 0..GROUPS).await;
    let n = (GROUPS * OBJECTS) as usize;
    let live = sorted(alice.objects(n, STEP).await);
    assert_eq!(live, expected("alice", 0..GROUPS));

    // A standalone FETCH of the same track by the same viewer: the same variant per group.
    let (id, mut req) = alice
        .fetch(
            NS,
            "marked",
            Location::new(0, 0),
            Location::new(GROUPS - 1, 0),
        )
        .await;
    match req.next().await {
        Some(Message::FetchOk(_)) => {}
        other => panic!("standalone FETCH: expected FETCH_OK, got {other:?}"),
    }
    assert_eq!(fetched(&alice, id, n).await, live);

    // Another viewer joins now and fetches what came before its Joining Location: its own
    // choice per group (the other variant of alice's: "carl" has one letter fewer).
    let carl = viewer(&node, "carl").await;
    let (sub, _req, answer) = carl
        .subscribe_with(NS, "marked", tern_moq::message::Parameters::new())
        .await;
    answer.expect("carl subscribes");
    let (id, mut req) = carl.joining_fetch(sub, true, GROUPS - 1).await;
    match req.next().await {
        Some(Message::FetchOk(_)) => {}
        other => panic!("Joining FETCH: expected FETCH_OK, got {other:?}"),
    }
    let got = fetched(&carl, id, n).await;
    assert_eq!(got, expected("carl", 0..GROUPS));
    assert_ne!(got, live);
}

#[tokio::test]
async fn plugin_record_keeps_the_relays_calls_and_decisions() {
    let dir = std::env::temp_dir().join(format!("tern-relay-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("calls.jsonl");
    let config = tern_relay::config::PluginConfig {
        file: Some(plugin("testbed")),
        record: Some(path.clone()),
        reload_interval: Duration::ZERO,
        ..Default::default()
    };
    let host = tern_relay::run::plugin_host(&config)
        .await
        .unwrap()
        .expect("a plugin host");
    let (router, mut settings) = default_settings();
    settings.plugin = Some(host);
    let node = start_relay(router, settings);
    let publisher = Publisher::start(&format!("{}/?jwt=as:origin", url(&node)), NS).await;
    let alice = viewer(&node, "alice").await;
    let (_a, _) = alice.subscribe_ok(NS, "marked", None).await;
    publish_variants(&publisher, 0..1).await;
    assert_eq!(
        sorted(alice.objects(OBJECTS as usize, STEP).await),
        expected("alice", 0..1)
    );
    let want = [
        r#"{"phase":"session-open","token":"as:alice""#,
        r#""track":"marked","now_ms":"#,
        r#""decision":{"use-track":"marked.wm-a"}"#,
        r#"{"phase":"object","viewer":"alice","namespace":["live","room"],"track":"marked.wm-a","group":0,"object":0,"decision":{"use-variant":1}}"#,
    ];
    let text = within(STEP, "the recording", async {
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if want.iter().all(|w| text.contains(w)) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        text.lines().all(|l| l.starts_with(r#"{"phase":""#)),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The track names the relay offers `viewer` with PUBLISH (SUBSCRIBE_TRACKS) within `quiet`
/// of silence.
async fn offered(viewer: &Peer, quiet: Duration) -> Vec<Bytes> {
    let mut names = Vec::new();
    while let Ok(Ok((_send, mut recv))) =
        tokio::time::timeout(quiet, viewer.session.accept_bi()).await
    {
        let mut reader = tern_moq::ControlReader::new(tern_moq::Limits::default());
        let message = within(STEP, "the offer's PUBLISH", async {
            loop {
                if let Ok(Some(m)) = reader.pop() {
                    break m;
                }
                let chunk = recv.read_chunk(4096).await.expect("read").expect("open");
                reader.push(&chunk).expect("decodes");
            }
        })
        .await;
        match message {
            Message::Publish(p) => names.push(p.track_name),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_tracks_never_offers_a_watermark_variant() {
    let (router, settings) = default_settings();
    let node = start_relay(router, settings);
    let viewer = Peer::connect(&url(&node)).await;
    let mut tracks = viewer
        .request(tern_moq::message::SubscribeTracks {
            request_id: viewer.request_id(),
            track_namespace_prefix: ns(NS),
            parameters: tern_moq::message::Parameters::new(),
        })
        .await;
    match tracks.next_within(STEP).await {
        Some(Message::RequestOk(_)) => {}
        other => panic!("SUBSCRIBE_TRACKS: {other:?}"),
    }
    // An origin PUBLISHes a plain track and both variants of a marked one.
    let origin = Peer::connect(&url(&node)).await;
    let mut published = Vec::new();
    for (alias, track) in [(1, "plain"), (2, "marked.wm-a"), (3, "marked.wm-b")] {
        let mut req = origin
            .request(tern_moq::message::Publish {
                request_id: origin.request_id(),
                track_namespace: ns(NS),
                track_name: Bytes::from_static(track.as_bytes()),
                track_alias: alias,
                parameters: tern_moq::message::Parameters::new(),
                track_properties: Default::default(),
            })
            .await;
        match req.next_within(STEP).await {
            Some(Message::RequestOk(_)) => published.push(req),
            other => panic!("PUBLISH {track}: {other:?}"),
        }
    }
    let names = offered(&viewer, Duration::from_millis(500)).await;
    assert_eq!(names, [Bytes::from_static(b"plain")], "offered: {names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_naming_itself_a_relay_gets_no_unmarked_variant() {
    let node = testbed_relay().await;
    let _publisher = Publisher::start(&format!("{}/?jwt=as:origin", url(&node)), NS).await;
    // A tern peer (hop lists negotiated) that is no member of any cluster names itself a relay.
    let mut setup = tern_moq::message::Setup::default();
    setup.set_moqt_implementation("tern/not-really");
    setup.set_path("/?jwt=as:mallory".to_owned());
    let mallory = Peer::connect_setup(
        &url(&node),
        tern_quic::TransportLimits::default(),
        true,
        setup,
    )
    .await;
    // Let the relay take the SETUP (and so the hop-list extension) before the request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut parameters = tern_moq::message::Parameters::new();
    parameters.set(
        tern_relay::core::hops::TERN_HOPS,
        tern_moq::message::ParameterValue::Bytes(tern_relay::core::hops::encode(&[
            Bytes::from_static(b"mallory-relay"),
        ])),
    );
    let mut listing = mallory
        .request(tern_moq::message::SubscribeNamespace {
            request_id: mallory.request_id(),
            track_namespace_prefix: ns("live"),
            parameters,
        })
        .await;
    match listing.next_within(STEP).await {
        Some(Message::RequestOk(_)) => {}
        other => panic!("SUBSCRIBE_NAMESPACE: {other:?}"),
    }
    // Still a viewer: a variant by name is refused, as for anyone.
    let (_req, answer) = mallory.subscribe(NS, "marked.wm-a", None).await;
    assert_eq!(
        answer
            .expect_err("an unmarked variant handed to a self-declared relay")
            .error_code,
        RequestErrorCode::UNAUTHORIZED
    );
}

/// A local reader (a front-end's viewer: HLS, WHEP) is a last-hop viewer too: it never gets a
/// variant by name, and a track the plugin marks for it is refused with a reason rather than
/// handed out as one variant unmarked. No upstream subscription is made for either.
#[tokio::test]
async fn a_local_reader_never_gets_an_unmarked_variant() {
    use tern_model::TrackName;
    use tern_model::local::{Credentials, ReadOptions, RefusedKind};

    let node = testbed_relay().await;
    let publisher = Publisher::start(&format!("{}/?jwt=as:origin", url(&node)), NS).await;
    let api = node.local();
    let viewer = |name: &str| Credentials {
        token: Some(format!("as:{name}")),
        via: "hls",
        ..Credentials::in_process("hls")
    };
    let options = ReadOptions {
        rendezvous: Duration::from_millis(300),
        ..ReadOptions::default()
    };
    for track in ["marked.wm-a", "marked.wm-b", "marked"] {
        let refused = api
            .subscribe(TrackName::from_path(NS, track), viewer("eve"), options)
            .await
            .expect_err(track);
        assert!(
            matches!(
                refused.kind,
                RefusedKind::Unauthorized | RefusedKind::Unsupported
            ),
            "{track}: {refused}"
        );
        assert!(
            refused.reason.contains("marked") || refused.reason.contains("watermark"),
            "{track}: {refused}"
        );
    }
    assert_eq!(publisher.subscribes.load(Ordering::SeqCst), 0);
}
