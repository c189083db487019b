//! A viewer that churns requests on one long session (open a stream, SUBSCRIBE, read the
//! answer, close: channel surfing, or a script) does not grow a `tern relay` child process: the
//! relay's protocol session lets go of each request when its stream is done, and keeps the
//! peer's Request IDs in bounded memory.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use common::raw::{RawPeer, try_answer};
use common::{Relay, rss, tern};
use tern_moq::message::{Parameters, Subscribe};
use tern_moq::{Message, TrackNamespace};

const MIB: u64 = 1 << 20;
/// Requests after the warm-up, and how many are in flight at once.
const CHURN: u64 = 40_000;
const IN_FLIGHT: u64 = 50;

/// One SUBSCRIBE for a track nobody publishes, answered at once; the stream is closed after.
async fn churn_one(peer: &RawPeer, request_id: u64) -> bool {
    let (mut send, mut recv) = peer
        .request(Subscribe {
            request_id,
            track_namespace: TrackNamespace::from_path("live/nobody"),
            track_name: Bytes::from(format!("t{request_id}")),
            parameters: Parameters::new(),
        })
        .await;
    let answered = matches!(
        try_answer(&mut recv, Duration::from_secs(10)).await,
        Some(Message::RequestError(_))
    );
    let _ = send.finish();
    answered
}

/// Run `n` requests from `first`, `IN_FLIGHT` at a time; how many were answered.
async fn churn(peer: &Arc<RawPeer>, first: u64, n: u64) -> u64 {
    let mut answered = 0;
    let mut next = first;
    while next < first + n {
        let batch: Vec<_> = (next..(next + IN_FLIGHT).min(first + n))
            .map(|i| {
                let p = peer.clone();
                tokio::spawn(async move { churn_one(&p, 2 * i).await })
            })
            .collect();
        next += batch.len() as u64;
        for b in batch {
            answered += u64::from(b.await.expect("request task"));
        }
    }
    answered
}

#[test]
fn a_viewer_churning_40000_requests_on_one_session_does_not_grow_the_relay() {
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"]);
    let relay = Relay::start_cmd_with_stderr(cmd, &[], Stdio::null());
    let url = relay.moqt_url();
    let pid = relay.guard.child.id();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (baseline, after, answered) = rt.block_on(async {
        let peer = Arc::new(RawPeer::connect(&url, "churn-test").await);
        // Warm-up: the relay's allocator and maps reach their working size.
        assert_eq!(churn(&peer, 0, 5_000).await, 5_000);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let baseline = rss(pid);
        let answered = churn(&peer, 5_000, CHURN).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        (baseline, rss(pid), answered)
    });
    assert_eq!(answered, CHURN, "every SUBSCRIBE answered");
    let grown = after.saturating_sub(baseline);
    println!(
        "RSS {:.1} -> {:.1} MiB over {CHURN} requests",
        baseline as f64 / MIB as f64,
        after as f64 / MIB as f64
    );
    assert!(
        grown < 3 * MIB,
        "the relay grew {:.1} MiB over {CHURN} requests ({} bytes each; RSS {:.1} -> {:.1} MiB)",
        grown as f64 / MIB as f64,
        grown / CHURN,
        baseline as f64 / MIB as f64,
        after as f64 / MIB as f64
    );
}
