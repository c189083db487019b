//! Open groups inside the cache budget, on a `tern relay` child process: a publisher that holds
//! a never-ending group open on each of many tracks (the newest group of a track, which no
//! eviction frees) is refused past its session's share of the cache, the relay's resident
//! memory stays within that share plus a constant, and another publisher's live track goes on
//! being cached and served meanwhile.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;

use common::raw::{RawPeer, answer, group};
use common::{Lines, Relay, admin_address, http_get, rss, sample, tern};
use tern_moq::message::{Parameters, Publish, TrackStatus};
use tern_moq::{Message, TrackNamespace};

const MIB: u64 = 1 << 20;
/// The relay's cache budget, and the per-group cap (the share of one session is then 8 MiB).
const CACHE: u64 = 32 * MIB;
const GROUP: u64 = 4 * MIB;
/// Tracks the hog publishes, each with one open group of [`GROUP`] bytes: 160 MiB in all.
const TRACKS: u64 = 40;

async fn publish(p: &RawPeer, request_id: u64, ns: &str, alias: u64) {
    let (send, mut recv) = p
        .request(Publish {
            request_id,
            track_namespace: TrackNamespace::from_path(ns),
            track_name: Bytes::from_static(b"video"),
            track_alias: alias,
            parameters: Parameters::new(),
            track_properties: Default::default(),
        })
        .await;
    let ok = answer(&mut recv).await;
    assert!(matches!(ok, Message::RequestOk(_)), "PUBLISH {ns}: {ok:?}");
    std::mem::forget((send, recv)); // the PUBLISH stays open with the session
}

#[test]
fn open_groups_are_refused_past_the_session_share_and_other_tracks_go_on() {
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_CACHE_MAX_BYTES", CACHE.to_string())
        .env("TERN_CACHE_MAX_GROUP_BYTES", GROUP.to_string());
    let mut relay = Relay::start_cmd_with_stderr(cmd, &[], Stdio::piped());
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let admin = admin_address(&mut log);
    let pid = relay.guard.child.id();
    let url = relay.moqt_url();

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (hog, honest, baseline) = rt.block_on(async {
        let honest = RawPeer::connect(&url, "cache-test-honest").await;
        publish(&honest, 0, "live/honest", 1).await;
        let hog = RawPeer::connect(&url, "cache-test-hog").await;
        for t in 0..TRACKS {
            publish(&hog, 2 * t, &format!("live/hog{t}"), t + 1).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let baseline = rss(pid);
        // Each track: one group of 40 objects of 100 KiB, held open.
        for t in 0..TRACKS {
            let session = hog.session.clone();
            tokio::spawn(async move {
                let objects = (0..40).map(|_| Bytes::from(vec![0x68; 100 * 1024]));
                group(&session, t + 1, 0, objects, true).await
            });
        }
        (hog, honest, baseline)
    });

    // The honest publisher goes on, one small group every 100 ms, until the hog's refusals
    // stop growing; every group of it is cached.
    let series = "tern_cache_budget_refusals_total";
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut last, mut g) = (-1.0, 0);
    let refused = loop {
        rt.block_on(async {
            for _ in 0..10 {
                let objects = (0..10).map(|_| Bytes::from(vec![0x6f; 10 * 1024]));
                group(&honest.session, 1, g, objects, false).await;
                g += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let now = sample(&http_get(&admin, "/metrics"), series).unwrap_or(0.0);
        if (now > 0.0 && now == last) || Instant::now() > deadline {
            break now;
        }
        last = now;
    };
    let grown = rss(pid).saturating_sub(baseline);
    let largest = rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_send, mut recv) = honest
            .request(TrackStatus {
                request_id: 2,
                track_namespace: TrackNamespace::from_path("live/honest"),
                track_name: Bytes::from_static(b"video"),
                parameters: Parameters::new(),
            })
            .await;
        match answer(&mut recv).await {
            Message::RequestOk(ok) => ok.parameters.largest_object(),
            other => panic!("TRACK_STATUS of the honest track: {other:?}"),
        }
    });
    eprintln!(
        "relay RSS grew {} MiB; {refused} objects refused; honest track at {largest:?} after {g} groups",
        grown / MIB
    );
    assert!(refused > 0.0, "no object of the hog was refused");
    assert_eq!(
        largest.map(|l| (l.group, l.object)),
        Some((g - 1, 9)),
        "the honest track's newest objects were not all cached"
    );
    // The hog's share (a quarter of the cache: 8 MiB) plus a small constant.
    assert!(
        grown < 8 * MIB + 40 * MIB,
        "relay RSS grew {} MiB for open groups held to an 8 MiB share",
        grown / MIB
    );
    drop((hog, honest));
}
