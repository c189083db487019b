//! A browser as a MoQ subscriber: Debian's headless Chromium loads tern's clock page
//! (`clients/web/`), which speaks draft-18 over WebTransport to `tern relay` and shows
//! Cloudflare's `moq-clock-ietf --publish` clock.
//!
//! What it proves: Chromium negotiates `moqt-18` over WebTransport with the relay's pinned
//! self-signed certificate (`serverCertificateHashes`), the page's SETUP / SUBSCRIBE
//! (Largest Object) / SUBSCRIBE_OK exchange works, and objects on subgroup streams arrive and
//! parse (varints, object ID deltas): the page shows at least three distinct clock values,
//! each one second later than the one before.
//!
//! Needs `/usr/bin/chromium` (Debian `chromium`), Node.js and `npm ci` in
//! `clients/tests/chromium/` (playwright-core drives the browser; it downloads no browser).

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::page::NodeRun;
use common::{ChildGuard, Relay, peer};
use tern::web;

/// Distinct clock values the page must show.
const MIN_VALUES: usize = 3;
/// How long the page may take to show them (the clock ticks once a second).
const PAGE_TIMEOUT_MS: u64 = 30_000;

/// Seconds since midnight of a `YYYY-MM-DD HH:MM:SS` value, or of `…:SS` (seconds only, when
/// the minute base was not available) as `None`.
fn seconds(value: &str) -> Option<u32> {
    let time = value.rsplit(' ').next()?;
    let mut parts = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some(h * 3600 + m * 60 + s)
}

/// The strings of a page report's array (`values`).
fn texts(array: &serde_json::Value) -> Vec<&str> {
    array
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|v| v.as_str())
        .collect()
}

/// The values `@moq/net` received, once it negotiated `version` (`moq-transport-18`) without an
/// error and got at least [`MIN_VALUES`] of them.
fn moq_net_values<'a>(result: &'a serde_json::Value, version: &str) -> Vec<&'a str> {
    assert_eq!(result["version"], version, "{result}");
    assert_eq!(
        result["errors"].as_array().map(Vec::len),
        Some(0),
        "@moq/net failed: {result}"
    );
    let values = texts(&result["values"]);
    assert!(values.len() >= MIN_VALUES, "objects: {result}");
    values
}

