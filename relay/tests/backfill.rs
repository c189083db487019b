//! A publisher that returns within the linger window is subscribed again with the gap to
//! backfill (FETCH from where the cache stopped to the new publisher's Largest Object). Its
//! live objects never wait on that backfill: however long it takes (up to its deadline), data
//! for the new subscription is held, unread, and lands once the gap is done or given up, instead
//! of being refused because its alias was not known yet.

mod support;

use std::time::Duration;

use bytes::Bytes;
use tern_moq::Location;
use tern_moq::message::{Parameters, SubscribeOk};

use support::{Peer, Publisher, Request, STEP, default_settings, start_relay, url, write};

const NAMESPACE: &str = "live/back";

fn payloads(group: u64) -> Vec<Bytes> {
    (0..3)
        .map(|o| Bytes::from(format!("{group}/{o}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_objects_of_a_returning_publisher_never_wait_out_the_backfill() {
    let relay = start_relay(default_settings().0, default_settings().1);
    let first = Publisher::start(&url(&relay), NAMESPACE).await;
    let viewer = Peer::connect(&url(&relay)).await;
    let _watching = viewer.subscribe_ok(NAMESPACE, "video", None).await;
    let upstream = first.subscribed().await;
    first
        .peer
        .write_group(upstream.alias, 10, &payloads(10))
        .await;
    assert_eq!(viewer.objects(3, STEP).await.len(), 3);

    // The publisher drops; it comes back (a new session) within the linger window, two groups
    // further on.
    first.peer.session.close(0, "restarting");
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let back = Peer::connect(&url(&relay)).await;
    let _announced = back.publish_namespace(NAMESPACE).await;
    let (send, recv) = within_step(back.session.accept_bi()).await;
    let mut subscribe = Request::new(send, recv);
    assert!(matches!(
        subscribe.next().await,
        Some(tern_moq::Message::Subscribe(_))
    ));
    // Its live group goes out at once; its SUBSCRIBE_OK, saying where it is, lands 800 ms
    // later (streams and the control message travel apart).
    let alias = 7;
    back.write_group(alias, 12, &payloads(12)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut parameters = Parameters::new();
    parameters.set_largest_object(Location::new(12, 2));
    write(
        &mut subscribe.send,
        SubscribeOk {
            track_alias: alias,
            parameters,
            track_properties: Default::default(),
        },
    )
    .await
    .expect("SUBSCRIBE_OK");
    // The relay asks for the gap (group 11) and gets no answer: its backfill waits to its
    // deadline and gives up.
    let (send, recv) = within_step(back.session.accept_bi()).await;
    let mut fetch = Request::new(send, recv);
    assert!(matches!(
        fetch.next().await,
        Some(tern_moq::Message::Fetch(_))
    ));

    let got = viewer.objects(3, Duration::from_secs(5)).await;
    let locations: Vec<Location> = got.iter().map(|o| o.0).collect();
    assert_eq!(
        locations,
        (0..3).map(|o| Location::new(12, o)).collect::<Vec<_>>(),
        "the returning publisher's live group reaches the viewer"
    );
    drop(fetch);
}

async fn within_step<T, E: std::fmt::Debug>(f: impl Future<Output = Result<T, E>>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .expect("within STEP")
        .expect("accepted")
}
