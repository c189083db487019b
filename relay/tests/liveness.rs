//! Liveness against a publisher that announces and then never answers: every subscriber of its
//! track gets an answer within the relay's upstream answer deadline, not a wait that lasts as
//! long as the publisher's session.

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
    let opts = tern_client::ConnectOptions {
        disable_verify: true,
        ..tern_client::ConnectOptions::default()
    };
    let mut viewers = Vec::new();
    for _ in 0..20 {
        viewers.push(
            tern_client::Session::connect(&url, &opts)
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
