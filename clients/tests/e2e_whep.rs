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
use common::{ChildGuard, Lines, NetNs, Relay, http_get};
use serde_json::Value;

/// How long a viewer watches.
const WATCH_SECONDS: u64 = 12;

/// A relay with RTMP and HTTP listeners (`env` set for it) and ffmpeg publishing a 320x240 test
/// pattern with a tone to it as `path`, encoded with `x264`'s options: the relay, its HTTP base
/// URL and the publisher. Returns once the broadcast exists, and with the audio transcode on,
/// 3 s later: the Opus companion joins the catalog when its ffmpeg has started.
fn broadcast(path: &str, env: &[(&str, &str)], x264: &[&str]) -> (Relay, String, ChildGuard) {
    broadcast_as(path, env, x264, None)
}

/// [`broadcast`] published and listed with `token` ([`common::rtmp_broadcast`]).
fn broadcast_as(
    path: &str,
    env: &[(&str, &str)],
    x264: &[&str],
    token: Option<&str>,
) -> (Relay, String, ChildGuard) {
    let publish = common::ffmpeg_live("320x240", 120, true, x264);
    let broadcast = common::rtmp_broadcast(path, publish, env, token, Stdio::null());
    if !env.iter().any(|(k, _)| *k == "TERN_INGEST_TRANSCODE_AUDIO") {
        std::thread::sleep(Duration::from_secs(3));
    }
    broadcast
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
    let (_relay, http, _ffmpeg) = broadcast(path, &[], common::ZERO_LATENCY);
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
    // Once settled, it plays smoothly: under half a second frozen in all after the first 5 s,
    // at 25 frames a second or more.
    let at = |t: u64, key: &str| {
        r["samples"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["t"].as_u64().unwrap_or(0) >= t))
            .and_then(|s| s["video"][key].as_f64())
            .unwrap_or(0.0)
    };
    let end = WATCH_SECONDS * 1000;
    let frozen = at(end, "totalFreezesDuration") - at(5_000, "totalFreezesDuration");
    assert!(
        frozen < 0.5,
        "frozen {frozen} s after 5 s: {}",
        r["samples"]
    );
    let settled = at(end, "framesDecoded") - at(5_000, "framesDecoded");
    assert!(
        settled >= 25.0 * (end - 5_000) as f64 / 1000.0,
        "{settled} frames from 5 s to the end: {}",
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

/// A 1280x720 stream, one rendition (no rung to step down to), a 2 s GOP, x264 in CBR at
/// 3 Mbit/s (the filler is not forwarded: testsrc needs about 0.7 Mbit/s).
const HD_CBR: &[&str] = &[
    "-tune",
    "zerolatency",
    "-g",
    "60",
    "-b:v",
    "3000k",
    "-minrate",
    "3000k",
    "-maxrate",
    "3000k",
    "-bufsize",
    "1500k",
    "-x264-params",
    "nal-hrd=cbr:force-cfr=1",
];

#[test]
fn an_hd_stream_plays_from_its_join_without_a_freeze() {
    // Chromium decoding 720p in software beside ffmpeg encoding it: the join's burst (a
    // keyframe of tens of kB) reaches the player spread over a few hundred ms. Timed one tick
    // apart, its frames made Chromium hold every later frame until the next keyframe (0.6 to
    // 2.7 s frozen in 5 of 6 runs); timed at their arrival they play at once.
    let path = "live/whep-hd";
    let publish = common::ffmpeg_live("1280x720", 120, true, HD_CBR);
    let (_relay, http, _ffmpeg) = common::rtmp_broadcast(path, publish, &[], None, Stdio::null());
    std::thread::sleep(Duration::from_secs(3));
    let r = watch(&http, path, "pc", WATCH_SECONDS);
    assert_eq!(r["answer"]["status"], 201, "answer: {}", r["answer"]);
    assert_eq!(last(&r, "video", "width"), 1280.0, "{}", r["samples"]);
    // The burst of the join: the first picture within about a second of the answer.
    let first = first_frame_ms(&r).expect("a frame decoded");
    assert!(first <= 2_000, "first frame decoded after {first} ms");
    let frozen = last(&r, "video", "totalFreezesDuration");
    assert!(frozen < 0.5, "frozen {frozen} s in all: {}", r["samples"]);
    let frames = last(&r, "video", "framesDecoded");
    assert!(
        frames >= 20.0 * WATCH_SECONDS as f64,
        "frames decoded: {frames}: {}",
        r["samples"]
    );
}

#[test]
fn whip_whep_client_watches_a_broadcast() {
    let path = "live/whepjs";
    let (_relay, http, _ffmpeg) = broadcast(path, &[], common::ZERO_LATENCY);
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
        common::ZERO_LATENCY,
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

/// A narrow, lossy path from the relay to the viewer: the relay runs in a network namespace
/// this test creates, whose link to the host is capped at 700 kbit/s and drops 2 % of the
/// media port's datagrams. The source (640x360 at 1.5 Mbit/s) cannot fit; the ladder's 144p
/// rendition can. The bandwidth estimate moves the viewer down to it, NACKed packets are sent
/// again, and the video keeps playing.
#[test]
fn a_narrow_lossy_path_steps_down_the_ladder_and_recovers_losses() {
    let netns = NetNs::create().unwrap_or_else(|e| panic!("network namespace (needs root): {e}"));
    let bind = format!("{}:0", netns.ns_ip);
    let mut cmd = netns.command(&common::tern());
    cmd.args(["relay", "--bind", &bind])
        .env("TERN_RELAY_OPEN_PUBLISHING", "true")
        .env("TERN_INGEST_LADDER", "144p@150k");
    let mut relay =
        Relay::start_cmd_with_stderr(cmd, &["--http", &bind, "--rtmp", &bind], Stdio::piped());
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let http = relay.http.clone().expect("the HTTP listener");
    let media = relay.whip_udp.expect("the WebRTC port");
    let path = "live/whep-narrow";
    let mut ff = Command::new("ffmpeg");
    ff.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30:duration=120",
        ])
        .args(["-f", "lavfi", "-i", "sine=duration=120"])
        .args([
            "-c:v",
            "libx264",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-tune",
            "zerolatency",
        ])
        .args(["-b:v", "1500k", "-maxrate", "1500k", "-bufsize", "1500k"])
        .args(["-c:a", "aac", "-f", "flv"])
        .arg(format!("rtmp://{}/{path}", relay.rtmp.expect("rtmp")))
        .stderr(Stdio::null());
    let _ffmpeg = ChildGuard::spawn("ffmpeg", &mut ff);
    log.expect(Duration::from_secs(30), "the ladder's renditions", |l| {
        l.contains(&format!("{path}: the ladder's renditions are published"))
    });
    std::thread::sleep(Duration::from_secs(2));
    netns.cap(700).expect("tc tbf");
    netns.drop_udp_from(media.port(), 2).expect("nft rule");
    let seconds = 24;
    let run = NodeRun::start_with(
        "whep.mjs",
        &[
            format!("{http}/whep/{path}"),
            seconds.to_string(),
            "pc".into(),
        ],
        &[("TERN_WHEP_INSECURE", "1")],
    );
    let r = run.report(Duration::from_secs(seconds + 60));
    assert_eq!(r["answer"]["status"], 201, "{}", r["answer"]);
    let ladder = r["answer"]["ladder"].as_str().unwrap_or("");
    assert_eq!(ladder, "video-360p, video-144p", "{}", r["answer"]);
    let samples = r["samples"].as_array().cloned().unwrap_or_default();
    let heights: Vec<u64> = samples
        .iter()
        .filter_map(|s| s["video"]["height"].as_u64())
        .collect();
    eprintln!(
        "whep narrow: heights {heights:?}, last {:?}",
        samples.last()
    );
    assert!(heights.contains(&360), "started on the source: {heights:?}");
    assert_eq!(
        heights.last(),
        Some(&144),
        "moved down the ladder: {heights:?}"
    );
    let at = |t: u64, key: &str| {
        samples
            .iter()
            .find(|s| s["t"].as_u64().unwrap_or(0) >= t)
            .and_then(|s| s["video"][key].as_f64())
            .unwrap_or(0.0)
    };
    let end = seconds * 1000;
    let recent = at(end, "framesDecoded") - at(end - 6_000, "framesDecoded");
    assert!(recent >= 60.0, "{recent} frames in the last 6 s");
    assert!(
        at(end, "retransmitted") > 0.0,
        "lost packets were sent again: {:?}",
        samples.last()
    );
}

