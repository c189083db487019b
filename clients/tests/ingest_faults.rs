//! Faults of an ingest publisher, seen by a viewer reading through the node's local API: an
//! RTMP publisher (ffmpeg) killed in the middle of a GOP leaves that group ended as incomplete
//! (reset, never finished as whole), the groups before it finished; the track lingers and a
//! publisher that comes back resumes it at a keyframe, in a new group.
//!
//! SRT packets lost for good between `srt-live-transmit` and the node (every copy of some data
//! packets dropped by a proxy, so the node's receiver gives up on them after its latency:
//! TLPKTDROP) cost the frames they hit, not their groups.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::delay_proxy::{DelayProxy, Keep};
use common::{ChildGuard, TempDir, make_test_ts};
use tern_gateway::publish::Resumes;
use tern_gateway::{rtmp, srt};
use tern_model::{Delivery, Next};
use tern_relay::config::Config;

/// What a viewer saw of a track: each group's objects and how it ended.
#[derive(Debug, Default)]
struct Groups {
    /// (group, objects, end): `Some(true)` finished, `Some(false)` reset, `None` open.
    groups: Vec<(u64, u64, Option<bool>)>,
    closed: bool,
}

impl Groups {
    fn group(&mut self, g: u64) -> &mut (u64, u64, Option<bool>) {
        if !self.groups.iter().any(|x| x.0 == g) {
            self.groups.push((g, 0, None));
        }
        self.groups
            .iter_mut()
            .find(|x| x.0 == g)
            .expect("just added")
    }
}

/// Read `reading` into the returned record, from a task.
fn record(mut reading: tern_model::local::Reading) -> Arc<Mutex<Groups>> {
    let seen = Arc::new(Mutex::new(Groups::default()));
    tokio::spawn({
        let seen = seen.clone();
        async move {
            let mut batch = Vec::new();
            loop {
                let next = reading.next(64, &mut batch).await;
                let mut s = seen.lock().unwrap();
                for d in batch.drain(..) {
                    match d {
                        Delivery::Object { group, .. } => s.group(group).1 += 1,
                        Delivery::Finish { group, .. } => s.group(group).2 = Some(true),
                        Delivery::Reset { group, .. } => s.group(group).2 = Some(false),
                        _ => {}
                    }
                }
                if next == Next::Closed {
                    s.closed = true;
                    return;
                }
            }
        }
    });
    seen
}

/// A relay node of this process (no admin listener) on an ephemeral port.
async fn node() -> tern_relay::node::Node {
    let mut config = Config::default();
    config.relay.bind = "127.0.0.1:0".parse().unwrap();
    config.admin.enabled = false;
    tern_relay::run::start(&config).await.expect("node").0
}

