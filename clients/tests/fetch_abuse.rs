//! FETCH and TRACK_STATUS against a `tern relay` child process, from a viewer that never reads
//! what it asked for: such requests count against the session's request limit, a stalled one
//! gives its place back after the relay's stall limit, and stalled FETCHes pin no snapshot of
//! the cache (the relay's resident memory stays within its cache budget plus a constant while
//! the cache turns over ten times under hundreds of them).

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use common::raw::{RawPeer, answer, group, try_answer};
use common::{Relay, rss, tern};
use tern_moq::message::codes::RequestErrorCode;
use tern_moq::message::{Fetch, FetchType, Parameters, Publish, TrackStatus};
use tern_moq::{Location, Message, TrackNamespace};
use tern_quic::TransportLimits;

const MIB: u64 = 1 << 20;
/// The relay's cache budget in these tests.
const CACHE: u64 = 32 * MIB;
/// Each group: this many objects of [`OBJECT`] bytes.
const OBJECTS: usize = 10;
const OBJECT: usize = 100 * 1024;

fn relay(extra_env: &[(&str, String)]) -> Relay {
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_CACHE_MAX_BYTES", CACHE.to_string())
        .env("TERN_CACHE_MAX_GROUP_BYTES", (4 * MIB).to_string());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    Relay::start_cmd_with_stderr(cmd, &[], Stdio::null())
}

fn namespace() -> TrackNamespace {
    TrackNamespace::from_path("live/fetched")
}

/// A publisher of `live/fetched` `video` (alias 1), PUBLISH accepted.
async fn publisher(url: &str) -> RawPeer {
    let p = RawPeer::connect(url, "fetch-test-publisher").await;
    let (_send, mut recv) = p
        .request(Publish {
            request_id: 0,
            track_namespace: namespace(),
            track_name: Bytes::from_static(b"video"),
            track_alias: 1,
            parameters: Parameters::new(),
            track_properties: Default::default(),
        })
        .await;
    let ok = answer(&mut recv).await;
    assert!(matches!(ok, Message::RequestOk(_)), "{ok:?}");
    std::mem::forget(_send); // the PUBLISH stays open with the session
    p
}

fn payloads() -> Vec<Bytes> {
    (0..OBJECTS)
        .map(|_| Bytes::from(vec![0x42; OBJECT]))
        .collect()
}

/// A viewer that reads nothing the relay sends it but request answers: 64 KiB of credit per
/// stream, so a FETCH of a few hundred KiB stalls.
async fn stalling_viewer(url: &str) -> RawPeer {
    let transport = TransportLimits {
        stream_receive_window: 64 * 1024,
        ..TransportLimits::default()
    };
    RawPeer::connect_with(url, "fetch-test-staller", transport).await
}

fn fetch(request_id: u64, from: u64, to: u64) -> Fetch {
    Fetch {
        request_id,
        fetch_type: FetchType::Standalone {
            track_namespace: namespace(),
            track_name: Bytes::from_static(b"video"),
            start_location: Location::new(from, 0),
            end_location: Location::new(to, 0), // the whole of group `to`
        },
        parameters: Parameters::new(),
    }
}

fn track_status(request_id: u64) -> TrackStatus {
    TrackStatus {
        request_id,
        track_namespace: namespace(),
        track_name: Bytes::from_static(b"video"),
        parameters: Parameters::new(),
    }
}

fn refused_for_load(m: &Message) -> bool {
    matches!(m, Message::RequestError(e) if e.error_code == RequestErrorCode::EXCESSIVE_LOAD)
}

