//! The events of a broadcast with a thousand chatting viewers, on a relay in this process over
//! real loopback QUIC: the origin's sequencer listens to every one of them (spreading its
//! subscriptions over as many sessions as the relay's per-session cap needs) and puts every
//! viewer's event in the one order. Every wait is bounded; only 127.0.0.1 and port 0 are used.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tern_moq::TrackNamespace;
use tern_moq::message::SubscriptionFilter;
use tern_origin::events::{self, EVENTS_PRIORITY, EVENTS_TRACK, Record, Sequencing, ViewerEvent};
use tern_peer::{ConnectOptions, Session, TrackWriter};

const VIEWERS: usize = 1000;
const VIEWERS_PER_CLIENT: usize = 100;

fn opts() -> ConnectOptions {
    ConnectOptions {
        disable_verify: true,
        ..ConnectOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_with_1000_chatting_viewers_sequences_every_one() {
    let mut config = tern_relay::config::Config::default();
    config.relay.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    config.admin.enabled = false;
    // This test is about the origin sequencing every viewer's event, not about the relay's
    // slow-subscriber policy: with the default (2 groups of lag), a watcher slowed by a busy
    // machine loses a whole group of 64 events to it (seen in CI: 936 of 1000).
    config.subscriber.max_lag_groups = 1000;
    let (relay, _ready) = tern_relay::run::start(&config).await.expect("relay starts");
    let url = format!("moqt://127.0.0.1:{}", relay.addr.port());
    let broadcast = TrackNamespace::from_path("live/chatty");

    let origin = Session::connect(&url, &opts()).await.expect("origin");
    let sequencing = Sequencing::new(&origin, broadcast.clone(), events::Config::default(), None)
        .with_extra_sessions(url.clone(), opts());
    let _run = tokio::spawn(async move { sequencing.run().await });
    // As `tern origin` does: the broadcast's namespace, so that its events track is found.
    let _broadcast = origin
        .publish_namespace(broadcast.clone())
        .await
        .expect("broadcast announced");

    let watcher = Session::connect(&url, &opts()).await.expect("watcher");
    let mut ordered = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match watcher
                .subscribe(
                    broadcast.clone(),
                    EVENTS_TRACK,
                    Some(SubscriptionFilter::LargestObject),
                )
                .await
            {
                Ok(sub) => break sub,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await
    .expect("the origin's events track");

    // A thousand viewers, a hundred per client session, each on its own namespace and track.
    let mut clients = Vec::new();
    let mut tracks = Vec::new();
    for c in 0..VIEWERS / VIEWERS_PER_CLIENT {
        let session = Session::connect(&url, &opts())
            .await
            .expect("viewer session");
        let mut announcements = Vec::new();
        for v in 0..VIEWERS_PER_CLIENT {
            let id = format!("v{}", c * VIEWERS_PER_CLIENT + v);
            let own = events::viewer_namespace(&broadcast, &id);
            let track = TrackWriter::new(own.clone(), EVENTS_TRACK);
            track.set_priority(EVENTS_PRIORITY);
            session.serve_track(&track);
            announcements.push(session.publish_namespace(own).await.expect("announced"));
            tracks.push((id, track));
        }
        clients.push((session, announcements));
    }

    // The sequencer subscribes to every one of them.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listened = tracks.iter().filter(|(_, t)| t.subscribers() > 0).count();
        if listened == VIEWERS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the origin listens to {listened} of {VIEWERS} viewers"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // One event each; every one comes out on the ordered track, once.
    for (id, track) in &tracks {
        track.new_group(1).expect("group");
        let event = ViewerEvent {
            kind: Some("chat".into()),
            body: format!("hello from {id}"),
            sent_at: None,
        };
        track.write_object(event.encode()).expect("event");
    }
    let mut seen = HashSet::new();
    let mut last_seq = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < VIEWERS {
        let left = deadline.saturating_duration_since(Instant::now());
        let object = tokio::time::timeout(left, ordered.next())
            .await
            .unwrap_or_else(|_| panic!("{} of {VIEWERS} viewers' events sequenced", seen.len()))
            .expect("ordered track")
            .expect("not ended");
        let record = Record::parse(&object.payload).expect("a record");
        assert_eq!(record.body, format!("hello from {}", record.viewer));
        assert!(
            last_seq.is_none_or(|s| record.seq > s),
            "one increasing order"
        );
        last_seq = Some(record.seq);
        assert!(
            seen.insert(record.viewer.clone()),
            "{} twice",
            record.viewer
        );
    }
    assert!(!origin.is_closed(), "the origin's session stays up");
}
