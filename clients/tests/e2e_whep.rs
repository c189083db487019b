//! `tern relay` serves WHEP on its HTTP listener (`[whep]`, on by default), media on the WHIP
//! UDP port: headless Chromium watches a broadcast that ffmpeg pushes over RTMP, with its own
//! RTCPeerConnection and with npm `whip-whep`'s client, and decodes video and Opus audio
//! (`getStats()`); a broadcast with B-frames is refused with the reason; one without an Opus
//! track is answered with an inactive audio section and a header saying why.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::page::NodeRun;
use common::{ChildGuard, Relay, http_get};
use serde_json::Value;

/// How long a viewer watches.
const WATCH_SECONDS: u64 = 12;

/// A relay with RTMP and HTTP listeners (`env` set for it) and ffmpeg publishing a 320x240 test
/// pattern with a tone to it as `path`, encoded with `x264`'s options: the relay, its HTTP base
/// URL and the publisher. Returns once the broadcast exists, and with the audio transcode on,
/// 3 s later: the Opus companion joins the catalog when its ffmpeg has started.
fn broadcast(path: &str, env: &[(&str, &str)], x264: &[&str]) -> (Relay, String, ChildGuard) {
    let mut cmd = Command::new(common::tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let relay = Relay::start_cmd_with_stderr(
        cmd,
        &["--rtmp", "127.0.0.1:0", "--http", "127.0.0.1:0"],
        Stdio::null(),
    );
    let rtmp = relay.rtmp.expect("rtmp address");
    let http = relay.http.clone().expect("http address");
    let mut ff = Command::new("ffmpeg");
    ff.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30:duration=120",
        ])
        .args(["-f", "lavfi", "-i", "sine=duration=120"])
        .args(["-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p"])
        .args(x264)
        .args(["-c:a", "aac", "-f", "flv"])
        .arg(format!("rtmp://{rtmp}/{path}"))
        .stderr(Stdio::null());
    let ffmpeg = ChildGuard::spawn("ffmpeg", &mut ff);
    // The multivariant playlist is the catalog read over HTTP: it exists once the broadcast
    // does.
    let addr = http.strip_prefix("http://").expect("plain HTTP").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = http_get(&addr, &format!("/hls/{path}/index.m3u8"));
        if a.contains(" 200 ") {
            break;
        }
        assert!(Instant::now() < deadline, "no broadcast {path}: {a}");
        std::thread::sleep(Duration::from_millis(300));
    }
    if !env.iter().any(|(k, _)| *k == "TERN_INGEST_TRANSCODE_AUDIO") {
        std::thread::sleep(Duration::from_secs(3));
    }
    (relay, http, ffmpeg)
}

fn watch(http: &str, path: &str, client: &str, seconds: u64) -> Value {
    let run = NodeRun::start(
        "whep.mjs",
        &[
            format!("{http}/whep/{path}"),
            seconds.to_string(),
            client.to_owned(),
        ],
    );
    run.report(Duration::from_secs(seconds + 60))
}

/// The last sample's field `key` of `kind` (video/audio), as a number.
fn last(r: &Value, kind: &str, key: &str) -> f64 {
    r["samples"]
        .as_array()
        .and_then(|s| s.last())
        .and_then(|s| s[kind][key].as_f64())
        .unwrap_or(0.0)
}

/// The first sample time (ms) at which video frames were decoded.
fn first_frame_ms(r: &Value) -> Option<u64> {
    r["samples"].as_array()?.iter().find_map(|s| {
        (s["video"]["framesDecoded"].as_u64().unwrap_or(0) > 0).then(|| s["t"].as_u64())?
    })
}

