//! An SRT publisher that drops without a goodbye (killed: no SRT shutdown) and comes back keeps
//! its viewers: libsrt's `srt-live-transmit` publishes into a relay node of this process, a
//! viewer reads the video track through the node's local API, the publisher is killed and a
//! new one takes over the broadcast at once (same identity: the same host) before the old call
//! has timed out. The viewer's track never ends; its groups keep rising across the cut
//! (group IDs come from media time, which continues where it was); the first group after the
//! cut starts at its first object (a keyframe).
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{ChildGuard, Lines, TempDir, make_test_ts};
use tern_gateway::publish::Resumes;
use tern_gateway::srt;
use tern_model::local::{Credentials, ReadOptions};
use tern_model::{Delivery, Next, TrackName};
use tern_relay::config::Config;

/// A caller publishing `ts` over `srt-live-transmit` at its own pace, from a thread, until it
/// is killed.
fn publish(addr: std::net::SocketAddr, ts: Arc<Vec<u8>>) -> ChildGuard {
    let mut cmd = Command::new("srt-live-transmit");
    cmd.args(["-a:no", "file://con"])
        .arg(format!("srt://{addr}?streamid=publish:live/re"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn("srt-live-transmit (apt-get install srt-tools)", &mut cmd);
    let mut lines = Lines::new(guard.child.stderr.take().expect("stderr"));
    lines.expect(
        Duration::from_secs(10),
        "srt-live-transmit connected",
        |l| l.contains("connected"),
    );
    let mut stdin = guard.child.stdin.take().expect("stdin");
    std::thread::spawn(move || {
        let chunks: Vec<&[u8]> = ts.chunks(1316).collect();
        let every = Duration::from_secs(10) / chunks.len() as u32;
        let start = Instant::now();
        for (i, c) in chunks.iter().enumerate() {
            if stdin.write_all(c).is_err() {
                return;
            }
            let due = start + every * (i as u32 + 1);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    });
    guard
}

#[derive(Default)]
struct Seen {
    /// (group, object) of every object, in order.
    objects: Vec<(u64, u64)>,
    closed: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_drops_and_returns_keeps_its_viewers_and_its_time_line() {
    let dir = TempDir::new("srt-reconnect");
    let ts = Arc::new(std::fs::read(make_test_ts(&dir.0, 10)).expect("read ts"));
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

    let first = tokio::task::spawn_blocking({
        let ts = ts.clone();
        move || publish(addr, ts)
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
                return t.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the video track within 10 s");
    let mut reading = api
        .subscribe(
            TrackName::from_path("live/re", std::str::from_utf8(&video).unwrap()),
            Credentials::in_process("test"),
            ReadOptions::default(),
        )
        .await
        .expect("read the video track");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let reader = tokio::spawn({
        let seen = seen.clone();
        async move {
            let mut batch = Vec::new();
            loop {
                let next = reading.next(64, &mut batch).await;
                let mut s = seen.lock().unwrap();
                for d in batch.drain(..) {
                    if let Delivery::Object { object, .. } = d {
                        s.objects
                            .push((object.location.group, object.location.object));
                    }
                }
                if next == Next::Closed {
                    s.closed = true;
                    return;
                }
            }
        }
    });

    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = seen.lock().unwrap().objects.len();
    assert!(before > 30, "the first publisher's frames: {before}");
    // Killed: no SRT shutdown; the node still holds its call when the second one comes.
    let mut first = first;
    first.child.kill().expect("kill");
    let _ = first.child.wait();
    let cut = seen
        .lock()
        .unwrap()
        .objects
        .last()
        .copied()
        .expect("objects");
    let _second = tokio::task::spawn_blocking(move || publish(addr, ts))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;

    let s = seen.lock().unwrap();
    assert!(!s.closed, "the viewer's track ended at the cut");
    let after: Vec<(u64, u64)> = s
        .objects
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
    for w in s.objects.windows(2) {
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
    drop(s);
    reader.abort();
}
