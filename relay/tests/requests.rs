//! Requests besides SUBSCRIBE and FETCH, over the wire: TRACK_STATUS, REQUEST_UPDATE on a
//! subscription (Forward and Subscriber Priority) and SUBSCRIBE_NAMESPACE.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tern_moq::message::codes::RequestErrorCode;
use tern_moq::message::{
    Namespace, NamespaceDone, Parameters, RequestUpdate, SubscribeNamespace, SubscriptionFilter,
    TrackStatus,
};
use tern_moq::{Location, Message, TrackNamespace};

use support::*;

fn loc(group: u64, object: u64) -> Location {
    Location::new(group, object)
}

/// Send TRACK_STATUS and return the answer.
async fn track_status(peer: &Peer, namespace: &str, track: &str) -> Message {
    let mut req = peer
        .request(TrackStatus {
            request_id: peer.request_id(),
            track_namespace: ns(namespace),
            track_name: Bytes::copy_from_slice(track.as_bytes()),
            parameters: Parameters::new(),
        })
        .await;
    let answer = req.next().await.expect("an answer to TRACK_STATUS");
    assert!(req.next().await.is_none(), "one answer, then FIN");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn track_status_carries_the_largest_location() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);
    // The publisher's own answer, when asked, names {7,4}.
    let history: History = vec![(loc(7, 4), Bytes::from_static(b"x"))];
    let publisher = Publisher::with_history(&url, "live/status", history).await;
    let viewer = Peer::connect(&url).await;

    // A track the relay does not cache: asked upstream, the publisher's Largest is relayed.
    match track_status(&viewer, "live/status", "cold").await {
        Message::RequestOk(ok) => {
            assert_eq!(ok.parameters.largest_object(), Some(loc(7, 4)), "{ok:?}")
        }
        other => panic!("TRACK_STATUS of an uncached track: expected REQUEST_OK, got {other:?}"),
    }
    assert_eq!(publisher.track_statuses.load(Ordering::SeqCst), 1);

    // A track with groups 0..=2 in the cache: answered here with {2,2}.
    let first = Peer::connect(&url).await;
    let filter = Some(SubscriptionFilter::AbsoluteStart(loc(0, 0)));
    let (_sub, _) = first.subscribe_ok("live/status", "hot", filter).await;
    let alias = publisher.subscribed().await.alias;
    for g in 0..3 {
        let objs: Vec<Bytes> = (0..3).map(|o| payload(8, g, o, 100)).collect();
        publisher.peer.write_group(alias, g, &objs).await;
        first.objects(3, STEP).await;
    }
    match track_status(&viewer, "live/status", "hot").await {
        Message::RequestOk(ok) => {
            assert_eq!(ok.parameters.largest_object(), Some(loc(2, 2)), "{ok:?}")
        }
        other => panic!("TRACK_STATUS of a cached track: expected REQUEST_OK, got {other:?}"),
    }
    assert_eq!(
        publisher.track_statuses.load(Ordering::SeqCst),
        1,
        "a cached track is answered without asking upstream"
    );

    // Nobody publishes under this namespace.
    match track_status(&viewer, "nowhere", "t").await {
        Message::RequestError(e) => {
            assert_eq!(e.error_code, RequestErrorCode::DOES_NOT_EXIST, "{e:?}")
        }
        other => panic!("TRACK_STATUS of an unknown track: expected REQUEST_ERROR, got {other:?}"),
    }
    assert!(viewer.session.close_reason().is_none());
}