/// A broadcast published over WHIP as VP8 (Chromium's fake camera) is watched over WHEP as VP8:
/// no transcode, the publisher's frames packetised again. `/metrics` counts the offer, the
/// tracks read and, once the viewer left, no viewer.
#[test]
fn a_vp8_whip_broadcast_is_watched_as_vp8() {
    let mut relay = Relay::start_with_stderr(&["--http", "127.0.0.1:0"], Stdio::piped());
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let admin = common::admin_address(&mut log);
    let http = relay.http.clone().expect("http");
    let path = "live/whep-vp8";
    let page = format!("{http}/publish.html?path={path}&codec=vp8&autostart=1");
    let publisher = NodeRun::start("whip.mjs", &[page, "25".into(), "delete".into()]);
    // The broadcast exists once its catalog does; its Opus is the browser's own.
    common::wait_listed(&http, path, "");
    let r = watch(&http, path, "pc", 8);
    drop(publisher);
    assert_eq!(r["answer"]["status"], 201, "{}", r["answer"]);
    let samples = r["samples"].as_array().cloned().unwrap_or_default();
    let last = samples.last().cloned().unwrap_or_default();
    assert_eq!(last["video"]["codec"], "video/VP8", "{last}");
    assert!(
        last["video"]["framesDecoded"].as_f64().unwrap_or(0.0) >= 60.0,
        "{last}"
    );
    assert!(
        last["audio"]["totalSamplesReceived"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0,
        "{last}"
    );
    let metric = |name: &str| {
        let page = http_get(&admin, "/metrics");
        common::sample(&page, name).unwrap_or_else(|| panic!("{name} in /metrics: {page}"))
    };
    assert_eq!(metric("tern_whep_offers_total{result=\"answered\"}"), 1.0);
    // Video and audio.
    assert_eq!(metric("tern_whep_sources"), 2.0);
    // The DELETE ended the session.
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric("tern_whep_viewers") != 0.0 {
        assert!(
            Instant::now() < deadline,
            "a viewer still counted after DELETE"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A token signed with the token plugin's test key (`es`, ES256) for `subject`, allowed to
/// publish and subscribe under `publish` and `subscribe`.
fn mint(subject: &str, publish: &str, subscribe: &str) -> String {
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../edge-wasm/plugins/token/testdata/es256-private.pem");
    let out = Command::new(common::tern())
        .args(["token", "mint", "--alg", "ES256", "--kid", "es"])
        .args([
            "--subject",
            subject,
            "--audience",
            "tern-relay",
            "--issuer",
            "ops",
        ])
        .args(["--publish", publish, "--subscribe", subscribe, "--key"])
        .arg(key)
        .output()
        .expect("tern token mint");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

/// With the token plugin, a WHEP viewer's `Authorization: Bearer` token is judged as a MoQ
/// subscriber's: one allowed to subscribe to the broadcast watches it; one for another
/// namespace, and none at all, are refused (403) with the reason, while the first watches.
#[test]
fn the_viewers_bearer_token_is_judged_by_the_plugin() {
    let dir = common::TempDir::new("whep-token");
    let config = dir.0.join("token.json");
    std::fs::write(&config, tern_edge_wasm::testing::token_config(0)).expect("config");
    let path = "live/secure";
    let publisher = mint("encoder", path, path);
    let (_relay, http, _ffmpeg) = {
        let plugin = tern_edge_wasm::testing::plugin("token");
        let plugin = plugin.to_str().expect("UTF-8 path").to_owned();
        let config = config.to_str().expect("UTF-8 path").to_owned();
        broadcast_as(
            path,
            &[
                ("TERN_PLUGIN_FILE", plugin.as_str()),
                ("TERN_PLUGIN_CONFIG_FILE", config.as_str()),
            ],
            common::ZERO_LATENCY,
            Some(&publisher),
        )
    };
    let watch_with = |token: &str, seconds: u64| {
        let run = NodeRun::start(
            "whep.mjs",
            &[
                format!("{http}/whep/{path}"),
                seconds.to_string(),
                "pc".into(),
                token.to_owned(),
            ],
        );
        run.report(Duration::from_secs(seconds + 60))
    };
    let viewer = mint("viewer-1", "none", path);
    let r = watch_with(&viewer, 5);
    assert_eq!(r["answer"]["status"], 201, "{}", r["answer"]);
    assert!(
        last(&r, "video", "framesDecoded") > 30.0,
        "{}",
        r["samples"]
    );
    let elsewhere = mint("viewer-2", "none", "live/other");
    for (token, who) in [(elsewhere.as_str(), "another namespace's"), ("", "no")] {
        let r = watch_with(token, 1);
        assert_eq!(r["answer"]["status"], 403, "{who} token: {}", r["answer"]);
        assert!(
            r["answer"]["text"]
                .as_str()
                .is_some_and(|t| !t.trim().is_empty()),
            "a reason: {}",
            r["answer"]
        );
    }
}
