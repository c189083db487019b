//! A subscriber that never reads, over the wire: the relay resets its stalled subgroups, skips it
//! to the newest group, and once it keeps having to skip, ends its subscription with
//! PUBLISH_DONE(TOO_FAR_BEHIND), counting each step in `/metrics` as it happens. A subscriber
//! that reads gets every object meanwhile, and the stalled one's session stays up.

mod support;

use std::sync::Arc;
use std::time::Duration;

use tern_moq::Message;
use tern_moq::message::codes::PublishDoneCode;
use tern_quic::TransportLimits;

use support::{
    Peer, Publisher, default_settings, metric, payload, scrape, start_relay, url, within,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_subscriber_is_skipped_then_ended_too_far_behind() {
    let (admin, _task) = tern_relay::admin::serve(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        tern_relay::admin::Readiness::new(),
    )
    .await
    .expect("admin port");
    let (router, mut settings) = default_settings();
    // Behind by more than one group for 300 ms: skip. A third skip within a minute: ended.
    settings.lag.max_lag_groups = 1;
    settings.lag.group_grace = Duration::from_millis(300);
    settings.lag.max_lag = Duration::from_millis(300);
    settings.lag.max_skips = 2;
    settings.lag.skip_window = Duration::from_secs(60);
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let publisher = Publisher::start(&url, "live/stall").await;

    // 1 KiB per stream: one object fills a subgroup stream, and nothing is ever read from it.
    // The connection window stays large so the request stream can still carry PUBLISH_DONE.
    let tiny = TransportLimits {
        stream_receive_window: 1024,
        ..TransportLimits::default()
    };
    let stalled = Peer::connect_with(&url, tiny, false).await;
    let (mut stalled_req, _) = stalled.subscribe_ok("live/stall", "v", None).await;
    let reader = Arc::new(Peer::connect(&url).await);
    let (_reader_req, _) = reader.subscribe_ok("live/stall", "v", None).await;
    let alias = publisher.subscribed().await.alias;

    // Groups of 5 objects of 1000 bytes, 10 groups a second, until the stalled subscription
    // ends (bounded: 8 s).
    const OBJECTS: u64 = 5;
    let collect = {
        let reader = reader.clone();
        tokio::spawn(async move { reader.drain_objects(Duration::from_secs(2)).await })
    };
    let mut done = None;
    let mut groups = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while done.is_none() && tokio::time::Instant::now() < deadline {
        let mut w = publisher.peer.subgroup(alias, groups).await;
        for o in 0..OBJECTS {
            w.object(o, payload(9, groups, o, 1000))
                .await
                .expect("publish");
        }
        w.finish();
        groups += 1;
        if let Some(m) = stalled_req.next_within(Duration::from_millis(100)).await {
            done = Some(m);
        }
    }
    let Some(Message::PublishDone(done)) = done else {
        panic!("no PUBLISH_DONE for the stalled subscriber after {groups} groups: {done:?}");
    };
    assert_eq!(
        done.status_code,
        PublishDoneCode::TOO_FAR_BEHIND,
        "{done:?}"
    );

    // Counted as they happened: at least the three skips that ended it, the resets of its
    // stalled streams, and one TOO_FAR_BEHIND.
    let text = scrape(admin).await;
    let count = |name| metric(&text, name).unwrap_or(0.0);
    assert_eq!(count("tern_too_far_behind_total"), 1.0, "{text}");
    assert!(count("tern_subscriber_skips_total") >= 3.0, "{text}");
    assert!(count("tern_subgroup_resets_total") >= 1.0, "{text}");

    // The reading subscriber got every object of every group, and the stalled viewer's
    // session is still up (only its subscription ended).
    let got = within(Duration::from_secs(10), "reader", collect)
        .await
        .expect("reader task");
    assert_eq!(
        got.len() as u64,
        groups * OBJECTS,
        "the reading subscriber lost nothing"
    );
    assert!(stalled.session.close_reason().is_none());
}
