//! A publisher that declares a 2^40-byte object: the relay must refuse it from the object
//! header alone (never allocate or buffer toward it), close that session with
//! PROTOCOL_VIOLATION, and keep serving everyone else.

#[path = "support/counting.rs"]
mod counting;
mod support;

use std::time::Duration;

use bytes::Bytes;
use tern_moq::Location;
use tern_moq::message::codes::SessionError as Code;
use tern_quic::SessionError;

use support::*;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_object_closes_only_that_session() {
    let (router, settings) = default_settings();
    let relay = start_relay(router, settings);
    let url = url(&relay);

    // An unrelated pair that must keep working.
    let good = Publisher::start(&url, "live/good").await;
    let viewer = Peer::connect(&url).await;
    let (_vsub, _) = viewer.subscribe_ok("live/good", "t", None).await;
    let good_alias = good.subscribed().await.alias;
    let first = [payload(4, 0, 0, 500)];
    good.peer.write_group(good_alias, 0, &first).await;
    assert_eq!(
        viewer.objects(1, STEP).await,
        vec![(Location::new(0, 0), first[0].clone())]
    );

    // The offender: a real subscription (so the relay reads its stream), then an object header
    // declaring 2^40 bytes followed by 8 MiB of payload. A relay that trusted the declared
    // length would buffer those 8 MiB (or try to reserve 1 TiB); one that checks the header
    // closes the session before reading on.
    let bad = Publisher::start(&url, "live/bad").await;
    let bad_viewer = Peer::connect(&url).await;
    let (_bsub, _) = bad_viewer.subscribe_ok("live/bad", "t", None).await;
    let bad_alias = bad.subscribed().await.alias;
    let junk = Bytes::from(vec![0x5a; 8 * MIB]);

    // Let the connections settle, then measure from here.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = counting::snapshot();
    counting::reset_peaks();

    let mut w = bad.peer.subgroup(bad_alias, 0).await;
    let _ = w.declare(0, 1u64 << 40).await;
    let writer = tokio::spawn(async move {
        for chunk in 0..(junk.len() / (64 * 1024)) {
            let c = junk.slice(chunk * 64 * 1024..(chunk + 1) * 64 * 1024);
            if w.send.write_chunk(c).await.is_err() {
                break;
            }
        }
    });
    let err = bad.peer.closed(STEP).await;
    match &err {
        SessionError::Closed { code, .. } => assert_eq!(
            u64::from(*code),
            Code::PROTOCOL_VIOLATION.0,
            "closed with {err:?}"
        ),
        other => panic!("expected a PROTOCOL_VIOLATION close, got {other:?}"),
    }
    let _ = within(STEP, "offender's writer stops", writer).await;

    let peak_growth = counting::peak().saturating_sub(before.live);
    let largest = counting::largest();
    // Transport buffers (a 1 MiB stream window, packet buffers) are all the relay may hold for
    // that stream; buffering the declared payload would show as ≥ 8 MiB.
    assert!(
        largest < MIB,
        "largest single allocation while refusing the object: {largest} bytes"
    );
    assert!(
        peak_growth < 4 * MIB,
        "live heap grew by {peak_growth} bytes while refusing the object"
    );

    // Everyone else is untouched.
    assert!(viewer.session.close_reason().is_none());
    assert!(good.peer.session.close_reason().is_none());
    for g in 1..4u64 {
        let objs = [payload(4, g, 0, 500), payload(4, g, 1, 500)];
        good.peer.write_group(good_alias, g, &objs).await;
        assert_eq!(
            viewer.objects(2, STEP).await,
            vec![
                (Location::new(g, 0), objs[0].clone()),
                (Location::new(g, 1), objs[1].clone())
            ],
            "the unrelated viewer keeps receiving (group {g})"
        );
    }
    // The offender's viewer loses its publisher, not its session.
    assert!(bad_viewer.session.close_reason().is_none());
}