/// Start Cloudflare's clock publisher against `relay` and wait (bounded) for its first time.
fn clock_publisher(relay: &Relay) -> ChildGuard {
    let mut cmd = Command::new(peer("moq-clock-ietf"));
    cmd.args([&relay.https_url(), "--publish", "--tls-disable-verify"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut clock = ChildGuard::spawn("moq-clock-ietf", &mut cmd);
    let mut clock_out = clock.child.stdout.take().expect("clock stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Drained to the end: the clock panics on a closed stdout.
        let mut byte = [0u8; 1];
        while let Ok(1) = clock_out.read(&mut byte) {
            if byte[0] == b'\n' {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("moq-clock-ietf published within 20 s");
    clock
}

/// moq-dev's browser client, `@moq/net` 0.3.4, in headless Chromium: on a relay restricted to
/// draft-18 (`relay.drafts`) it negotiates `moqt-18` over WebTransport, subscribes to
/// Cloudflare's clock through tern and receives its objects. It joins at the Largest Object and
/// keeps only groups whose stream carries FIRST_OBJECT, so its first objects come with the
/// clock's next group (one per minute): up to 90 s.
#[test]
fn e2e_chromium_moq_net_subscribes_over_draft_18() {
    common::page::chromium();
    let mut cmd = Command::new(common::tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_RELAY_DRAFTS", "18");
    let relay = Relay::start_cmd(cmd, &[]);
    let clock = clock_publisher(&relay);
    let run = NodeRun::start(
        "moqnet.mjs",
        &[
            relay.https_url(),
            relay.fingerprint.clone(),
            "90000".to_owned(),
            MIN_VALUES.to_string(),
        ],
    );
    let result = run.report(Duration::from_secs(150));
    eprintln!("@moq/net result: {result}");
    let values = moq_net_values(&result, "moq-transport-18");
    // The clock's objects: the group's "YYYY-MM-DD HH:MM:" base, then two-digit seconds.
    assert!(
        values[0].ends_with(':'),
        "a group from its first object: {values:?}"
    );
    for v in &values[1..] {
        assert!(
            v.len() == 2 && v.bytes().all(|b| b.is_ascii_digit()),
            "not a clock value: {v:?}"
        );
    }
    drop(clock);
    drop(relay);
}

/// `@moq/net` 0.3.4 with WebTransport taken away from its page, as it runs on Safari: it reaches
/// the relay over a WebSocket on the HTTP listener (QMux, `qmux-01.moqt-20`: the newest draft
/// both speak) and receives a track `tern publish` sends over raw QUIC on draft-18, one group
/// per line.
#[test]
fn e2e_chromium_moq_net_subscribes_over_websocket() {
    moq_net_reads_a_tern_feed(true);
}

/// `@moq/net` 0.3.4 over WebTransport on a relay speaking every draft: it negotiates `moqt-20`
/// (the newest it offers) and receives a track `tern publish` sends on draft-18.
#[test]
fn e2e_chromium_moq_net_subscribes_over_draft_20() {
    moq_net_reads_a_tern_feed(false);
}

fn moq_net_reads_a_tern_feed(websocket: bool) {
    common::page::chromium();
    let relay = Relay::start(&["--http", "127.0.0.1:0"]);
    let ws = if websocket {
        format!("{}/", relay.ws_url())
    } else {
        String::new()
    };
    let mut cmd = Command::new(common::tern());
    cmd.args([
        "publish",
        &relay.moqt_url(),
        "--cert-hash",
        &relay.fingerprint,
        "--draft",
        "18",
    ])
    .args([
        "--namespace",
        "ws/feed",
        "--track",
        "now",
        "--framing",
        "lines",
    ])
    .args(["--group-size", "1"])
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    let mut publisher = ChildGuard::spawn("tern publish", &mut cmd);
    let mut stdin = publisher.child.stdin.take().expect("stdin");
    let feeding = std::thread::spawn(move || {
        use std::io::Write;
        // A line a tenth of a second for at most a minute; stops when the publisher is gone.
        for n in 0..600 {
            if writeln!(stdin, "tick {n}")
                .and_then(|()| stdin.flush())
                .is_err()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let run = NodeRun::start(
        "moqnet.mjs",
        &[
            relay.https_url(),
            relay.fingerprint.clone(),
            "30000".to_owned(),
            MIN_VALUES.to_string(),
            ws,
            "ws/feed".to_owned(),
            "now".to_owned(),
        ],
    );
    let result = run.report(Duration::from_secs(90));
    eprintln!("@moq/net (websocket: {websocket}): {result}");
    drop(publisher);
    let _ = feeding.join();
    let transport = if websocket {
        "websocket"
    } else {
        "webtransport"
    };
    assert_eq!(result["transport"], transport, "{result}");
    let values = moq_net_values(&result, "moq-transport-20");
    // Consecutive ticks, as published.
    let n = |v: &str| {
        v.trim()
            .strip_prefix("tick ")
            .and_then(|n| n.parse::<u32>().ok())
    };
    let ticks: Vec<u32> = values.iter().filter_map(|v| n(v)).collect();
    assert_eq!(ticks.len(), values.len(), "{values:?}");
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "{values:?}");
}

#[test]
fn e2e_chromium_webtransport_clock() {
    common::page::chromium();

    // 1. The relay on 127.0.0.1:0 with its self-signed ECDSA certificate.
    let relay = Relay::start(&[]);

    // 2. The clock publisher: PUBLISH_NAMESPACE `clock`, track `now`, one group per minute,
    //    object 0 = "YYYY-MM-DD HH:MM:", then one object "SS" per second. Wait (bounded)
    //    until it printed its first time, i.e. it is connected and publishing.
    let clock = clock_publisher(&relay);

    // 3. The page server (clients/src/web.rs) on 127.0.0.1:0.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (page_addr, server) = runtime
        .block_on(web::serve(
            "127.0.0.1:0".parse().expect("addr"),
            relay.https_url(),
            relay.fingerprint.clone(),
        ))
        .expect("serve the page");

    // 4. Chromium via playwright-core: open the page, wait for the values, screenshot.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e_chromium");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let screenshot = shots.join("clock.png");
    let _ = std::fs::remove_file(&screenshot);
    let started = Instant::now();
    let run = NodeRun::start(
        "clock.mjs",
        &[
            format!("http://{page_addr}/"),
            screenshot.display().to_string(),
            PAGE_TIMEOUT_MS.to_string(),
            MIN_VALUES.to_string(),
        ],
    );
    let result = run.report(Duration::from_millis(PAGE_TIMEOUT_MS + 60_000));
    let elapsed = started.elapsed();
    server.abort();

    // 5. The result the page reported.
    eprintln!("chromium result ({:.1} s): {result}", elapsed.as_secs_f64());
    assert_eq!(result["ok"], true, "page did not show the clock: {result}");
    assert_eq!(
        result["errors"].as_array().map(Vec::len),
        Some(0),
        "page errors: {result}"
    );
    let values = texts(&result["values"]);
    assert!(
        values.len() >= MIN_VALUES,
        "only {} distinct values: {values:?}",
        values.len()
    );
    // Every value is a clock reading: the full time, or `…:SS` while the page has no
    // minute base yet; the seconds are two digits.
    for v in &values {
        let secs = v.rsplit(':').next().unwrap_or("");
        assert!(
            secs.len() == 2 && secs.bytes().all(|b| b.is_ascii_digit()),
            "not a clock value: {v:?}"
        );
    }
    // Full readings advance (a clock published once a second, delivered in order).
    let full: Vec<u32> = values.iter().filter_map(|v| seconds(v)).collect();
    for w in full.windows(2) {
        assert!(w[1] > w[0], "clock went backwards: {values:?}");
    }
    assert!(
        result["objects"].as_u64().unwrap_or(0) >= MIN_VALUES as u64,
        "objects: {result}"
    );
    assert_eq!(result["state"], "receiving", "page state: {result}");
    assert!(
        screenshot.is_file(),
        "no screenshot at {}",
        screenshot.display()
    );
    drop(clock);
    drop(relay);
}