#[test]
fn chromium_watches_an_rtmp_broadcast_over_whep_with_opus_audio() {
    let path = "live/whep";
    let (_relay, http, _ffmpeg) = broadcast(path, &[], &["-tune", "zerolatency"]);
    let r = watch(&http, path, "pc", WATCH_SECONDS);
    eprintln!(
        "whep: answer {}, last sample {}",
        r["answer"]["status"],
        r["samples"]
            .as_array()
            .and_then(|s| s.last())
            .cloned()
            .unwrap_or_default()
    );
    assert_eq!(r["answer"]["status"], 201, "answer: {}", r["answer"]);
    assert!(
        r["answer"]["location"]
            .as_str()
            .is_some_and(|l| l.starts_with("/whep-session/")),
        "{}",
        r["answer"]
    );
    assert!(r["answer"]["audioInactive"].is_null(), "{}", r["answer"]);
    let frames = last(&r, "video", "framesDecoded");
    // 30 fps for WATCH_SECONDS; half of it is a loose floor.
    assert!(
        frames >= 15.0 * WATCH_SECONDS as f64,
        "frames decoded: {frames}: {}",
        r["samples"]
    );
    assert_eq!(last(&r, "video", "width"), 320.0);
    // The join: the current group's frames went out at once, so the first frame is decoded
    // within about a second of the answer (a skip to the next keyframe would wait up to a
    // group, 1 s here, plus connection set-up).
    let first = first_frame_ms(&r).expect("a frame decoded");
    assert!(first <= 2_500, "first frame decoded after {first} ms");
    // The squeezed join left the player at the live edge: its jitter buffer holds well under a
    // group.
    let jitter = last(&r, "video", "jitterBufferMs");
    assert!(jitter < 500.0, "mean jitter buffer delay {jitter} ms");
    // Once playing, it plays smoothly. (Chromium may pause video once at the start, when the
    // first RTCP sender reports let it synchronise video with the Opus track, which the
    // transcoder delivers later than the video.)
    let freezes_at = |t: u64| {
        r["samples"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["t"].as_u64().unwrap_or(0) >= t))
            .and_then(|s| s["video"]["freezeCount"].as_u64())
            .unwrap_or(0)
    };
    let (settled, end) = (freezes_at(3_000), freezes_at(WATCH_SECONDS * 1000));
    assert_eq!(
        settled, end,
        "video froze after the start: {}",
        r["samples"]
    );
    let samples = last(&r, "audio", "totalSamplesReceived");
    let concealed = last(&r, "audio", "concealedSamples");
    // 48 kHz Opus for most of the run.
    assert!(
        samples >= 48_000.0 * (WATCH_SECONDS as f64 - 4.0),
        "audio samples: {samples}"
    );
    assert!(
        concealed < samples * 0.2,
        "concealed {concealed} of {samples} audio samples"
    );
    assert_eq!(r["deleted"], 200, "DELETE: {}", r["deleted"]);
    assert!(
        r["errors"].as_array().is_none_or(Vec::is_empty),
        "{}",
        r["errors"]
    );
}

#[test]
fn whip_whep_client_watches_a_broadcast() {
    let path = "live/whepjs";
    let (_relay, http, _ffmpeg) = broadcast(path, &[], &["-tune", "zerolatency"]);
    let r = watch(&http, path, "whip-whep", 8);
    assert_eq!(r["answer"]["status"], 201, "{r}");
    let frames = last(&r, "video", "framesDecoded");
    assert!(frames >= 60.0, "frames decoded: {frames}: {}", r["samples"]);
    assert!(
        last(&r, "audio", "totalSamplesReceived") > 0.0,
        "{}",
        r["samples"]
    );
    assert_eq!(r["deleted"], 200);
}

#[test]
fn b_frames_are_refused_with_the_reason_and_no_opus_is_said() {
    // libx264's default (-bf 3 with the medium preset): B-frames, which WebRTC cannot carry.
    let path = "live/bframes";
    let (_relay, http, _ffmpeg) = broadcast(
        path,
        &[("TERN_INGEST_TRANSCODE_AUDIO", "false")],
        &["-bf", "3"],
    );
    let r = watch(&http, path, "pc", 1);
    assert_eq!(r["answer"]["status"], 422, "{}", r["answer"]);
    let text = r["answer"]["text"].as_str().unwrap_or("");
    assert!(text.contains("B-frames"), "{text}");

    // Without B-frames and without an Opus track: video plays, audio is inactive and said so.
    let path = "live/noopus";
    let (_relay, http, _ffmpeg) = broadcast(
        path,
        &[("TERN_INGEST_TRANSCODE_AUDIO", "false")],
        &["-tune", "zerolatency"],
    );
    let r = watch(&http, path, "pc", 6);
    assert_eq!(r["answer"]["status"], 201, "{}", r["answer"]);
    let why = r["answer"]["audioInactive"].as_str().unwrap_or("");
    assert!(why.contains("no Opus track"), "{}", r["answer"]);
    let sdp = r["answer"]["sdp"].as_str().unwrap_or("");
    let audio = sdp.split("m=audio").nth(1).unwrap_or("");
    let audio = audio.split("m=video").next().unwrap_or("");
    assert!(audio.contains("a=inactive"), "{sdp}");
    assert!(
        last(&r, "video", "framesDecoded") > 30.0,
        "{}",
        r["samples"]
    );
    assert_eq!(last(&r, "audio", "packetsReceived"), 0.0);
}
