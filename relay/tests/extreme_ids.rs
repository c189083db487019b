//! IDs near the varint maximum from peers never panic the relay, in a debug build (where an
//! arithmetic overflow panics): a seeded random sequence of PUBLISHed objects, SUBSCRIBE
//! filters, and standalone and Joining FETCHes whose group and object IDs, range ends and
//! offsets are drawn from the extremes (0, 1, 2^32, 2^62 - 3 .. 2^62 - 1) and from anywhere.
//! Every panic in the process is counted; the relay must still answer afterwards.

#[path = "support/splitmix.rs"]
mod splitmix;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tern_moq::Location;
use tern_moq::message::{Parameters, SubscriptionFilter};

use support::{Peer, STEP, default_settings, start_relay, url, within};

/// The largest value a QUIC varint carries.
const MAX: u64 = (1 << 62) - 1;
const ROUNDS: usize = 60;

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// A seeded, reproducible stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        splitmix::next(&mut self.0)
    }

    /// An ID: an extreme one three times in four, else anything up to [`MAX`].
    fn id(&mut self) -> u64 {
        const EXTREMES: [u64; 7] = [0, 1, 1 << 32, MAX - 2, MAX - 1, MAX, MAX / 2];
        match self.next() % 4 {
            3 => self.next() & MAX,
            _ => EXTREMES[(self.next() % EXTREMES.len() as u64) as usize],
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_near_the_varint_maximum_never_panic_the_relay() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
    let seed = std::env::var("TERN_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x07e5_71d5);
    eprintln!("seed {seed} (TERN_TEST_SEED replays it)");
    let mut rng = Rng(seed);

    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let publisher = Peer::connect(&url(&relay)).await;
    let _published = publisher.publish_track("live/extreme", "video", 1).await;
    let viewer = Peer::connect(&url(&relay)).await;
    let mut held = Vec::new();
    // The very last location first: a track whose Largest Object is (MAX, MAX).
    let mut w = publisher.subgroup(1, MAX).await;
    let _ = w.object(MAX, Bytes::from_static(b"last")).await;
    w.finish();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for filter in [
        SubscriptionFilter::LargestObject,
        SubscriptionFilter::NextGroupStart,
    ] {
        let mut parameters = Parameters::new();
        parameters.set_subscription_filter(&filter);
        let (_, sub, _) = within(
            STEP,
            "SUBSCRIBE at the last location answered",
            viewer.subscribe_with("live/extreme", "video", parameters),
        )
        .await;
        held.push(sub);
    }
    for _ in 0..ROUNDS {
        // Objects: a group of one or two objects at extreme IDs.
        let group = rng.id();
        let mut w = publisher.subgroup(1, group).await;
        let first = rng.id();
        let _ = w.object(first, Bytes::from_static(b"x")).await;
        if first < MAX {
            let second = first + 1 + rng.next() % (MAX - first);
            let _ = w.object(second, Bytes::from_static(b"y")).await;
        }
        w.finish();

        // A SUBSCRIBE with an extreme filter, and a FETCH of an extreme range.
        let filter = match rng.next() % 4 {
            0 => SubscriptionFilter::LargestObject,
            1 => SubscriptionFilter::NextGroupStart,
            2 => SubscriptionFilter::AbsoluteStart(Location::new(rng.id(), rng.id())),
            _ => SubscriptionFilter::AbsoluteRange {
                start: Location::new(rng.id(), rng.id()),
                end_group_delta: rng.id(),
            },
        };
        let mut parameters = Parameters::new();
        parameters.set_subscription_filter(&filter);
        let (id, sub, answer) = within(
            STEP,
            "SUBSCRIBE answered",
            viewer.subscribe_with("live/extreme", "video", parameters),
        )
        .await;
        if answer.is_ok() {
            let (_, joining) = within(
                STEP,
                "Joining FETCH sent",
                viewer.joining_fetch(id, rng.next().is_multiple_of(2), rng.id()),
            )
            .await;
            held.push(joining);
        }
        held.push(sub);
        let (_, mut fetch) = viewer
            .fetch(
                "live/extreme",
                "video",
                Location::new(rng.id(), rng.id()),
                Location::new(rng.id(), rng.id()),
            )
            .await;
        // Not asserted: a range outside the cache goes to the publisher, which never answers.
        let _ = fetch.next_within(Duration::from_millis(100)).await;
        held.push(fetch);
    }
    // Let everything in flight land.
    let _ = viewer.drain_objects(Duration::from_millis(500)).await;
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "the relay panicked");

    // And it still serves: a new viewer of the track is answered.
    let late = Peer::connect(&url(&relay)).await;
    let (_, _sub, answer) = within(
        STEP,
        "a late SUBSCRIBE answered",
        late.subscribe_with("live/extreme", "video", Parameters::new()),
    )
    .await;
    answer.expect("the track is still served");
}
