//! A publisher that declares a 2^40-byte object: the relay must refuse it from the object
//! header alone (never allocate or buffer toward it), close that session with
//! PROTOCOL_VIOLATION, and keep serving everyone else.
//!
//! How the allocation is measured. The relay runs on a runtime of its own whose threads are
//! tagged in the counting allocator, so what the relay allocates is counted apart from what the
//! test's clients allocate in the same process. Two windows are measured the same way, from
//! opening the publisher's subgroup stream until the relay has dropped that session and late
//! datagrams have landed:
//!
//! - a baseline: a well-formed 500-byte object on the same kind of stream, then the publisher
//!   leaves (the session and stream overhead: tasks, request state, teardown; ~16 KB);
//! - the offender: an object header declaring 2^40 bytes followed by 8 MiB of payload, until
//!   the relay closes the session.
//!
//! Whatever the relay does, its UDP endpoint copies every datagram it receives into a fresh
//! buffer (quinn's receive path), so every byte the offender manages to put on the wire before
//! the close reaches it is allocated once. That share is read from the offender's own
//! connection stats and set apart: it is why a looser process-wide measure grew by up to a few
//! hundred KB (and allowed 4 MiB), and it is capped by flow control, since the relay never
//! reads past the header and so never grants more than the stream's initial window. What is
//! left, the offender's window minus the baseline's, is what the relay allocated because of the
//! hostile object; it must stay under 1 MiB.

#[path = "support/counting.rs"]
mod counting;
mod support;

use std::time::Duration;

use bytes::Bytes;
use tern_moq::Location;
use tern_moq::message::codes::SessionError as Code;
use tern_quic::{SessionError, TransportLimits};

use support::*;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

const MIB: usize = 1024 * 1024;

/// A runtime for the relay alone, its threads tagged in the counting allocator.
fn relay_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("relay")
        .on_thread_start(counting::tag_thread)
        .enable_all()
        .build()
        .expect("relay runtime")
}

/// What one measured window cost.
#[derive(Debug)]
struct Cost {
    /// Bytes the relay's threads allocated.
    relay: usize,
    /// UDP bytes the publisher sent.
    wire: usize,
}

impl Cost {
    /// Relay allocations beyond the one copy of every received datagram.
    fn beyond_wire(&self) -> i64 {
        self.relay as i64 - self.wire as i64
    }
}

/// Start measuring `publisher`'s traffic and the relay's allocations.
fn start(publisher: &Peer) -> (counting::Snapshot, u64) {
    (counting::snapshot(), publisher.session.stats().udp_tx.bytes)
}

/// Wait until the relay has dropped the session (it held `sessions` with it) and late
/// datagrams have landed, then read the cost since `from`.
async fn finish(
    relay: &tern_relay::node::Node,
    sessions: usize,
    publisher: &Peer,
    from: (counting::Snapshot, u64),
) -> Cost {
    within(STEP, "the relay drops the session", async {
        while relay.hub.session_count() >= sessions {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    Cost {
        relay: counting::snapshot().tagged - from.0.tagged,
        wire: (publisher.session.stats().udp_tx.bytes - from.1) as usize,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_object_closes_only_that_session() {
    let rt = relay_runtime();
    let (router, settings) = default_settings();
    let relay = {
        let _relay_runtime = rt.enter();
        start_relay(router, settings)
    };
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

    // The baseline: a well-formed small object on the same kind of stream, then the publisher
    // leaves.
    let small = Publisher::start(&url, "live/small").await;
    let small_viewer = Peer::connect(&url).await;
    let (_ssub, _) = small_viewer.subscribe_ok("live/small", "t", None).await;
    let small_alias = small.subscribed().await.alias;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sessions = relay.hub.session_count();
    let from = start(&small.peer);
    let mut w = small.peer.subgroup(small_alias, 0).await;
    w.object(0, payload(5, 0, 0, 500)).await.expect("object");
    w.finish();
    small_viewer.objects(1, STEP).await;
    small.peer.session.close(0, "done");
    let baseline = finish(&relay, sessions, &small.peer, from).await;

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
    let sessions = relay.hub.session_count();
    let before = counting::snapshot();
    counting::reset_peaks();
    let from = start(&bad.peer);

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
    let hostile = finish(&relay, sessions, &bad.peer, from).await;

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
    // The relay never read past the header, so the offender got no more credit than the
    // stream's initial window (on the wire: plus packet framing and any retransmissions): a
    // relay that read on would have taken all 8 MiB.
    let window = TransportLimits::default().stream_receive_window as usize;
    assert!(
        hostile.wire < 2 * window,
        "the offender sent {} bytes; the stream window is {window}",
        hostile.wire
    );
    let attributable = hostile.beyond_wire() - baseline.beyond_wire();
    assert!(
        attributable < MIB as i64,
        "the relay allocated {attributable} bytes for the hostile object \
         (offender {hostile:?}, well-formed baseline {baseline:?})"
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
    drop(relay);
    rt.shutdown_background();
}
