//! FETCH through the relay when its cache cannot answer alone: a standalone FETCH forwarded to
//! the publisher, a range evicted from the cache that the publisher refuses too, and a Joining
//! FETCH that hands a late subscriber the current group's earlier objects.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tern_moq::message::codes::RequestErrorCode;
use tern_moq::message::{Parameters, SubscriptionFilter};
use tern_moq::{Location, Message};
use tern_relay::core::types::TrackName;

use support::*;

fn loc(group: u64, object: u64) -> Location {
    Location::new(group, object)
}

/// Every data event until none arrives for `quiet`.
async fn events(peer: &Peer, quiet: Duration) -> Vec<DataEvent> {
    let mut out = Vec::new();
    while let Some(ev) = peer.next_data(quiet).await {
        out.push(ev);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_fetch_is_forwarded_when_the_cache_cannot_answer() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);
    // The publisher has groups 0..=2 in its history; nothing was ever published live, so the
    // relay has no cache for the track at all.
    let history: History = (0..3)
        .flat_map(|g| (0..3).map(move |o| (loc(g, o), payload(5, g, o, 900))))
        .collect();
    let publisher = Publisher::with_history(&url, "live/vod", history.clone()).await;
    let viewer = Peer::connect(&url).await;

    // [{0,1}, {1,2}): End Location is exclusive in its object.
    let (id, mut req) = viewer.fetch("live/vod", "v", loc(0, 1), loc(1, 2)).await;
    match req.next().await {
        Some(Message::FetchOk(ok)) => assert_eq!(ok.end_location, loc(1, 2), "FETCH_OK End"),
        other => panic!("expected the publisher's FETCH_OK, got {other:?}"),
    }
    let want: Vec<DataEvent> = [(0, 1), (0, 2), (1, 0), (1, 1)]
        .iter()
        .map(|&(g, o)| DataEvent::Fetched {
            request: id,
            location: loc(g, o),
            payload: payload(5, g, o, 900),
        })
        .chain([DataEvent::FetchEnd {
            request: id,
            reset: None,
        }])
        .collect();
    let got = events(&viewer, Duration::from_millis(500)).await;
    assert!(
        got == want,
        "the viewer gets the publisher's objects, in order, on a fetch stream of its own \
         request that ends with FIN: {:?}",
        got.iter()
            .map(|e| match e {
                DataEvent::Fetched {
                    request, location, ..
                } => format!("fetched {request} {location:?}"),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(
        publisher.fetches.load(Ordering::SeqCst),
        1,
        "asked upstream once"
    );
    assert_eq!(
        publisher.subscribes.load(Ordering::SeqCst),
        0,
        "a FETCH, not a SUBSCRIBE"
    );
    assert!(viewer.session.close_reason().is_none());
}

/// The cache of one track, as the relay holds it.
async fn cached_groups(relay: &tern_relay::node::Node, name: &TrackName) -> (Vec<u64>, u64) {
    let handle = relay
        .hub
        .read({
            let name = name.clone();
            move |r| r.track_id(&name)
        })
        .await
        .and_then(|id| relay.hub.track(id))
        .expect("the relay caches the track");
    handle.read(|t| (t.group_ids().collect(), t.evicted_groups()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_of_evicted_groups_refused_upstream_is_invalid_range() {
    let (router, mut settings) = default_settings();
    // Room for about two groups of 2100 bytes: the writer evicts older groups as it appends.
    settings.cache.max_bytes = 4500;
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let publisher = Publisher::start(&url, "live/evict").await; // refuses every FETCH
    let first = Peer::connect(&url).await;
    let filter = Some(SubscriptionFilter::AbsoluteStart(loc(0, 0)));
    let (_sub, _) = first.subscribe_ok("live/evict", "v", filter).await;
    let alias = publisher.subscribed().await.alias;
    for g in 0..5u64 {
        let objs: Vec<Bytes> = (0..3).map(|o| payload(6, g, o, 700)).collect();
        publisher.peer.write_group(alias, g, &objs).await;
        first.objects(3, STEP).await;
    }

    // The old groups are evicted (the test waits for the last objects to land).
    let name = TrackName {
        namespace: ns("live/evict").fields().to_vec(),
        name: Bytes::from_static(b"v"),
    };
    let deadline = tokio::time::Instant::now() + STEP;
    let (groups, evicted) = loop {
        let (groups, evicted) = cached_groups(&relay, &name).await;
        if !groups.contains(&1) || tokio::time::Instant::now() > deadline {
            break (groups, evicted);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !groups.contains(&0) && !groups.contains(&1) && evicted >= 2,
        "groups 0 and 1 are evicted: cache holds {groups:?}, {evicted} evicted"
    );
    assert!(groups.contains(&4), "the newest group stays: {groups:?}");

    // Groups 0 and 1 (End Location {1,0}: the whole of group 1).
    let viewer = Peer::connect(&url).await;
    let (_, mut req) = viewer.fetch("live/evict", "v", loc(0, 0), loc(1, 0)).await;
    let e = match req.next().await {
        Some(Message::RequestError(e)) => e,
        other => panic!("FETCH of evicted groups: expected REQUEST_ERROR, got {other:?}"),
    };
    assert_eq!(e.error_code, RequestErrorCode::INVALID_RANGE, "{e:?}");
    let reason = e.error_reason.to_string_lossy();
    assert!(
        reason.contains("evicted") && reason.contains("no history"),
        "the reason says the relay evicted the range and what upstream said: {reason:?}"
    );
    assert_eq!(
        publisher.fetches.load(Ordering::SeqCst),
        1,
        "the relay asked upstream before refusing"
    );
    assert!(req.next().await.is_none(), "the request stream ends");
    assert!(
        viewer.next_data(Duration::from_millis(300)).await.is_none(),
        "no fetch stream"
    );
    assert!(viewer.session.close_reason().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_fetch_delivers_the_current_groups_earlier_objects() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let (publisher, _first, mut g1) = group_in_progress(&url, "live/join", 7).await;

    // A late viewer subscribes from the Largest Object ({1,2}), then asks for the current
    // group up to it with a Relative Joining FETCH (Joining Start 0: this group only).
    let late = Peer::connect(&url).await;
    let mut params = Parameters::new();
    params.set_subscription_filter(&SubscriptionFilter::LargestObject);
    let (sub_id, _late_sub, ok) = late.subscribe_with("live/join", "v", params).await;
    let ok = ok.expect("SUBSCRIBE accepted");
    assert_eq!(ok.parameters.largest_object(), Some(loc(1, 2)));
    let (fetch_id, mut req) = late.joining_fetch(sub_id, true, 0).await;
    match req.next().await {
        Some(Message::FetchOk(ok)) => assert_eq!(ok.end_location, loc(1, 3), "FETCH_OK End"),
        other => panic!("Joining FETCH: expected FETCH_OK, got {other:?}"),
    }
    // And the subscription carries on from {1,3}.
    g1.object(3, payload(7, 1, 3, 600)).await.expect("object");
    g1.finish();

    let got = events(&late, Duration::from_millis(500)).await;
    let fetched: Vec<(Location, bool)> = got
        .iter()
        .filter_map(|e| match e {
            DataEvent::Fetched {
                request,
                location,
                payload: p,
            } => {
                assert_eq!(*request, fetch_id);
                Some((
                    *location,
                    *p == payload(7, location.group, location.object, 600),
                ))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        fetched,
        vec![(loc(1, 0), true), (loc(1, 1), true), (loc(1, 2), true)],
        "the Joining FETCH gives the current group's objects up to the Joining Location, \
         nothing of group 0"
    );
    assert!(
        got.contains(&DataEvent::FetchEnd {
            request: fetch_id,
            reset: None
        }),
        "the fetch stream ends with FIN: {got:?}"
    );
    let live: Vec<Location> = got
        .iter()
        .filter_map(|e| match e {
            DataEvent::Object { group, object, .. } => Some(loc(*group, *object)),
            _ => None,
        })
        .collect();
    assert_eq!(
        live,
        vec![loc(1, 3)],
        "the subscription delivers from {{1,3}} on"
    );
    assert_eq!(
        publisher.fetches.load(Ordering::SeqCst),
        0,
        "served from the cache"
    );
}

/// Draft-22's join: a Next Object SUBSCRIBE with FILL_PARAMETERS (a relative start of 1, the
/// current group) gets the current group's earlier objects on a fill fetch stream named by the
/// SUBSCRIBE's Request ID, served from the cache, and PUBLISH_DONE's Stream Count counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_22_fill_delivers_the_current_groups_earlier_objects() {
    use tern_moq::Version;
    use tern_moq::message::{ParameterValue, parameter_type};
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let (publisher, _first, mut g1) = group_in_progress(&url, "live/fill", 8).await;

    let late = Peer::connect_setup_as(
        &url,
        tern_quic::TransportLimits::default(),
        true,
        tern_moq::message::Setup::default(),
        Version::Draft22,
    )
    .await;
    let mut fill = Parameters::new();
    fill.set_subscription_filter(&SubscriptionFilter::RelativeStart { groups: 1 });
    let mut block = Vec::new();
    fill.encode_in(&mut block, Version::Draft22)
        .expect("encodes");
    let mut params = Parameters::new();
    params.set_subscription_filter(&SubscriptionFilter::LargestObject);
    params.set(
        parameter_type::FILL_PARAMETERS,
        ParameterValue::Bytes(block.into()),
    );
    let (sub_id, mut late_sub, ok) = late.subscribe_with("live/fill", "v", params).await;
    assert_eq!(
        ok.expect("SUBSCRIBE accepted").parameters.largest_object(),
        Some(loc(1, 2))
    );
    g1.object(3, payload(8, 1, 3, 600)).await.expect("object");
    g1.finish();
    let got = events(&late, Duration::from_millis(500)).await;
    let fetched: Vec<Location> = got
        .iter()
        .filter_map(|e| match e {
            DataEvent::Fetched {
                request,
                location,
                payload: p,
            } => {
                assert_eq!(*request, sub_id, "the fill names the SUBSCRIBE");
                assert_eq!(*p, payload(8, location.group, location.object, 600));
                Some(*location)
            }
            _ => None,
        })
        .collect();
    assert_eq!(fetched, vec![loc(1, 0), loc(1, 1), loc(1, 2)], "{got:?}");
    let live: Vec<Location> = got
        .iter()
        .filter_map(|e| match e {
            DataEvent::Object { group, object, .. } => Some(loc(*group, *object)),
            _ => None,
        })
        .collect();
    assert_eq!(
        live,
        vec![loc(1, 3)],
        "the subscription goes on from {{1,3}}"
    );

    // The publisher leaves; after the linger window the track ends: one subgroup stream and
    // the fill stream.
    publisher.peer.session.close(0, "done");
    match late_sub.next_within(Duration::from_secs(15)).await {
        Some(Message::PublishDone(done)) => assert_eq!(done.stream_count, 2, "{done:?}"),
        other => panic!("expected PUBLISH_DONE, got {other:?}"),
    }
}

/// A publisher of `namespace`/v through the relay at `url` and a first viewer from {0,0}: group
/// 0 complete, then group 1 in progress (objects 0..=2 written, its stream still open). The
/// payloads are `payload(seed, group, object, 600)`.
async fn group_in_progress(
    url: &str,
    namespace: &str,
    seed: u8,
) -> (Publisher, Peer, SubgroupWriter) {
    let publisher = Publisher::start(url, namespace).await;
    let first = Peer::connect(url).await;
    let filter = Some(SubscriptionFilter::AbsoluteStart(loc(0, 0)));
    let (_first_sub, _) = first.subscribe_ok(namespace, "v", filter).await;
    let alias = publisher.subscribed().await.alias;
    let g0: Vec<Bytes> = (0..3).map(|o| payload(seed, 0, o, 600)).collect();
    publisher.peer.write_group(alias, 0, &g0).await;
    first.objects(3, STEP).await;
    let mut g1 = publisher.peer.subgroup(alias, 1).await;
    for o in 0..3 {
        g1.object(o, payload(seed, 1, o, 600))
            .await
            .expect("object");
    }
    first.objects(3, STEP).await;
    (publisher, first, g1)
}
