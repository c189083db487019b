//! Trust on a relay with its default settings, over the wire: what an anonymous peer may not
//! do whatever it sends.

mod support;

use bytes::Bytes;
use tern_moq::message::codes::RequestErrorCode;
use tern_moq::message::{Parameters, Publish, PublishNamespace};
use tern_moq::{Message, TrackNamespace};

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_of_no_fields_is_refused_and_catches_nothing() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);
    let attacker = Peer::connect(&url).await;

    // PUBLISH_NAMESPACE of the empty tuple: it would be the prefix of every namespace.
    let mut announce = attacker
        .request(PublishNamespace {
            request_id: attacker.request_id(),
            track_namespace: TrackNamespace::new(Vec::new()),
            parameters: Parameters::new(),
        })
        .await;
    match announce.next_within(STEP).await {
        Some(Message::RequestError(e)) => {
            assert_eq!(e.error_code, RequestErrorCode::NOT_SUPPORTED);
            let reason = e.error_reason.to_string_lossy();
            assert!(reason.contains("at least one field"), "{reason}");
        }
        other => panic!("an empty namespace announced: {other:?}"),
    }
    // PUBLISH of a track in the empty namespace.
    let mut publish = attacker
        .request(Publish {
            request_id: attacker.request_id(),
            track_namespace: TrackNamespace::new(Vec::new()),
            track_name: Bytes::from_static(b"video"),
            track_alias: 1,
            parameters: Parameters::new(),
            track_properties: Default::default(),
        })
        .await;
    match publish.next_within(STEP).await {
        Some(Message::RequestError(e)) => {
            assert_eq!(e.error_code, RequestErrorCode::NOT_SUPPORTED)
        }
        other => panic!("a track in the empty namespace published: {other:?}"),
    }

    // A viewer of a broadcast nobody publishes is told so; the attacker never hears of it.
    let viewer = Peer::connect(&url).await;
    let (_req, answer) = viewer.subscribe("live/nobody", "video", None).await;
    assert_eq!(
        answer.expect_err("nobody publishes live/nobody").error_code,
        RequestErrorCode::DOES_NOT_EXIST
    );
    // The attacker's session is still up (refused, not closed), and was sent no SUBSCRIBE.
    let incoming = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        attacker.session.accept_bi(),
    )
    .await;
    assert!(incoming.is_err(), "the attacker was sent a request");
}
