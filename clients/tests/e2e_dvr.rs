//! DVR through a relay: `tern origin` keeps a short window of groups (`--dvr 6s`), a `tern relay`
//! in front of it caches only 2 s. After 10 s, a FETCH through the relay for groups the relay has
//! evicted but the origin still holds returns exactly the objects a live subscriber got; a range
//! the origin has evicted too is refused with INVALID_RANGE naming the origin's window; a range
//! that starts before the window begins with an unknown range.
//!
//! The origin's window is 6 s rather than minutes so that, within a 10 s test, both the relay and
//! the origin have evicted something. Every wait is bounded; children are killed on drop; only
//! 127.0.0.1 and port 0 are used.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_moq::message::codes::RequestErrorCode;
use tern_moq::{Location, TrackNamespace};
use tern_peer::{ConnectOptions, Error, FetchEntry, Session};

use common::{ChildGuard, Lines, Relay, TempDir, tern};

const NAMESPACE: &str = "e2e/dvr";
const TRACK: &str = "video-240p";
/// Frames per second and per group (a GOP of half a second: group IDs step by 500 ms).
const FPS: u64 = 30;
const GOP: u64 = 15;
/// When the FETCHes are sent, after the origin started.
const FETCH_AT: Duration = Duration::from_secs(10);

/// 4 s of 320x240 test pattern (keyframe every GOP frames, no B-frames) and a tone, fragmented
/// MP4 with a fragment per frame; the origin loops it.
fn make_input(dir: &Path) -> PathBuf {
    let path = dir.join("input.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=320x240:rate={FPS}:duration=4"))
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=4",
        ])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-bf", "0"])
        .args(["-g", &GOP.to_string(), "-keyint_min", &GOP.to_string()])
        .args(["-sc_threshold", "0", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "64k"])
        .args([
            "-f",
            "mp4",
            "-movflags",
            "cmaf+frag_every_frame+empty_moov+default_base_moof",
        ])
        .arg(&path)
        .status()
        .expect("run ffmpeg (apt-get install ffmpeg)");
    assert!(status.success(), "ffmpeg failed: {status}");
    path
}

fn loc(group: u64, object: u64) -> Location {
    Location::new(group, object)
}

/// A FETCH through the relay, read to its end.
async fn fetch(
    viewer: &Session,
    start: Location,
    end: Location,
) -> Result<(Location, Vec<FetchEntry>), Error> {
    let ns = TrackNamespace::from_path(NAMESPACE);
    let mut f = viewer.fetch(ns, TRACK, start, end).await?;
    let mut entries = Vec::new();
    while let Some(e) = tokio::time::timeout(Duration::from_secs(10), f.next())
        .await
        .expect("fetch entries in time")?
    {
        entries.push(e);
    }
    Ok((f.end_location(), entries))
}

/// The objects of `entries`, as (group, object) → payload.
fn objects(entries: &[FetchEntry]) -> Vec<((u64, u64), Bytes)> {
    entries
        .iter()
        .filter_map(|e| match e {
            FetchEntry::Object(o) => {
                Some(((o.location.group, o.location.object), o.payload.clone()))
            }
            _ => None,
        })
        .collect()
}

/// What the live subscriber got of groups `first..=last`, which must all be whole.
fn live_groups(
    live: &BTreeMap<(u64, u64), Bytes>,
    first: u64,
    last: u64,
) -> Vec<((u64, u64), Bytes)> {
    let got: Vec<_> = live
        .range((first, 0)..=(last, u64::MAX))
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    let mut groups: Vec<u64> = got.iter().map(|((g, _), _)| *g).collect();
    groups.dedup();
    assert_eq!(
        got.len() as u64,
        groups.len() as u64 * GOP,
        "the live subscriber has groups {first}..={last} whole: {:?}",
        got.iter().map(|(k, _)| *k).collect::<Vec<_>>()
    );
    got
}