/// ffmpeg publishing a 30 fps test pattern with a keyframe every 2 s to `url`, paced.
fn publish(url: &str) -> ChildGuard {
    let mut cmd = common::ffmpeg_live("320x240", 30, false, common::ZERO_LATENCY);
    cmd.args([
        "-g",
        "60",
        "-keyint_min",
        "60",
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
    ])
    .args(["-f", "flv"])
    .arg(url)
    .stderr(Stdio::null());
    ChildGuard::spawn("ffmpeg", &mut cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_killed_mid_gop_leaves_that_group_incomplete() {
    let node = node().await;
    let server = rtmp::serve(
        rtmp::Config::new("127.0.0.1:0".parse().unwrap()),
        node.local(),
        Default::default(),
        Resumes::default(),
    )
    .await
    .expect("rtmp listener");
    let url = format!("rtmp://{}/live/faulty", server.local_addr());
    let first = publish(&url);
    let api = node.local();
    let reading =
        common::read_local(&api, "live/faulty", "video-240p", Duration::from_secs(15)).await;
    let seen = record(reading);
    // Into the second GOP and halfway through the third: 5 s from the first frame.
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().groups.len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut first = first;
    first.child.kill().expect("kill");
    let _ = first.child.wait();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (cut_group, cut_objects) = {
        let s = seen.lock().unwrap();
        let last = *s.groups.last().expect("groups");
        assert_eq!(last.2, Some(false), "the group cut short is reset: {s:?}");
        assert!(last.1 > 0 && last.1 < 60, "cut mid-GOP: {s:?}");
        for g in &s.groups[..s.groups.len() - 1] {
            assert_eq!(g.2, Some(true), "the groups before it are whole: {s:?}");
        }
        (last.0, last.1)
    };
    // The same publisher comes back (same host): the viewer's track goes on in a new group.
    let _second = publish(&url);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let done = {
            let s = seen.lock().unwrap();
            let resumed = s
                .groups
                .last()
                .is_some_and(|g| g.0 > cut_group && g.1 >= 10);
            if resumed {
                assert!(!s.closed, "the viewer's track went on");
                assert_eq!(
                    s.groups.iter().find(|g| g.0 == cut_group).map(|g| g.1),
                    Some(cut_objects),
                    "nothing was added to the group cut short"
                );
            }
            assert!(
                resumed || Instant::now() < deadline,
                "no group after the return: {s:?}"
            );
            resumed
        };
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
}

/// What the loss proxy did: the first data packet's sequence number, the data packets it
/// dropped (each for good: every copy) and the copies refused (first sends and retransmissions).
#[derive(Debug, Default)]
struct Lost {
    first: Option<u32>,
    /// The newest sequence number seen (one not above it is a retransmission).
    newest: Option<u32>,
    /// A drop is due at the next packet that holds no keyframe bytes.
    due: bool,
    /// The video PES packet in progress is a keyframe's.
    in_keyframe: bool,
    packets: BTreeSet<u32>,
    copies: u64,
    /// Video frames whose bytes the dropped packets held.
    frames_hit: u64,
}

/// The PID ffmpeg's MPEG-TS muxer gives the first (video) stream.
const VIDEO_PID: u16 = 0x100;

impl Lost {
    /// Whether the MPEG-TS packets in `payload` (a new SRT packet's) hold keyframe bytes, and
    /// the video frames whose bytes they hold: one per PES packet started there, and one more
    /// when the first video packet continues an earlier PES packet.
    fn read(&mut self, payload: &[u8]) -> (bool, u64) {
        let (mut keyframe, mut frames, mut first) = (false, 0, true);
        for p in payload.chunks_exact(188) {
            let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
            if pid != VIDEO_PID {
                continue;
            }
            if p[1] & 0x40 != 0 {
                // A PES packet starts: ffmpeg flags a keyframe's with random_access_indicator.
                self.in_keyframe = p[3] & 0x20 != 0 && p[4] > 0 && p[5] & 0x40 != 0;
                frames += 1;
            } else if first {
                frames += 1;
            }
            keyframe |= self.in_keyframe;
            first = false;
        }
        (keyframe, frames)
    }

    /// Whether to pass data packet `seq` (`payload`: its MPEG-TS packets): every `step`-th
    /// new packet from the `step`-th on is dropped for good, or the next one after it that
    /// holds no keyframe bytes (a lost keyframe costs its whole group: the loss this test is
    /// about is the frames between them).
    fn keep(&mut self, seq: u32, payload: &[u8], step: u32) -> bool {
        if self.packets.contains(&seq) {
            self.copies += 1;
            return false;
        }
        let first = *self.first.get_or_insert(seq);
        let from_first = |s: u32| s.wrapping_sub(first) & 0x7fff_ffff;
        let n = from_first(seq);
        if self.newest.is_some_and(|newest| n <= from_first(newest)) {
            return true;
        }
        self.newest = Some(seq);
        let (keyframe, frames) = self.read(payload);
        self.due |= n >= step && n % step == 0;
        if self.due && !keyframe {
            self.due = false;
            self.packets.insert(seq);
            self.copies += 1;
            self.frames_hit += frames;
            return false;
        }
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_packets_dropped_too_late_cost_the_frames_they_hit_not_their_groups() {
    const FPS: u64 = 30;
    const GOP_MS: u64 = 1000;
    let dir = TempDir::new("srt-tlpktdrop");
    // 10 s, 30 fps, a keyframe every 30 frames: 10 groups of 30 frames.
    let ts = Arc::new(std::fs::read(make_test_ts(&dir.0, 10)).expect("read ts"));
    let node = node().await;
    let server = srt::serve(
        srt::Config::new("127.0.0.1:0".parse().unwrap()),
        node.local(),
        Default::default(),
        Resumes::default(),
    )
    .await
    .expect("srt listener");
    // About ten data packets, spread over the stream after its first second, lost for good.
    let step = (ts.len() / 1316 / 10).max(2) as u32;
    let lost = Arc::new(Mutex::new(Lost::default()));
    let keep: Keep = Arc::new({
        let lost = lost.clone();
        move |d: &[u8]| {
            // A data packet: the first bit clear, then a 31-bit sequence number; 16 bytes of
            // header before the payload.
            if d.len() < 16 || d[0] & 0x80 != 0 {
                return true;
            }
            let seq = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) & 0x7fff_ffff;
            lost.lock().unwrap().keep(seq, &d[16..], step)
        }
    });
    let proxy = DelayProxy::start_filtered(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        server.local_addr(),
        Duration::ZERO,
        keep,
    )
    .expect("loss proxy");
    let url = format!("srt://{}?streamid=publish:live/lossy", proxy.addr);
    let publisher = tokio::task::spawn_blocking(move || common::srt_live_transmit(&url, ts, 10))
        .await
        .unwrap();
    let api = node.local();
    let reading =
        common::read_local(&api, "live/lossy", "video-240p", Duration::from_secs(10)).await;
    let seen = record(reading);
    // The input lasts 10 s from the connection; then the last frames and losses settle (the
    // receiver gives up on a lost packet after its latency, 120 ms).
    tokio::time::sleep(Duration::from_secs(12)).await;
    drop(publisher);
    let lost = lost.lock().unwrap();
    let s = seen.lock().unwrap();
    assert!(
        lost.packets.len() >= 5 && lost.copies > lost.packets.len() as u64,
        "the proxy dropped data packets and their retransmissions: {lost:?}"
    );
    // Group IDs are the group's start in ms of media time: the frames each group should hold
    // follow from the next group's ID (the last group holds a whole GOP: the input ends on one).
    assert!(s.groups.len() >= 8, "the groups the viewer saw: {s:?}");
    let (mut expected, mut got) = (0, 0);
    for (i, g) in s.groups.iter().enumerate() {
        let span = s.groups.get(i + 1).map_or(GOP_MS, |next| next.0 - g.0);
        // A group's ID is its first frame's decode time in ms (rounded down): 30 frames span
        // 1000 ms give or take 1 (the first group's ID is the broadcast's start).
        expected += (span * FPS + 100) / 1000;
        got += g.1;
        if i + 1 < s.groups.len() {
            assert_eq!(
                g.2,
                Some(true),
                "every group but the last finished whole: {s:?}"
            );
        }
    }
    let frames_lost = expected - got;
    eprintln!(
        "{} SRT packets lost for good ({} copies) holding {} video frames' bytes: \
         {frames_lost} of {expected} frames lost, in {} groups",
        lost.packets.len(),
        lost.copies,
        lost.frames_hit,
        s.groups.len()
    );
    // Every frame with bytes in a lost packet is lost (none goes out damaged), and at most one
    // more per packet: the frame that ended just before the gap, which MPEG-TS cannot tell
    // from one whose end was lost (a video PES packet's length is open: its end is the next
    // one's start).
    assert!(
        lost.frames_hit >= 1 && frames_lost >= lost.frames_hit,
        "the frames hit ({}) are lost: {frames_lost} frames lost: {s:?}",
        lost.frames_hit
    );
    assert!(
        frames_lost <= lost.frames_hit + lost.packets.len() as u64,
        "the packets lost cost only the frames they hit ({}) and the one before each gap, not \
         their groups: {frames_lost} frames lost: {s:?}",
        lost.frames_hit
    );
    drop(server);
}
