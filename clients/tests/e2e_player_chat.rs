//! The player's chat box end to end: `tern relay`, `tern origin --clip` (which sequences its
//! broadcast's events), two player pages in Debian's headless Chromium (viewers `alice` and
//! `bob`), a terminal viewer (`tern events send --viewer carol`) and a terminal watcher
//! (`tern events watch`).
//!
//! Each page publishes its own events track through the relay (PUBLISH_NAMESPACE of
//! `<broadcast>/viewers/<id>`, answering the SUBSCRIBE the origin sends through the relay) and
//! reads the ordered `events` track. Both pages show every event once, in the same order as the
//! watcher (the origin's `seq`), each viewer's events in the order it sent them, each with an
//! event latency under 2 s on loopback.
//!
//! Needs `/usr/bin/chromium`, Node.js and `npm ci` in `clients/tests/chromium/`. Every child is
//! killed on drop, every wait is bounded; only 127.0.0.1 and port 0 are used.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::page::{Page, PageServer, check_clean, start_origin};
use common::{ChildGuard, Lines, Relay, tern, wait_exit};
use serde_json::Value;

const NAMESPACE: &str = "e2e/chat";

/// (seq, viewer, body) of the events a page shows.
fn shown(status: &Value) -> Vec<(u64, String, String)> {
    status["chat"]["records"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    (
                        r["seq"].as_u64().expect("seq"),
                        r["viewer"].as_str().expect("viewer").to_owned(),
                        r["body"].as_str().expect("body").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn e2e_player_chat_two_pages_one_order() {
    let relay = Relay::start(&[]);
    let _origin = start_origin(&relay.https_url(), NAMESPACE, Command::new(tern()));
    let server = PageServer::start(relay.https_url(), relay.fingerprint.clone(), NAMESPACE);
    let moqt = relay.moqt_url();
    let common = [
        moqt.as_str(),
        "--tls-disable-verify",
        "--namespace",
        NAMESPACE,
    ];

    let mut watch = Command::new(tern());
    watch
        .args(["events", "watch"])
        .args(common)
        .args(["--json", "--max-events", "5"])
        .env("TERN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut watcher = ChildGuard::spawn("tern events watch", &mut watch);
    let mut watch_err = Lines::new(watcher.child.stderr.take().expect("stderr"));
    let started = watch_err.wait_for(1, Duration::from_secs(20), |l| l.contains("tern: watching"));
    assert!(!started.is_empty(), "watcher: {:?}", watch_err.seen);
    let mut watch_out = Lines::new(watcher.child.stdout.take().expect("stdout"));

    let mut pages: Vec<(&str, Page)> = ["alice", "bob"]
        .into_iter()
        .map(|viewer| {
            let url = server.url(&format!("?viewer={viewer}&rendition=video-144p"));
            (viewer, Page::open(&url, Duration::from_secs(120)))
        })
        .collect();
    for (viewer, page) in &mut pages {
        // Ready: the origin heard of the page's namespace and subscribed to its events track.
        page.wait(
            &format!("{viewer}'s chat box ready"),
            Duration::from_secs(40),
            |s| s["chat"]["state"] == "ready",
        );
    }

    for n in 1..=2 {
        for (viewer, page) in &mut pages {
            page.chat(&format!("{viewer} says {n}"));
        }
    }
    let mut carol = Command::new(tern());
    carol
        .args(["events", "send"])
        .args(common)
        .args(["--viewer", "carol", "carol says 1"])
        .env("TERN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut carol = ChildGuard::spawn("tern events send", &mut carol);
    let status = wait_exit(&mut carol, Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "carol: {status:?}");

    let mut orders = Vec::new();
    for (viewer, page) in &mut pages {
        let last = page.wait(
            &format!("{viewer}'s page shows the 5 events"),
            Duration::from_secs(20),
            |s| shown(s).len() >= 5,
        );
        let records = last["chat"]["records"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for r in &records {
            let latency = r["latencyMs"].as_i64().expect("latencyMs");
            assert!((0..2000).contains(&latency), "{viewer}'s page: {r}");
        }
        let order = shown(&last);
        eprintln!(
            "{viewer}'s page: {}",
            records
                .iter()
                .map(|r| format!("#{} {} {}ms", r["seq"], r["viewer"], r["latencyMs"]))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let seqs: Vec<u64> = order.iter().map(|(s, _, _)| *s).collect();
        assert_eq!(
            seqs,
            (0..5).collect::<Vec<_>>(),
            "{viewer}'s page: {order:?}"
        );
        for who in ["alice", "bob"] {
            let said: Vec<&str> = order
                .iter()
                .filter(|(_, v, _)| v == who)
                .map(|(_, _, b)| b.as_str())
                .collect();
            assert_eq!(
                said,
                [format!("{who} says 1"), format!("{who} says 2")],
                "{viewer}'s page shows {who}'s events once each, in order"
            );
        }
        assert!(
            order
                .iter()
                .any(|(_, v, b)| v == "carol" && b == "carol says 1"),
            "{viewer}'s page: {order:?}"
        );
        orders.push(order);
    }
    assert_eq!(orders[0], orders[1], "both pages show one order");

    let lines = watch_out.wait_for(5, Duration::from_secs(20), |l| l.starts_with('{'));
    let watched: Vec<(u64, String, String)> = lines
        .iter()
        .map(|l| {
            let e: Value = serde_json::from_str(l).expect("a JSON event");
            (
                e["seq"].as_u64().expect("seq"),
                e["viewer"].as_str().expect("viewer").to_owned(),
                e["body"].as_str().expect("body").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        watched, orders[0],
        "the terminal watcher sees the same order"
    );

    for (viewer, page) in &mut pages {
        let final_ = page.finish();
        check_clean(&final_);
        assert!(
            final_["player"]["framesDrawn"].as_u64().unwrap_or(0) > 0,
            "{viewer}'s page played no video"
        );
    }
}
