//! The relay over the wire: an in-process node on a loopback port, driven by hand-written
//! draft-18 peers (see `support`). Every step is bounded by a timeout.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tern_moq::coding::encode_varint;
use tern_moq::message::codes::{PublishDoneCode, RequestErrorCode, SessionError as Code};
use tern_moq::message::{Parameters, Subscribe, SubscriptionFilter};
use tern_moq::{Location, Message};
use tern_quic::{SessionError, TransportLimits};

use support::*;

fn loc(group: u64, object: u64) -> Location {
    Location::new(group, object)
}

/// Compare received objects with the expected ones, in location order; a mismatch prints
/// locations, not megabytes of payload.
fn assert_objects(mut got: Vec<(Location, Bytes)>, want: &[(Location, Bytes)], what: &str) {
    got.sort_by_key(|(l, _)| *l);
    let locs = |v: &[(Location, Bytes)]| {
        v.iter()
            .map(|(l, _)| (l.group, l.object))
            .collect::<Vec<_>>()
    };
    assert_eq!(locs(&got), locs(want), "{what}: locations");
    for ((l, a), (_, b)) in got.iter().zip(want) {
        assert!(a == b, "{what}: payload of {l:?} differs");
    }
}

/// Assert a session was closed by the relay with PROTOCOL_VIOLATION.
fn assert_violation(err: &SessionError, what: &str) {
    match err {
        SessionError::Closed { code, .. } => assert_eq!(
            *code as u64,
            Code::PROTOCOL_VIOLATION.0,
            "{what}: closed with {err:?}, expected PROTOCOL_VIOLATION"
        ),
        other => panic!("{what}: session ended with {other:?}, expected PROTOCOL_VIOLATION"),
    }
}

/// A publisher, a subscriber of its track `live/ok` / `t`, and one group already delivered:
/// the pair whose traffic must keep flowing while other sessions misbehave.
struct Pair {
    publisher: Publisher,
    subscriber: Peer,
    alias: u64,
    _sub: Request,
    next_group: u64,
}

impl Pair {
    async fn start(url: &str) -> Pair {
        let publisher = Publisher::start(url, "live/ok").await;
        let subscriber = Peer::connect(url).await;
        let (sub, _) = subscriber.subscribe_ok("live/ok", "t", None).await;
        let alias = publisher.subscribed().await.alias;
        let mut pair = Pair {
            publisher,
            subscriber,
            alias,
            _sub: sub,
            next_group: 0,
        };
        pair.check("before").await;
        pair
    }