#[test]
fn fetch_and_track_status_count_as_requests_and_a_stalled_one_gives_its_place_back() {
    // Under the FETCHes the relay serves a session at once (8): every one gets its stream.
    const LIMIT: u64 = 6;
    let relay = relay(&[("TERN_LIMITS_MAX_REQUESTS_PER_SESSION", LIMIT.to_string())]);
    let url = relay.moqt_url();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let p = publisher(&url).await;
        for g in 0..12 {
            group(&p.session, 1, g, payloads(), false).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let viewer = stalling_viewer(&url).await;
        // LIMIT FETCHes of 10 groups each, never read: every one stalls on its data stream.
        let mut held = Vec::new();
        for i in 0..LIMIT {
            let (send, mut recv) = viewer.request(fetch(2 * i, 0, 9)).await;
            let m = answer(&mut recv).await;
            assert!(matches!(m, Message::FetchOk(_)), "FETCH {i}: {m:?}");
            held.push((send, recv));
        }
        // The session is at its limit: one more FETCH, or a TRACK_STATUS, is refused.
        let (_s1, mut r1) = viewer.request(fetch(2 * LIMIT, 0, 9)).await;
        let m = answer(&mut r1).await;
        assert!(refused_for_load(&m), "a FETCH past the limit: {m:?}");
        let (_s2, mut r2) = viewer.request(track_status(2 * LIMIT + 2)).await;
        let m = answer(&mut r2).await;
        assert!(refused_for_load(&m), "a TRACK_STATUS past the limit: {m:?}");
        // A stalled FETCH holds its place only until the relay's stall limit (10 s).
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut id = 2 * LIMIT + 4;
        loop {
            let (_s, mut r) = viewer.request(track_status(id)).await;
            id += 2;
            let m = answer(&mut r).await;
            if matches!(m, Message::RequestOk(_)) {
                break;
            }
            assert!(refused_for_load(&m), "{m:?}");
            assert!(
                Instant::now() < deadline,
                "stalled FETCHes still hold the session's requests after 30 s"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        drop((held, p));
    });
}

#[test]
fn stalled_fetches_pin_no_snapshot_while_the_cache_turns_over() {
    // 320 groups of 1 MiB through a 32 MiB cache: it turns over ten times.
    const GROUPS: u64 = 320;
    let relay = relay(&[]);
    let url = relay.moqt_url();
    let pid = relay.guard.child.id();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (baseline, peak, fetched) = rt.block_on(async {
        let p = publisher(&url).await;
        let viewer = Arc::new(stalling_viewer(&url).await);
        let answered = Arc::new(AtomicU64::new(0));
        let mut baseline = 0;
        let mut peak = 0;
        let mut held = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        for g in 0..GROUPS {
            // 20 MiB/s: the relay takes every group as it comes.
            tick.tick().await;
            group(&p.session, 1, g, payloads(), false).await;
            if g == 40 {
                // The cache is full by now.
                tokio::time::sleep(Duration::from_millis(1000)).await;
                baseline = rss(pid);
            }
            if g >= 16 && std::env::var_os("NO_FETCH").is_none() {
                // The ten groups before the last few, which the cache holds whole.
                let (v, n) = (viewer.clone(), answered.clone());
                held.push(tokio::spawn(async move {
                    let (send, mut recv) = v.request(fetch(2 * g, g - 14, g - 5)).await;
                    let m = try_answer(&mut recv, Duration::from_secs(30)).await;
                    if matches!(m, Some(Message::FetchOk(_))) {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    (send, recv)
                }));
            }
            if g > 40 {
                peak = peak.max(rss(pid));
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        peak = peak.max(rss(pid));
        let fetched = answered.load(Ordering::Relaxed);
        drop((held, p, viewer));
        (baseline, peak, fetched)
    });
    let grown = peak.saturating_sub(baseline);
    eprintln!(
        "relay RSS grew {} MiB past the full cache; {fetched} stalled FETCHes answered",
        grown / MIB
    );
    assert!(fetched >= 8, "only {fetched} FETCHes were served");
    assert!(
        grown < 48 * MIB,
        "relay RSS grew {} MiB past a full {} MiB cache while stalled FETCHes were open",
        grown / MIB,
        CACHE / MIB
    );
}