/// REQUEST_UPDATE on a subscription's stream; returns once the relay's REQUEST_OK arrived.
async fn update(peer: &Peer, sub: &mut Request, parameters: Parameters) {
    let msg = RequestUpdate {
        request_id: peer.request_id(),
        parameters,
    };
    write(&mut sub.send, msg)
        .await
        .expect("REQUEST_UPDATE written");
    match sub.next().await {
        Some(Message::RequestOk(_)) => {}
        other => panic!("REQUEST_UPDATE: expected REQUEST_OK, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_update_forward_resumes_delivery() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let publisher = Publisher::start(&url, "live/fwd").await;
    // A witness receives everything, so we know when the relay had each group.
    let witness = Peer::connect(&url).await;
    let (_w, _) = witness.subscribe_ok("live/fwd", "v", None).await;
    let alias = publisher.subscribed().await.alias;

    let viewer = Peer::connect(&url).await;
    let mut params = Parameters::new();
    params.set_forward(false);
    let (_, mut sub, ok) = viewer.subscribe_with("live/fwd", "v", params).await;
    ok.expect("SUBSCRIBE with Forward 0 accepted");

    let group = |g: u64| -> Vec<Bytes> { (0..2).map(|o| payload(10, g, o, 400)).collect() };
    publisher.peer.write_group(alias, 0, &group(0)).await;
    witness.objects(2, STEP).await;
    assert_eq!(
        viewer.drain_objects(Duration::from_millis(300)).await,
        vec![],
        "Forward 0: nothing is delivered"
    );

    let mut params = Parameters::new();
    params.set_forward(true);
    update(&viewer, &mut sub, params).await;
    publisher.peer.write_group(alias, 1, &group(1)).await;
    witness.objects(2, STEP).await;
    let mut got = viewer.objects(2, STEP).await;
    got.extend(viewer.drain_objects(Duration::from_millis(300)).await);
    let want: Vec<(Location, Bytes)> = group(1)
        .into_iter()
        .enumerate()
        .map(|(o, p)| (loc(1, o as u64), p))
        .collect();
    assert_eq!(got, want, "Forward 1: delivery resumes with the next group");
    assert_eq!(publisher.subscribes.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_update_priority_reorders_a_congested_link() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let publisher = Publisher::start(&url, "live/prio").await;

    // The viewer sits behind a 400 KB/s downlink: what the relay sends it queues up, and
    // stream priority decides the order.
    let link = SlowLink::start(relay.addr, 400_000.0).await;
    let viewer = Peer::connect(&link.url()).await;
    let with_priority = |p: u8| {
        let mut params = Parameters::new();
        params.set_subscriber_priority(p);
        params
    };
    let (_, _bulk_sub, ok) = viewer
        .subscribe_with("live/prio", "bulk", with_priority(128))
        .await;
    ok.expect("bulk subscribed");
    let bulk = publisher.subscribed().await.alias;
    // Subscribed at the lowest priority (255), then raised to the highest (0).
    let (_, mut urgent_sub, ok) = viewer
        .subscribe_with("live/prio", "urgent", with_priority(255))
        .await;
    ok.expect("urgent subscribed");
    let urgent = publisher.subscribed().await.alias;
    update(&viewer, &mut urgent_sub, with_priority(0)).await;

    // 720 KB of bulk (almost two seconds on the link), then one small urgent object once the
    // bulk is flowing. At the updated priority it overtakes the queued bulk, behind only what
    // is already in flight; at 255 it would wait for all of it.
    let bulk_objects: Vec<Bytes> = (0..120).map(|o| payload(11, 0, o, 6000)).collect();
    publisher.peer.write_group(bulk, 0, &bulk_objects).await;
    let first = viewer.objects(1, STEP).await;
    assert_eq!(first[0].0, loc(0, 0));
    let urgent_payload = payload(12, 0, 0, 1000);
    publisher
        .peer
        .write_group(urgent, 0, std::slice::from_ref(&urgent_payload))
        .await;

    let mut bulk_seen = 1;
    let mut urgent_after = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while bulk_seen < bulk_objects.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match viewer.next_data(left).await {
            Some(DataEvent::Object { alias, payload, .. }) if payload == urgent_payload => {
                assert!(
                    urgent_after.is_none(),
                    "urgent object twice (alias {alias})"
                );
                urgent_after = Some(bulk_seen);
            }
            Some(DataEvent::Object { .. }) => bulk_seen += 1,
            Some(_) => {}
            None => panic!("only {bulk_seen} bulk objects within 10 s"),
        }
    }
    let urgent_after = urgent_after.unwrap_or_else(|| {
        panic!("the urgent object did not overtake any of the queued bulk objects")
    });
    assert!(
        urgent_after <= bulk_objects.len() * 3 / 4,
        "the urgent object came after {urgent_after} of {} bulk objects",
        bulk_objects.len()
    );
}

/// The next message on a SUBSCRIBE_NAMESPACE stream other than REQUEST_OK, or `None` after
/// `limit`.
async fn next_namespace_message(req: &mut Request, limit: Duration) -> Option<Message> {
    loop {
        match req.next_within(limit).await? {
            Message::RequestOk(_) => continue,
            other => return Some(other),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_namespace_learns_namespaces_before_and_after() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let _early = Publisher::start(&url, "live/early").await;

    let viewer = Peer::connect(&url).await;
    let mut req = viewer
        .request(SubscribeNamespace {
            request_id: viewer.request_id(),
            track_namespace_prefix: ns("live"),
            parameters: Parameters::new(),
        })
        .await;
    match req.next().await {
        Some(Message::RequestOk(_)) => {}
        other => panic!("SUBSCRIBE_NAMESPACE: expected REQUEST_OK, got {other:?}"),
    }
    let suffix = |s: &str| TrackNamespace::from_path(s);
    // Published before the subscription.
    assert_eq!(
        next_namespace_message(&mut req, STEP).await,
        Some(Message::Namespace(Namespace {
            track_namespace_suffix: suffix("early")
        })),
        "a namespace published before SUBSCRIBE_NAMESPACE"
    );

    // Outside the prefix: not sent.
    let _other = Publisher::start(&url, "other/x").await;
    // Published after.
    let late = Publisher::start(&url, "live/late").await;
    assert_eq!(
        next_namespace_message(&mut req, STEP).await,
        Some(Message::Namespace(Namespace {
            track_namespace_suffix: suffix("late")
        })),
        "a namespace published after SUBSCRIBE_NAMESPACE (and nothing outside the prefix)"
    );

    // The late publisher leaves: its namespace is withdrawn.
    late.peer.session.close(0, "bye");
    assert_eq!(
        next_namespace_message(&mut req, STEP).await,
        Some(Message::NamespaceDone(NamespaceDone {
            track_namespace_suffix: suffix("late")
        })),
        "NAMESPACE_DONE when the publisher goes"
    );
    assert_eq!(
        next_namespace_message(&mut req, Duration::from_millis(300)).await,
        None,
        "nothing else"
    );
    assert!(viewer.session.close_reason().is_none());
}
