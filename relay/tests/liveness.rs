//! Liveness against a publisher that announces and then never answers: every subscriber of its
//! track gets an answer within the relay's upstream answer deadline, not a wait that lasts as
//! long as the publisher's session.

mod support;

use std::time::{Duration, Instant};

use tern_moq::message::codes::RequestErrorCode;

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