    /// Publish one group of two objects and check the subscriber gets exactly them.
    async fn check(&mut self, when: &str) {
        let g = self.next_group;
        self.next_group += 1;
        let payloads = [payload(9, g, 0, 300), payload(9, g, 1, 300)];
        self.publisher
            .peer
            .write_group(self.alias, g, &payloads)
            .await;
        let got = self.subscriber.objects(2, STEP).await;
        let want = [
            (loc(g, 0), payloads[0].clone()),
            (loc(g, 1), payloads[1].clone()),
        ];
        assert_objects(got, &want, &format!("unrelated pair {when}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_subscribers_one_upstream_subscribe() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let publisher = Publisher::start(&url, "live/fifty").await;

    // 50 viewers subscribe at once: the first creates the upstream subscription, the rest
    // attach to it (while it is pending or once it is established).
    let mut joins = tokio::task::JoinSet::new();
    for i in 0..50 {
        let url = url.clone();
        joins.spawn(async move {
            let peer = Peer::connect(&url).await;
            let filter = Some(SubscriptionFilter::LargestObject);
            let (req, _) = peer.subscribe_ok("live/fifty", "video", filter).await;
            (i, Arc::new(peer), req)
        });
    }
    let mut subs = Vec::new();
    while let Some(j) = within(Duration::from_secs(10), "50 subscribes", joins.join_next()).await {
        subs.push(j.expect("subscriber task"));
    }
    assert_eq!(subs.len(), 50);
    let up = publisher.subscribed().await;
    assert_eq!(&up.track[..], b"video");

    let groups: Vec<Vec<Bytes>> = (0..3)
        .map(|g| (0..4).map(|o| payload(1, g, o, 1500)).collect())
        .collect();
    for (g, objs) in groups.iter().enumerate() {
        publisher.peer.write_group(up.alias, g as u64, objs).await;
    }
    let expected: Vec<(Location, Bytes)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, objs)| {
            objs.iter()
                .enumerate()
                .map(move |(o, p)| (loc(g as u64, o as u64), p.clone()))
        })
        .collect();

    let mut checks = tokio::task::JoinSet::new();
    for (i, peer, req) in subs {
        let expected = expected.clone();
        checks.spawn(async move {
            let got = peer.objects(expected.len(), Duration::from_secs(8)).await;
            assert_objects(got, &expected, &format!("subscriber {i}"));
            drop(req);
        });
    }
    while let Some(c) = checks.join_next().await {
        c.expect("every subscriber got every object");
    }
    assert_eq!(
        publisher
            .subscribes
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the publisher must see exactly one SUBSCRIBE for 50 viewers"
    );
}

/// Framed message bytes.
fn framed(msg: impl Into<Message>) -> BytesMut {
    let mut buf = BytesMut::new();
    msg.into().encode(&mut buf).expect("encodes");
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_control_message_closes_only_that_session() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let mut pair = Pair::start(&url).await;

    let subscribe = Subscribe {
        request_id: 0,
        track_namespace: ns("live/ok"),
        track_name: Bytes::from_static(b"t"),
        parameters: Parameters::new(),
    };
    // 1. Garbage: a type that is no message, a length, then noise.
    let garbage = vec![0x3e, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef];
    // 2. A type draft-18 removed (UNSUBSCRIBE, 0xa) with an empty payload.
    let mut unknown = Vec::new();
    encode_varint(0xa, &mut unknown);
    unknown.extend_from_slice(&0u16.to_be_bytes());
    // 3. A SUBSCRIBE whose declared length is one byte longer than its payload.
    let mut mismatch = framed(subscribe.clone());
    let len = u16::from_be_bytes([mismatch[1], mismatch[2]]) + 1;
    mismatch[1..3].copy_from_slice(&len.to_be_bytes());
    mismatch.extend_from_slice(&[0x00]);
    // 4. A SUBSCRIBE cut short by FIN.
    let whole = framed(subscribe);
    let truncated = whole[..whole.len() - 2].to_vec();

    for (what, bytes) in [
        ("garbage", garbage),
        ("unknown message type", unknown),
        ("length mismatch", mismatch.to_vec()),
        ("truncated message", truncated),
    ] {
        let bad = Peer::connect(&url).await;
        let _req = bad.raw_request(&bytes).await;
        let err = bad.closed(STEP).await;
        assert_violation(&err, what);
        pair.check(&format!("after {what}")).await;
    }
    let deadline = tokio::time::Instant::now() + STEP;
    while relay.hub.session_count() != 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(relay.hub.session_count(), 2, "only the pair is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_is_excessive_load() {
    // The router's cap on live subscriptions per session.
    let (mut router, settings) = default_settings();
    router.max_subscriptions_per_session = 2;
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let _publisher = Publisher::start(&url, "live/many").await;
    let viewer = Peer::connect(&url).await;
    let (a, _) = viewer.subscribe_ok("live/many", "a", None).await;
    let (_b, _) = viewer.subscribe_ok("live/many", "b", None).await;
    let (_c, refused) = viewer.subscribe("live/many", "c", None).await;
    let e = refused.expect_err("third subscription is over the cap");
    assert_eq!(e.error_code, RequestErrorCode::EXCESSIVE_LOAD, "{e:?}");
    // Unsubscribe from `a`: the session is still up and the next SUBSCRIBE is accepted.
    a.close(STEP).await;
    assert!(viewer.session.close_reason().is_none(), "session stays up");
    let (_d, ok) = viewer.subscribe("live/many", "d", None).await;
    ok.expect("a released subscription makes room");

    // The driver's cap on open requests per session (checked before the request is read).
    let (router, mut settings) = default_settings();
    settings.max_requests_per_session = 2;
    let relay2 = start_relay(router, settings);
    let url2 = support::url(&relay2);
    let _publisher = Publisher::start(&url2, "live/many").await;
    let viewer = Peer::connect(&url2).await;
    let (a, _) = viewer.subscribe_ok("live/many", "a", None).await;
    let (_b, _) = viewer.subscribe_ok("live/many", "b", None).await;
    let (_c, refused) = viewer.subscribe("live/many", "c", None).await;
    let e = refused.expect_err("third request is over the cap");
    assert_eq!(e.error_code, RequestErrorCode::EXCESSIVE_LOAD, "{e:?}");
    a.close(STEP).await;
    assert!(viewer.session.close_reason().is_none(), "session stays up");
    let (_d, ok) = viewer.subscribe("live/many", "d", None).await;
    ok.expect("a released request makes room");
}

/// A publisher that has written groups 0..=3 (three objects each) into the relay's cache,
/// through a first subscriber that asked for everything from {0,0}.
struct Cached {
    relay: tern_relay::node::Node,
    url: String,
    publisher: Publisher,
    alias: u64,
    first: Peer,
    _first_sub: Request,
}

fn group_payloads(g: u64) -> Vec<Bytes> {
    (0..3).map(|o| payload(2, g, o, 700)).collect()
}

fn expected(locs: &[(u64, u64)]) -> Vec<(Location, Bytes)> {
    locs.iter()
        .map(|&(g, o)| (loc(g, o), payload(2, g, o, 700)))
        .collect()
}

impl Cached {
    async fn start() -> Cached {
        let (router, settings) = default_settings();
        let relay = start_relay(router, settings);
        let url = url(&relay);
        let publisher = Publisher::start(&url, "live/dvr").await;
        let first = Peer::connect(&url).await;
        let filter = Some(SubscriptionFilter::AbsoluteStart(loc(0, 0)));
        let (first_sub, _) = first.subscribe_ok("live/dvr", "v", filter).await;
        let up = publisher.subscribed().await;
        assert_eq!(
            up.filter, filter,
            "the relay asks upstream for what the viewer wants"
        );
        // One group at a time, each delivered before the next is written: the cache's log
        // then holds the groups in order (parallel streams could otherwise interleave).
        for g in 0..4 {
            publisher
                .peer
                .write_group(up.alias, g, &group_payloads(g))
                .await;
            let got = first.objects(3, STEP).await;
            let want: Vec<(u64, u64)> = (0..3).map(|o| (g, o)).collect();
            assert_objects(got, &expected(&want), "first viewer");
        }
        Cached {
            relay,
            url,
            publisher,
            alias: up.alias,
            first,
            _first_sub: first_sub,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_cache_over_the_wire() {
    let c = Cached::start().await;
    // Largest Object is {3,2} now.
    // (name, filter, expected (group, object) locations)
    type Case = (&'static str, SubscriptionFilter, Vec<(u64, u64)>);
    let cases: Vec<Case> = vec![
        // After the largest object: only what is published from now on (group 4).
        (
            "Largest Object",
            SubscriptionFilter::LargestObject,
            vec![(4, 0), (4, 1), (4, 2)],
        ),
        // From {Largest.Group + 1, 0}: group 4.
        (
            "Next Group Start",
            SubscriptionFilter::NextGroupStart,
            vec![(4, 0), (4, 1), (4, 2)],
        ),
        // From {1,0}, open ended: groups 1..=3 from the cache, then group 4.
        (
            "AbsoluteStart{1,0}",
            SubscriptionFilter::AbsoluteStart(loc(1, 0)),
            (1..5).flat_map(|g| (0..3).map(move |o| (g, o))).collect(),
        ),
        // From {0,2} to the end of group 0 + 1: {0,2} and group 1, all from the cache.
        (
            "AbsoluteRange{0,2}+1",
            SubscriptionFilter::AbsoluteRange {
                start: loc(0, 2),
                end_group_delta: 1,
            },
            vec![(0, 2), (1, 0), (1, 1), (1, 2)],
        ),
    ];
    let mut viewers = Vec::new();
    for (name, filter, want) in cases {
        let peer = Peer::connect(&c.url).await;
        let (req, ok) = peer.subscribe_ok("live/dvr", "v", Some(filter)).await;
        assert_eq!(
            ok.parameters.largest_object(),
            Some(loc(3, 2)),
            "{name}: SUBSCRIBE_OK carries the Largest Object"
        );
        viewers.push((name, peer, req, want));
    }
    c.publisher
        .peer
        .write_group(c.alias, 4, &group_payloads(4))
        .await;
    for (name, peer, mut req, want) in viewers {
        let mut got = peer.objects(want.len(), STEP).await;
        got.extend(peer.drain_objects(Duration::from_millis(300)).await);
        assert_objects(got, &expected(&want), name);
        if name.starts_with("AbsoluteRange") {
            match req.next().await {
                Some(Message::PublishDone(d)) => {
                    assert_eq!(d.status_code, PublishDoneCode::SUBSCRIPTION_ENDED, "{name}")
                }
                other => {
                    panic!("{name}: expected PUBLISH_DONE at the end of the range, got {other:?}")
                }
            }
        }
    }
    assert_eq!(
        c.publisher
            .subscribes
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    drop(c.first);
    drop(c.relay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_fetch_from_cache() {
    let c = Cached::start().await;
    let viewer = Peer::connect(&c.url).await;
    // [{1,1}, {2,2}): End Location is exclusive in its object.
    let (id, mut req) = viewer.fetch("live/dvr", "v", loc(1, 1), loc(2, 2)).await;
    match req.next().await {
        Some(Message::FetchOk(ok)) => {
            assert!(!ok.end_of_track);
            assert_eq!(ok.end_location, loc(2, 2), "FETCH_OK End Location");
        }
        other => panic!("expected FETCH_OK, got {other:?}"),
    }
    let got = viewer.objects(4, STEP).await;
    let locs: Vec<Location> = got.iter().map(|(l, _)| *l).collect();
    assert_eq!(
        locs,
        [loc(1, 1), loc(1, 2), loc(2, 0), loc(2, 1)],
        "fetch order"
    );
    assert_objects(got, &expected(&[(1, 1), (1, 2), (2, 0), (2, 1)]), "fetch");
    match viewer.next_data(STEP).await {
        Some(DataEvent::FetchEnd { request, reset }) => {
            assert_eq!(
                (request, reset),
                (id, None),
                "the fetch stream ends with FIN"
            )
        }
        other => panic!("expected the end of the fetch stream, got {other:?}"),
    }
    // A whole group (End Location object 0).
    let (_, mut req) = viewer.fetch("live/dvr", "v", loc(2, 0), loc(2, 0)).await;
    match req.next().await {
        Some(Message::FetchOk(_)) => {}
        other => panic!("FETCH of the whole group 2: expected FETCH_OK, got {other:?}"),
    }
    let got = viewer.objects(3, STEP).await;
    assert_objects(
        got,
        &expected(&[(2, 0), (2, 1), (2, 2)]),
        "whole-group fetch",
    );
    assert_eq!(
        c.publisher
            .fetches
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "served from the cache, not upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_whole_newest_group_from_cache() {
    let c = Cached::start().await;
    let viewer = Peer::connect(&c.url).await;
    // Group 3 is the newest and complete (its stream had END_OF_GROUP and a FIN).
    let (_, mut req) = viewer.fetch("live/dvr", "v", loc(3, 0), loc(3, 0)).await;
    match req.next().await {
        Some(Message::FetchOk(_)) => {}
        other => panic!("FETCH of the whole (complete) group 3: expected FETCH_OK, got {other:?}"),
    }
    let got = viewer.objects(3, STEP).await;
    assert_objects(
        got,
        &expected(&[(3, 0), (3, 1), (3, 2)]),
        "whole-group fetch",
    );
    assert_eq!(
        c.publisher
            .fetches
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_outside_cache_is_invalid_range() {
    let c = Cached::start().await;
    let viewer = Peer::connect(&c.url).await;
    // Start beyond the Largest Object ({3,2}): nothing there (the relay may ask upstream,
    // whose answer is INVALID_RANGE too).
    let (_, mut req) = viewer.fetch("live/dvr", "v", loc(10, 0), loc(11, 0)).await;
    match req.next().await {
        Some(Message::RequestError(e)) => {
            assert_eq!(e.error_code, RequestErrorCode::INVALID_RANGE, "{e:?}")
        }
        other => panic!("FETCH beyond the largest object: expected INVALID_RANGE, got {other:?}"),
    }
    // A track the relay has never heard of, under no announced namespace.
    let (_, mut req) = viewer.fetch("nowhere", "v", loc(0, 0), loc(1, 0)).await;
    match req.next().await {
        Some(Message::RequestError(e)) => assert_eq!(
            e.error_code,
            RequestErrorCode::DOES_NOT_EXIST,
            "unknown track: {e:?}"
        ),
        other => panic!("FETCH of an unknown track: expected REQUEST_ERROR, got {other:?}"),
    }
    assert!(viewer.session.close_reason().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_end_before_start_is_invalid_range() {
    let c = Cached::start().await;
    let viewer = Peer::connect(&c.url).await;
    // End Location before Start Location: draft-18 says INVALID_RANGE.
    let (_, mut req) = viewer.fetch("live/dvr", "v", loc(2, 0), loc(1, 1)).await;
    match req.next().await {
        Some(Message::RequestError(e)) => {
            assert_eq!(e.error_code, RequestErrorCode::INVALID_RANGE, "{e:?}")
        }
        other => panic!("FETCH with End < Start: expected INVALID_RANGE, got {other:?}"),
    }
    // The relay still serves the track afterwards.
    let (_, mut req) = viewer.fetch("live/dvr", "v", loc(0, 0), loc(0, 0)).await;
    assert!(matches!(req.next().await, Some(Message::FetchOk(_))));
    let got = viewer.objects(3, STEP).await;
    assert_objects(got, &expected(&[(0, 0), (0, 1), (0, 2)]), "fetch after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_range_with_groups_arriving_out_of_order() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let publisher = Publisher::start(&url, "live/ooo").await;
    let first = Peer::connect(&url).await;
    let filter = Some(SubscriptionFilter::AbsoluteStart(loc(0, 0)));
    let (_first_sub, _) = first.subscribe_ok("live/ooo", "v", filter).await;
    let alias = publisher.subscribed().await.alias;
    // Group 1 lands (complete) before group 0: parallel streams finish in any order.
    for g in [1u64, 0] {
        publisher
            .peer
            .write_group(alias, g, &group_payloads(g))
            .await;
        let got = first.objects(3, STEP).await;
        let want: Vec<(u64, u64)> = (0..3).map(|o| (g, o)).collect();
        assert_objects(got, &expected(&want), "first viewer");
    }
    // Groups 0 and 1 are both in the cache: a range over them gets both.
    let viewer = Peer::connect(&url).await;
    let range = SubscriptionFilter::AbsoluteRange {
        start: loc(0, 0),
        end_group_delta: 1,
    };
    let (_sub, _) = viewer.subscribe_ok("live/ooo", "v", Some(range)).await;
    let got = viewer.objects(6, STEP).await;
    let all: Vec<(u64, u64)> = (0..2).flat_map(|g| (0..3).map(move |o| (g, o))).collect();
    assert_objects(got, &expected(&all), "AbsoluteRange{0,0}+1");
}

/// Fetch the admin port's `/metrics` text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_skips_and_others_unaffected() {
    let (admin, _task) = tern_relay::admin::serve(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        tern_relay::admin::Readiness::new(),
    )
    .await
    .expect("admin port");
    let (router, mut settings) = default_settings();
    // A small cache so the bound is visible: a few groups of ~32 KiB.
    let budget = 96 * 1024;
    settings.cache.max_bytes = budget;
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let publisher = Publisher::start(&url, "live/slow").await;

    // The stalled viewer: 1 KiB per stream, 4 KiB per connection, and it never reads.
    let tiny = TransportLimits {
        stream_receive_window: 1024,
        receive_window: 4096,
        ..TransportLimits::default()
    };
    let slow = Peer::connect_with(&url, tiny, false).await;
    let (_slow_sub, _) = slow.subscribe_ok("live/slow", "v", None).await;
    let fast = Arc::new(Peer::connect(&url).await);
    let (_fast_sub, _) = fast.subscribe_ok("live/slow", "v", None).await;
    let alias = publisher.subscribed().await.alias;

    // ~3 s of 30 objects/s in groups of 30 (one group per second), 1000-byte objects.
    let reader = {
        let fast = fast.clone();
        tokio::spawn(async move { fast.objects(90, Duration::from_secs(8)).await })
    };
    let mut max_cache = 0.0f64;
    for g in 0..3u64 {
        let mut w = publisher.peer.subgroup(alias, g).await;
        for o in 0..30u64 {
            w.object(o, payload(3, g, o, 1000)).await.expect("publish");
            tokio::time::sleep(Duration::from_millis(33)).await;
        }
        w.finish();
        if let Some(v) = metric(&scrape(admin).await, "tern_cache_bytes") {
            max_cache = max_cache.max(v);
        }
    }
    let got = within(Duration::from_secs(9), "fast viewer", reader)
        .await
        .expect("fast reader");
    let want: Vec<(Location, Bytes)> = (0..3)
        .flat_map(|g| (0..30).map(move |o| (loc(g, o), payload(3, g, o, 1000))))
        .collect();
    // In order: one stream per group, and groups were written one after the other.
    let order: Vec<Location> = got.iter().map(|(l, _)| *l).collect();
    let want_order: Vec<Location> = want.iter().map(|(l, _)| *l).collect();
    assert_eq!(
        order, want_order,
        "the fast viewer gets everything, in order"
    );
    assert_objects(got, &want, "fast viewer");

    // The stalled viewer's writes timed out: the relay reset its streams instead of queueing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held: Vec<_> = std::mem::take(&mut *slow.held.lock().unwrap());
    let mut resets = 0;
    for mut s in held {
        loop {
            match tokio::time::timeout(Duration::from_millis(200), s.read_chunk(64 * 1024)).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Err(tern_quic::StreamError::Reset(_))) => {
                    resets += 1;
                    break;
                }
                _ => break,
            }
        }
    }
    assert!(
        resets >= 1,
        "the stalled viewer's streams are reset, not queued"
    );
    assert!(
        slow.session.close_reason().is_none(),
        "the stalled viewer is not disconnected"
    );

    let text = scrape(admin).await;
    let cache = metric(&text, "tern_cache_bytes")
        .unwrap_or(0.0)
        .max(max_cache);
    // The budget, plus the newest group which is never evicted.
    assert!(
        cache <= (budget + 30 * 1100) as f64,
        "cache holds {cache} bytes, budget {budget}"
    );
}

/// The relay's SETUP in answer to a client whose SETUP names `implementation`.
async fn relay_setup_for(url: &str, implementation: &'static str) -> tern_moq::message::Setup {
    let client = tern_quic::Client::new(tern_quic::ClientConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        disable_verify: true,
        system_roots: false,
        connect_timeout: STEP,
        ..tern_quic::ClientConfig::default()
    })
    .expect("client endpoint");
    let session = within(STEP, "connect", client.connect(url))
        .await
        .expect("connected");
    let mut control = within(STEP, "open control stream", session.open_uni())
        .await
        .expect("control stream");
    let mut setup = tern_moq::message::Setup::default();
    setup.set_moqt_implementation(implementation);
    write(&mut control, setup).await.expect("SETUP written");
    let mut recv = within(STEP, "the relay's control stream", session.accept_uni())
        .await
        .expect("control stream");
    let mut reader = tern_moq::ControlReader::new(tern_moq::Limits::default());
    loop {
        if let Some(m) = reader.pop().expect("a valid message") {
            match m {
                Message::Setup(s) => return s,
                other => panic!("expected SETUP first, got {other:?}"),
            }
        }
        let chunk = within(STEP, "read SETUP", recv.read_chunk(4096))
            .await
            .expect("readable")
            .expect("SETUP before the end of the stream");
        reader.push(&chunk).expect("within limits");
    }
}

/// The hop-list option (0x7E71) goes only to a peer whose SETUP named a `tern/`
/// implementation: a foreign peer never receives a SETUP option it does not know.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_list_option_only_in_answer_to_a_tern_peer() {
    let (router, settings) = default_settings();
    let node = start_relay(router, settings);
    let url = url(&node);
    let foreign = relay_setup_for(&url, "moq-rs/0.10").await;
    assert!(
        foreign
            .options
            .get(tern_relay::core::hops::TERN_RELAY)
            .is_none(),
        "a foreign peer got the hop-list option: {foreign:?}"
    );
    let tern = relay_setup_for(&url, "tern/0.1.0").await;
    assert!(
        matches!(
            tern.options.get(tern_relay::core::hops::TERN_RELAY),
            Some(tern_moq::coding::KvpValue::Bytes(id)) if !id.is_empty()
        ),
        "a tern peer did not get the relay id: {tern:?}"
    );
}
