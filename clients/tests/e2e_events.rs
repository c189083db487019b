//! Events end to end: `tern relay`, `tern origin --clip` (which sequences the events of its
//! broadcast), two viewers sending with `tern events send` at the same time, and two watchers
//! on `tern events watch`. Both watchers see every event once, in the same order, each viewer's
//! events in the order it sent them, with an event latency under 2 s on loopback.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ChildGuard, Lines, Relay, tern, wait_exit};

const NAMESPACE: &str = "live/demo";
/// Events per viewer (within the origin's burst of 10 per viewer).
const PER_VIEWER: usize = 5;

fn tern_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(tern());
    cmd.args(args).env("TERN_LOG", "warn");
    cmd
}

/// Start a child and collect its stderr lines until `ready` shows up (bounded).
fn start(name: &str, cmd: &mut Command, ready: &str) -> (ChildGuard, Lines) {
    cmd.stderr(Stdio::piped());
    let mut child = ChildGuard::spawn(name, cmd);
    let mut err = Lines::new(child.child.stderr.take().expect("stderr"));
    let seen = err.wait_for(1, Duration::from_secs(20), |l| l.contains(ready));
    assert!(!seen.is_empty(), "{name} did not start: {:?}", err.seen);
    (child, err)
}

#[test]
fn e2e_events_two_viewers_two_watchers_one_order() {
    let relay = Relay::start(&[]);
    let url = relay.moqt_url();
    let common = [
        url.as_str(),
        "--tls-disable-verify",
        "--namespace",
        NAMESPACE,
    ];

    let mut origin_cmd = tern_cmd(&["origin"]);
    origin_cmd.args(common).arg("--clip").stdout(Stdio::null());
    let (_origin, mut origin_err) = start("tern origin", &mut origin_cmd, "tern: sequencing");
    let published = origin_err.wait_for(1, Duration::from_secs(20), |l| {
        l.contains("tern: publishing")
    });
    assert!(!published.is_empty(), "{:?}", origin_err.seen);

    let total = 2 * PER_VIEWER;
    let max = total.to_string();
    let mut watchers = Vec::new();
    for i in 0..2 {
        let mut cmd = tern_cmd(&["events", "watch"]);
        cmd.args(common)
            .args(["--json", "--max-events", &max])
            .stdout(Stdio::piped());
        let (mut child, _err) = start(&format!("watcher {i}"), &mut cmd, "tern: watching");
        let out = Lines::new(child.child.stdout.take().expect("stdout"));
        watchers.push((child, out));
    }

    // Both viewers send at once, one event per line of stdin.
    let mut viewers = Vec::new();
    for viewer in ["alice", "bob"] {
        let mut cmd = tern_cmd(&["events", "send"]);
        cmd.args(common)
            .args(["--viewer", viewer, "--kind", "chat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGuard::spawn(viewer, &mut cmd);
        let out = Lines::new(child.child.stdout.take().expect("stdout"));
        let err = Lines::new(child.child.stderr.take().expect("stderr"));
        viewers.push((viewer, child, out, err));
    }
    for (viewer, child, _, _) in &mut viewers {
        let mut stdin = child.child.stdin.take().expect("stdin");
        let lines: String = (0..PER_VIEWER)
            .map(|i| format!("{viewer} says {i}\n"))
            .collect();
        stdin.write_all(lines.as_bytes()).expect("write stdin");
        // Dropped: stdin closes, the viewer exits once its events are in order.
    }
    for (viewer, child, out, err) in &mut viewers {
        let status = wait_exit(child, Duration::from_secs(30));
        let acks = out.wait_for(PER_VIEWER, Duration::from_secs(1), |l| {
            l.contains("sequenced in")
        });
        let errs = err.wait_for(usize::MAX, Duration::from_millis(100), |_| true);
        assert!(
            status.is_some_and(|s| s.success()),
            "{viewer} failed ({status:?}): {acks:?} {errs:?}"
        );
        assert_eq!(acks.len(), PER_VIEWER, "{viewer}: {acks:?}");
    }

    let mut orders = Vec::new();
    for (i, (child, out)) in watchers.iter_mut().enumerate() {
        let lines = out.wait_for(total, Duration::from_secs(20), |l| l.starts_with('{'));
        assert_eq!(lines.len(), total, "watcher {i}: {lines:?}");
        let status = wait_exit(child, Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "watcher {i}: {status:?}"
        );
        let events: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("a JSON event"))
            .collect();
        for e in &events {
            let latency = e["latencyMs"].as_i64().expect("latencyMs");
            let from_origin = e["fromOriginMs"].as_i64().expect("fromOriginMs");
            assert!((0..2000).contains(&latency), "watcher {i}: {e}");
            assert!((0..2000).contains(&from_origin), "watcher {i}: {e}");
            assert!(e["sequencedAt"].as_u64() >= e["sentAt"].as_u64(), "{e}");
        }
        let order: Vec<(u64, String, String)> = events
            .iter()
            .map(|e| {
                (
                    e["seq"].as_u64().expect("seq"),
                    e["viewer"].as_str().expect("viewer").to_owned(),
                    e["body"].as_str().expect("body").to_owned(),
                )
            })
            .collect();
        let seqs: Vec<u64> = order.iter().map(|(s, _, _)| *s).collect();
        assert_eq!(seqs, (0..total as u64).collect::<Vec<_>>(), "watcher {i}");
        for viewer in ["alice", "bob"] {
            let said: Vec<&str> = order
                .iter()
                .filter(|(_, v, _)| v == viewer)
                .map(|(_, _, b)| b.as_str())
                .collect();
            let sent: Vec<String> = (0..PER_VIEWER)
                .map(|n| format!("{viewer} says {n}"))
                .collect();
            assert_eq!(
                said, sent,
                "watcher {i}: {viewer}'s events, once each, in order"
            );
        }
        eprintln!(
            "watcher {i}: {}",
            events
                .iter()
                .map(|e| format!("#{} {}ms", e["seq"], e["latencyMs"]))
                .collect::<Vec<_>>()
                .join(", ")
        );
        orders.push(order);
    }
    assert_eq!(orders[0], orders[1], "both watchers see one order");
}
