//! `tern relay` serves LL-HLS on its HTTP listener (`[hls]`, on by default): a broadcast
//! pushed over RTMP by ffmpeg is listed in `/hls/NAME/index.m3u8`, and its rendition's media
//! playlist lists parts. (The LL-HLS behaviour itself is tested in `gateway/tests/hls_e2e.rs`
//! and the gateway's unit tests; this checks the wiring into the binary.) And hls.js, in
//! low-latency mode in headless Chromium, plays it, while every playlist it fetches passes
//! `hls-parser` in strict mode.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::page::NodeRun;
use common::{ChildGuard, Relay, http_get};

/// GET `path` until the answer is a 200 (at most `within`): its body.
fn get_ok(addr: &str, path: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let answer = http_get(addr, path);
        if let Some((head, body)) = answer.split_once("\r\n\r\n")
            && head.lines().next().is_some_and(|l| l.contains(" 200 "))
        {
            return body.to_owned();
        }
        assert!(Instant::now() < deadline, "GET {path}: {answer}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A relay with RTMP and HTTP listeners, and ffmpeg publishing `seconds` of a 320x240 test
/// pattern to it as broadcast `path`: the relay, its HTTP base URL and the publisher.
fn relay_with_rtmp_broadcast(path: &str, seconds: u64) -> (Relay, String, ChildGuard) {
    let relay = Relay::start_with_stderr(
        &["--rtmp", "127.0.0.1:0", "--http", "127.0.0.1:0"],
        Stdio::null(),
    );
    let rtmp = relay.rtmp.expect("rtmp address");
    let http = relay.http.clone().expect("http address");
    let mut cmd = common::ffmpeg_live("320x240", seconds, false);
    cmd.args(["-pix_fmt", "yuv420p", "-f", "flv"])
        .arg(format!("rtmp://{rtmp}/{path}"))
        .stderr(Stdio::null());
    let ffmpeg = ChildGuard::spawn("ffmpeg", &mut cmd);
    (relay, http, ffmpeg)
}

#[test]
fn the_relay_serves_ll_hls_of_an_rtmp_broadcast() {
    let (_relay, http, _ffmpeg) = relay_with_rtmp_broadcast("live/hls", 30);
    let addr = http
        .strip_prefix("http://")
        .expect("plain HTTP on loopback");

    let multivariant = get_ok(addr, "/hls/live/hls/index.m3u8", Duration::from_secs(20));
    let variant = multivariant
        .lines()
        .skip_while(|l| !l.starts_with("#EXT-X-STREAM-INF:"))
        .nth(1)
        .unwrap_or_else(|| panic!("a variant: {multivariant}"));
    assert!(variant.starts_with(".t/video-240p/"), "{multivariant}");
    let media = get_ok(
        addr,
        &format!("/hls/live/hls/{variant}"),
        Duration::from_secs(10),
    );
    assert!(media.contains("#EXT-X-TARGETDURATION:4"), "{media}");
    assert!(media.contains("#EXT-X-PART:"), "{media}");
    assert!(media.contains("#EXT-X-PRELOAD-HINT:"), "{media}");
}

/// How long hls.js plays.
const PLAY_SECONDS: u64 = 20;

#[test]
fn hls_js_plays_an_rtmp_broadcast_in_low_latency_mode() {
    let (_relay, http, _ffmpeg) = relay_with_rtmp_broadcast("live/hlsjs", 90);
    let addr = http
        .strip_prefix("http://")
        .expect("plain HTTP on loopback");
    get_ok(addr, "/hls/live/hlsjs/index.m3u8", Duration::from_secs(20));

    let run = NodeRun::start(
        "hls.mjs",
        &[
            format!("{http}/hls/live/hlsjs/index.m3u8"),
            PLAY_SECONDS.to_string(),
        ],
    );
    let r = run.report(Duration::from_secs(PLAY_SECONDS + 60));
    let errors = r["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        !errors.iter().any(|e| e["fatal"] == true),
        "hls.js failed: {errors:?}"
    );
    let samples = r["samples"].as_array().cloned().unwrap_or_default();
    let frames_at = |t_ms: u64| {
        samples
            .iter()
            .find(|s| s["t"].as_u64().unwrap_or(0) >= t_ms)
            .and_then(|s| s["frames"].as_u64())
            .unwrap_or(0)
    };
    // Playing by 5 s; then 30 frames a second (half of that is a loose floor).
    let (early, late) = (frames_at(5_000), frames_at((PLAY_SECONDS - 1) * 1000));
    assert!(
        early > 0 && late >= early + 15 * (PLAY_SECONDS - 6),
        "frames decoded at 5 s: {early}, at the end: {late}: {samples:?}"
    );
    assert!(
        r["loaded"]["parts"].as_u64().unwrap_or(0) > 0,
        "hls.js loaded parts (low-latency mode): {}",
        r["loaded"]
    );
    // hls.js's own estimate of its distance from the live edge, once playing: LL-HLS with
    // ~333 ms parts keeps it near PART-HOLD-BACK (1 s), far below a classic HLS's 6-30 s.
    let latency = samples
        .last()
        .and_then(|s| s["latency"].as_f64())
        .unwrap_or(f64::MAX);
    eprintln!(
        "hls.js: {late} frames, latency {latency:.2} s, {} playlists, loaded {}",
        r["playlists"]["fetched"], r["loaded"]
    );
    assert!(latency < 4.0, "hls.js's latency: {latency} s");
    let fetched = r["playlists"]["fetched"].as_u64().unwrap_or(0);
    assert!(fetched >= 10, "playlists fetched: {fetched}");
    assert_eq!(
        r["playlists"]["rejected"].as_array().map(Vec::len),
        Some(0),
        "playlists hls-parser (strict) rejects: {}",
        r["playlists"]["rejected"]
    );
}
