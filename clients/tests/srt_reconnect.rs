//! An SRT publisher that drops without a goodbye (killed: no SRT shutdown) and comes back keeps
//! its viewers: libsrt's `srt-live-transmit` publishes into a relay node of this process, a
//! viewer reads the video track through the node's local API, the publisher is killed and a
//! new one takes over the broadcast at once (same identity: the same host) before the old call
//! has timed out. The viewer's track never ends; its groups keep rising across the cut
//! (group IDs come from media time, which continues where it was); the first group after the
//! cut starts at its first object (a keyframe).
//!
//! A publisher whose encoder restarts at a new size on the same call (a new SPS at a keyframe,
//! its clock starting again) publishes a new init segment and catalog, and its viewers carry
//! on.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{ChildGuard, TempDir, make_test_ts};
use tern_gateway::publish::Resumes;
use tern_gateway::srt;
use tern_model::local::Credentials;
use tern_model::{Delivery, Next};
use tern_relay::config::Config;

/// A caller publishing `ts` (10 s of media) to `path` over `srt-live-transmit` at its own pace,
/// until it is killed.
fn publish(addr: std::net::SocketAddr, path: &str, ts: Arc<Vec<u8>>) -> ChildGuard {
    common::srt_live_transmit(&format!("srt://{addr}?streamid=publish:{path}"), ts, 10)
}

