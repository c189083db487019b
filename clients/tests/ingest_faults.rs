//! Faults of an ingest publisher, seen by a viewer reading through the node's local API: an
//! RTMP publisher (ffmpeg) killed in the middle of a GOP leaves that group ended as incomplete
//! (reset, never finished as whole), the groups before it finished; the track lingers and a
//! publisher that comes back resumes it at a keyframe, in a new group.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ChildGuard;
use tern_gateway::publish::Resumes;
use tern_gateway::rtmp;
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

/// ffmpeg publishing a 30 fps test pattern with a keyframe every 2 s to `url`, paced.
fn publish(url: &str) -> ChildGuard {
    let mut cmd = common::ffmpeg_live("320x240", 30, false);
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
    let mut config = Config::default();
    config.relay.bind = "127.0.0.1:0".parse().unwrap();
    config.admin.enabled = false;
    let (node, _ready) = tern_relay::run::start(&config).await.expect("node");
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
    let mut reading =
        common::read_local(&api, "live/faulty", "video-240p", Duration::from_secs(15)).await;
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
