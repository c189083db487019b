//! Liveness against a publisher that announces and then never answers: every subscriber of its
//! track gets an answer within the relay's upstream answer deadline, not a wait that lasts as
//! long as the publisher's session. A track whose old publisher ended it is served again when
//! a new publisher takes it over.

mod support;

use std::time::{Duration, Instant};

use tern_moq::message::codes::RequestErrorCode;

use tern_quic::TransportLimits;

use support::{Peer, default_settings, start_relay, url, within};

const DEADLINE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_of_a_publisher_that_never_answers_are_refused_within_the_deadline() {
    let (router, mut settings) = default_settings();
    settings.upstream_answer_timeout = DEADLINE;
    let relay = start_relay(router, settings);
    // Announces, then never accepts the relay's SUBSCRIBE stream.
    let squatter = Peer::connect(&url(&relay)).await;
    let _announced = squatter.publish_namespace("live/squat").await;

    let first = Peer::connect(&url(&relay)).await;
    let second = Peer::connect(&url(&relay)).await;
    let started = Instant::now();
    let (a, b) = within(DEADLINE * 10, "both subscribers get an answer", async {
        tokio::join!(first.subscribe("live/squat", "video", None), async {
            tokio::time::sleep(DEADLINE / 4).await;
            second.subscribe("live/squat", "video", None).await
        })
    })
    .await;
    for (who, (_, answer)) in [("first", a), ("second", b)] {
        let e = answer.expect_err("no publisher answered");
        assert_eq!(e.error_code, RequestErrorCode::TIMEOUT, "{who}: {e:?}");
    }
    assert!(started.elapsed() >= DEADLINE, "refused before the deadline");

    // The relay holds no stranded track: a later subscriber is asked about afresh, and is
    // answered within the deadline again.
    let third = Peer::connect(&url(&relay)).await;
    let (_, answer) = within(
        DEADLINE * 10,
        "a later subscriber gets an answer",
        third.subscribe("live/squat", "video", None),
    )
    .await;
    assert!(answer.is_err(), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_reaches_every_session_though_some_peers_never_read_it() {
    let (router, settings) = default_settings();
    let node = start_relay(router, settings);
    let url = url(&node);
    // Peers that read nothing the relay sends and grant 1 KiB of credit per stream: the
    // relay's SETUP fits, its 8 KB GOAWAY never will.
    let stingy = TransportLimits {
        stream_receive_window: 1024,
        ..TransportLimits::default()
    };
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(Peer::connect_with(&url, stingy.clone(), false).await);
    }
    let opts = tern_peer::ConnectOptions {
        disable_verify: true,
        ..tern_peer::ConnectOptions::default()
    };
    let mut viewers = Vec::new();
    for _ in 0..20 {
        viewers.push(
            tern_peer::Session::connect(&url, &opts)
                .await
                .expect("viewer"),
        );
    }
    let next = format!("moqt://next.example:4443/{}", "x".repeat(8000));
    let heard = async {
        within(
            Duration::from_secs(3),
            "every well-behaved viewer hears GOAWAY",
            async {
                while viewers.iter().any(|v| !v.going_away()) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        )
        .await;
        drop(viewers);
    };
    tokio::join!(node.shutdown(&next, Duration::from_secs(5)), heard);
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_publisher_takes_over_a_track_its_old_publisher_ended() {
    use bytes::Bytes;
    use tern_moq::data::ObjectStatus;

    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let payloads = |g: u8| {
        (0..4u8)
            .map(|o| Bytes::from(vec![g ^ o; 100]))
            .collect::<Vec<_>>()
    };
    let old = Peer::connect(&url(&relay)).await;
    let _old_publish = old.publish_track("live/ending", "video", 1).await;
    let viewer = Peer::connect(&url(&relay)).await;
    let _sub = viewer.subscribe_ok("live/ending", "video", None).await;
    old.write_group(1, 0, &payloads(0)).await;
    viewer.objects(4, support::STEP).await;
    // The old publisher ends the track (END_OF_TRACK at 1.0), and stays connected.
    let mut end = old.subgroup(1, 1).await;
    end.status(0, ObjectStatus::EndOfTrack)
        .await
        .expect("end of track written");
    end.finish();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A viewer joins the ended track, which the relay still holds (its publisher is there).
    let later = Peer::connect(&url(&relay)).await;
    let _later_sub = later
        .subscribe_ok(
            "live/ending",
            "video",
            Some(tern_moq::message::SubscriptionFilter::NextGroupStart),
        )
        .await;
    // A new publisher of the track (a restarted encoder) takes it over and goes on.
    let new = Peer::connect(&url(&relay)).await;
    let _new_publish = new.publish_track("live/ending", "video", 1).await;
    for g in 2..5u8 {
        new.write_group(1, u64::from(g), &payloads(g)).await;
    }
    let got = later.objects(12, support::STEP).await;
    // One stream per group: they may arrive in any order.
    let mut groups: Vec<u64> = got.iter().map(|(l, _)| l.group).collect();
    groups.sort_unstable();
    assert_eq!(
        groups,
        [2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4],
        "what a viewer of the taken-over track got"
    );
}