/// A relay node of this process with an SRT listener: the node, the listener (kept alive) and
/// its address.
async fn node_with_srt() -> (tern_relay::node::Node, srt::SrtServer, std::net::SocketAddr) {
    let mut config = Config::default();
    config.relay.bind = "127.0.0.1:0".parse().unwrap();
    config.admin.enabled = false;
    let (node, _ready) = tern_relay::run::start(&config).await.expect("node");
    let server = srt::serve(
        srt::Config::new("127.0.0.1:0".parse().unwrap()),
        node.local(),
        Default::default(),
        Resumes::default(),
    )
    .await
    .expect("srt listener");
    let addr = server.local_addr();
    (node, server, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_drops_and_returns_keeps_its_viewers_and_its_time_line() {
    let dir = TempDir::new("srt-reconnect");
    let ts = Arc::new(std::fs::read(make_test_ts(&dir.0, 10)).expect("read ts"));
    let (node, _server, addr) = node_with_srt().await;

    let first = tokio::task::spawn_blocking({
        let ts = ts.clone();
        move || publish(addr, "live/re", ts)
    })
    .await
    .unwrap();
    // The viewer: the video track, read through the node's local API.
    let api = node.local();
    let video = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let ns = vec![Bytes::from("live"), Bytes::from("re")];
            if let Ok(info) = api.broadcast(ns, Credentials::in_process("test")).await
                && let Some(t) = info.tracks.iter().find(|t| t.starts_with(b"video"))
            {
                return String::from_utf8(t.to_vec()).expect("a UTF-8 track name");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the video track within 10 s");
    let seen = read_track(&api, "live/re", &video).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = seen.lock().unwrap().0.len();
    assert!(before > 30, "the first publisher's frames: {before}");
    // Killed: no SRT shutdown; the node still holds its call when the second one comes.
    let mut first = first;
    first.child.kill().expect("kill");
    let _ = first.child.wait();
    let cut = seen
        .lock()
        .unwrap()
        .0
        .last()
        .map(|o| (o.0, o.1))
        .expect("objects");
    let _second = tokio::task::spawn_blocking(move || publish(addr, "live/re", ts))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;

    let s = seen.lock().unwrap();
    assert!(!s.1, "the viewer's track ended at the cut");
    let objects: Vec<(u64, u64)> = s.0.iter().map(|o| (o.0, o.1)).collect();
    let after: Vec<(u64, u64)> = objects
        .iter()
        .copied()
        .skip_while(|o| *o != cut)
        .skip(1)
        .collect();
    assert!(
        after.len() > 60,
        "the second publisher's frames reached the viewer: {}",
        after.len()
    );
    for w in objects.windows(2) {
        assert!(
            w[1] > w[0],
            "objects in order across the cut: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
    let first_new_group = after
        .iter()
        .find(|o| o.0 > cut.0)
        .expect("a group after the cut");
    assert_eq!(
        first_new_group.1, 0,
        "the first group after the cut starts at its keyframe"
    );
}

/// Every object of a track read through the node's local API: (group, object, payload), and
/// whether the track ended.
type Objects = Arc<Mutex<(Vec<(u64, u64, Bytes)>, bool)>>;

/// Read `track` of `path` through `api` into the returned list, from a task.
async fn read_track(api: &tern_model::local::LocalApi, path: &str, track: &str) -> Objects {
    let mut reading = common::read_local(api, path, track, Duration::from_secs(10)).await;
    let seen: Objects = Arc::default();
    tokio::spawn({
        let seen = seen.clone();
        async move {
            let mut batch = Vec::new();
            loop {
                let next = reading.next(64, &mut batch).await;
                let mut s = seen.lock().unwrap();
                for d in batch.drain(..) {
                    if let Delivery::Object { object, .. } = d {
                        let at = object.location;
                        s.0.push((at.group, at.object, object.payload.clone()));
                    }
                }
                if next == Next::Closed {
                    s.1 = true;
                    return;
                }
            }
        }
    });
    seen
}

/// An encoder restarts at a new size on the same SRT call (320x240 for 3 s, then 640x360, its
/// clock starting again): the broadcast publishes a second init segment and a catalog with the
/// new size under the same track name; the viewer's video track goes on, in order, its first group after the
/// change starting at a keyframe; the new size's objects decode under the new init segment
/// (ffprobe), at 640x360.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_size_mid_stream_publishes_a_new_init_segment_and_catalog() {
    let dir = TempDir::new("srt-new-size");
    let part = |size: &str, offset: &str, name: &str| {
        let out = dir.0.join(name);
        let status = Command::new("ffmpeg")
            .args(common::test_av_args(size, 30, 3, "veryfast"))
            .args(["-output_ts_offset", offset, "-f", "mpegts"])
            .arg(&out)
            .status()
            .expect("run ffmpeg");
        assert!(status.success(), "ffmpeg: {status}");
        std::fs::read(out).expect("read ts")
    };
    // The encoder restarts: its clock starts again (the relay cuts the jump out of the
    // broadcast's time line, which goes on one frame after the first run's last).
    let mut ts = part("320x240", "0", "small.ts");
    ts.extend(part("640x360", "0", "large.ts"));
    let (node, _server, addr) = node_with_srt().await;
    let _publisher =
        tokio::task::spawn_blocking(move || publish(addr, "live/resize", Arc::new(ts)))
            .await
            .unwrap();
    let api = node.local();
    let init = read_track(&api, "live/resize", "0.mp4").await;
    let catalog = read_track(&api, "live/resize", "catalog").await;
    let video = read_track(&api, "live/resize", "video-240p").await;
    // 6 s of media paced over 10 s: wait for 1.5 s of the new size (45 frames).
    let deadline = Instant::now() + Duration::from_secs(20);
    let new_frames = || {
        let v = video.lock().unwrap();
        let first = v.0.first().map_or(u64::MAX, |o| o.0);
        v.0.iter()
            .filter(|o| o.0 >= first.saturating_add(2500))
            .count()
    };
    while new_frames() < 45 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let inits = init.lock().unwrap().0.clone();
    assert_eq!(inits.len(), 2, "an init segment for each size");
    assert!(inits[1].0 > inits[0].0, "the new init is a newer group");
    let last_catalog = catalog
        .lock()
        .unwrap()
        .0
        .last()
        .cloned()
        .expect("a catalog");
    let json: serde_json::Value = serde_json::from_slice(&last_catalog.2).expect("catalog JSON");
    let track = json["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .find(|t| t["name"] == "video-240p")
        .unwrap_or_else(|| panic!("the video track keeps its name: {json}"));
    assert_eq!(
        (&track["width"], &track["height"]),
        (&640.into(), &360.into()),
        "{json}"
    );

    let v = video.lock().unwrap();
    assert!(!v.1, "the viewer's track went on");
    for w in v.0.windows(2) {
        assert!((w[1].0, w[1].1) > (w[0].0, w[0].1), "objects in order");
    }
    // Groups are numbered by media time from the first: one a second, the new size's first
    // about 3 s in.
    let first = v.0.first().expect("objects").0;
    let after: Vec<&(u64, u64, Bytes)> = v.0.iter().filter(|o| o.0 >= first + 2500).collect();
    assert_eq!(
        after.first().map(|o| o.1),
        Some(0),
        "a group opens at the change"
    );
    let decode = |init: &Bytes, name: &str| {
        let mut file = init.to_vec();
        for o in &after {
            file.extend_from_slice(&o.2);
        }
        let path = dir.0.join(name);
        std::fs::write(&path, file).expect("write");
        let streams = common::ffprobe_streams(&path);
        let s = common::stream_of(&streams, "video").clone();
        (
            common::num(&s, "width"),
            common::num(&s, "height"),
            common::frames(&s),
        )
    };
    let (w, h, frames) = decode(&inits[1].2, "after.mp4");
    assert_eq!((w, h), (640, 360));
    assert!(frames >= 45, "{frames} frames at the new size");
}