#[test]
fn e2e_dvr_fetch_through_the_relay_reaches_the_origin_window() {
    let dir = TempDir::new("dvr");
    let input = make_input(&dir.0);
    let config = dir.0.join("relay.toml");
    std::fs::write(&config, "[cache]\nmax_duration = \"2s\"\n").expect("write relay config");
    let relay = Relay::start(&["--config", config.to_str().expect("utf-8")]);
    let url = relay.moqt_url();

    let mut cmd = Command::new(tern());
    cmd.args([
        "origin",
        &url,
        "--tls-disable-verify",
        "--namespace",
        NAMESPACE,
    ])
    .args(["--input", input.to_str().expect("utf-8"), "--loop"])
    .args(["--group-base", "0", "--dvr", "6s"])
    .env("TERN_LOG", "warn,tern_peer=debug")
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut origin = ChildGuard::spawn("tern origin", &mut cmd);
    let mut err = Lines::new(origin.child.stderr.take().expect("stderr"));
    let started = err.wait_for(1, Duration::from_secs(20), |l| {
        l.contains("tern: publishing")
    });
    assert!(
        !started.is_empty(),
        "tern origin did not start: {:?}",
        err.seen
    );
    let t0 = Instant::now();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let opts = ConnectOptions {
            disable_verify: true,
            ..ConnectOptions::default()
        };
        let viewer = Session::connect(&url, &opts)
            .await
            .expect("viewer connects");
        let ns = TrackNamespace::from_path(NAMESPACE);
        let mut sub = viewer
            .subscribe(ns, TRACK, None)
            .await
            .expect("live subscription");
        let mut live = BTreeMap::new();
        let deadline = tokio::time::Instant::from_std(t0 + FETCH_AT);
        while let Ok(next) = tokio::time::timeout_at(deadline, sub.next()).await {
            match next.expect("live objects") {
                Some(o) => {
                    live.insert((o.location.group, o.location.object), o.payload);
                }
                None => panic!("the live track ended"),
            }
        }
        let newest = live.keys().next_back().copied().unwrap_or_default();
        eprintln!(
            "live: {} objects, groups {:?}..={:?}",
            live.len(),
            live.keys().next().map(|k| k.0),
            newest.0
        );
        assert!(
            newest.0 >= 9000,
            "the origin published about 10 s: {newest:?}"
        );

        // Group IDs are media time in ms: the loop shifts them off multiples of 500.
        let mut groups: Vec<u64> = live.keys().map(|k| k.0).collect();
        groups.dedup();
        let at = groups
            .iter()
            .position(|&g| g >= 5000)
            .expect("a group at 5 s");
        let (a, b, c) = (groups[at], groups[at + 1], groups[at + 2]);

        // Three groups of about 5 to 6.5 s: gone from the relay (2 s), held at the origin (6 s).
        let (end, entries) = fetch(&viewer, loc(a, 0), loc(c, 0))
            .await
            .expect("FETCH of groups the origin holds");
        let want = live_groups(&live, a, c);
        assert_eq!(want.len() as u64, 3 * GOP);
        assert!(
            objects(&entries) == want,
            "the fetched objects are the live ones, byte for byte: fetched {:?}",
            objects(&entries)
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
        );
        assert_eq!(entries.len(), want.len(), "no unknown range: {entries:?}");
        assert_eq!(end, loc(c, GOP), "End Location: the last object + 1");
        eprintln!("held at the origin: groups {a}, {b}, {c} fetched through the relay");

        // Groups of the first 2 s: the origin evicted them too.
        let refused = fetch(&viewer, loc(0, 0), loc(1500, 0)).await;
        let Err(Error::Refused { code, reason }) = refused else {
            panic!("expected INVALID_RANGE, got {refused:?}");
        };
        assert_eq!(code, RequestErrorCode::INVALID_RANGE.0, "{reason}");
        assert!(
            reason.contains("evicted from this relay's cache")
                && reason.contains("outside the history window: groups")
                && reason.contains("video"),
            "the reason says the relay evicted the range and names the origin's window: {reason}"
        );
        eprintln!("refused: {reason}");

        // From 1 s to about 5.5 s: what the origin evicted is an unknown range, then its window.
        let (_, entries) = fetch(&viewer, loc(1000, 0), loc(b, 0))
            .await
            .expect("FETCH partly inside the window");
        let Some(FetchEntry::Unknown(until)) = entries.first() else {
            panic!("the answer starts with an unknown range: {entries:?}");
        };
        let fetched = objects(&entries);
        let first = fetched.first().map(|(k, _)| k.0).expect("some objects");
        assert!(
            until.group < first && first > 1000 && first <= a,
            "unknown up to {until:?}, then objects from group {first}"
        );
        eprintln!(
            "partly held: unknown up to {until:?}, then {} objects of groups {first}..={b}",
            fetched.len()
        );
        assert!(
            fetched == live_groups(&live, first, b),
            "partly held: byte for byte, fetched {:?}",
            fetched.iter().map(|(k, _)| *k).collect::<Vec<_>>()
        );
    });
    let answered = err.wait_for(3, Duration::from_secs(2), |l| {
        l.contains("FETCH answered from history") || l.contains("FETCH refused")
    });
    assert!(
        answered.len() >= 3,
        "the origin answered the three FETCHes the relay forwarded: {answered:?}"
    );
    drop(relay);
}
