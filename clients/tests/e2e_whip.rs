//! WHIP publishers nobody here wrote, into `tern relay` (its HTTP listener and one UDP media
//! port): Debian's headless Chromium publishes its fake camera and microphone from the relay's
//! own `/publish.html` page (the browser's WebRTC stack: ICE, DTLS, SRTP, its H.264 or VP8
//! encoder and Opus), once with H.264 and once with VP8. The broadcast is read back with
//! `tern subscribe` and decoded by ffprobe (codec, size, frame count; the Opus also as the AAC
//! the relay transcodes), the H.264 one also by Cloudflare's `moq-sub --catalog`, and its
//! keyframes come at the relay's keyframe interval, which it asks the browser for (browsers
//! send keyframes only when asked). DELETE on the session URL ends the broadcast: the
//! subscriber sees the track end. Then RFC 9725's HTTP rules with a plain HTTP client: 415 without
//! `application/sdp`, 400 for an offer that is not SDP, 405 for PATCH, 404 for an unknown
//! session, OPTIONS with `Accept-Post`. And in a network namespace that drops the media
//! port's UDP, Chromium publishes over the ICE-TCP candidate. FFmpeg 8.1's `whip` muxer
//! (PyAV) publishes H.264 and Opus.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::page::NodeRun;
use common::{
    ChildGuard, Lines, NetNs, Relay, TempDir, TrackReader, ffprobe_streams, latest_catalog, num,
    peer, stop_moq_sub, tern,
};

fn relay(extra: &[&str]) -> (Relay, Lines, String) {
    let mut args = vec!["--http", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut relay = Relay::start_with_stderr(&args, Stdio::piped());
    let log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let http = relay.http.clone().expect("the HTTP listener's URL");
    (relay, log, http)
}

/// One HTTP/1.1 request; the status line and headers, and the body.
fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (String, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    s.write_all(body).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.to_owned(), body.to_owned())
}

/// The video of the fMP4 at `path` (the stream with frames: the init segment lists every track
/// of the broadcast), checked to be `codec` at `size`, and the Opus track beside it: its frame
/// count.
fn decoded(path: &std::path::Path, codec: &str, size: (u64, u64)) -> u64 {
    let streams = ffprobe_streams(path);
    let frames = common::frames;
    let v = streams
        .iter()
        .find(|s| s["codec_type"] == "video" && frames(s) > 0)
        .unwrap_or_else(|| panic!("no decoded video: {streams:?}"));
    assert_eq!(v["codec_name"], codec, "{streams:?}");
    assert_eq!((num(v, "width"), num(v, "height")), size, "{streams:?}");
    let a = streams.iter().find(|s| s["codec_type"] == "audio");
    assert_eq!(
        a.map(|a| &a["codec_name"]),
        Some(&"opus".into()),
        "{streams:?}"
    );
    frames(v)
}

/// Chromium publishes `codec` to `ns` for `seconds`, then DELETEs its session; the video track
/// read meanwhile decodes as `expect` at 640x360 with a keyframe about every 2 s.
fn chromium_publishes(codec: &str, expect: &str) {
    let (relay, mut log, http) = relay(&[]);
    let ns = format!("live/whip-{codec}");
    let seconds = 8;
    let page = format!("{http}/publish.html?path={ns}&codec={codec}&autostart=1");
    let browser = NodeRun::start("whip.mjs", &[page, seconds.to_string(), "delete".into()]);
    let line = log.expect(Duration::from_secs(30), "the browser publishing", |l| {
        l.contains(&format!("publishes {ns}"))
    });
    // The session exists: PATCH is refused as RFC 9725 says for an endpoint without trickle ICE
    // or ICE restarts.
    let id = line
        .split("(session ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .expect("the session ID in the log");
    let patch = [("Content-Type", "application/trickle-ice-sdpfrag")];
    let (head, _) = request(
        &http,
        "PATCH",
        &format!("/whip-session/{id}"),
        &patch,
        b"a=x",
    );
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("allow: delete"),
        "{head}"
    );
    // The tracks are published once the first keyframe is in.
    std::thread::sleep(Duration::from_millis(1500));
    let reader = TrackReader::start(&relay.https_url(), &ns, "video-360p");
    // The Opus also comes as AAC, transcoded by the relay for HLS viewers.
    let aac = TrackReader::start(&relay.https_url(), &ns, "audio-aac");
    let dir = TempDir::new("whip");
    // Cloudflare's moq-sub (H.264 and AAC only) plays the broadcast from its catalog.
    let moq_sub_out = dir.0.join("moq-sub.mp4");
    let moq_sub = (codec == "h264").then(|| {
        let mut cmd = Command::new(peer("moq-sub"));
        cmd.args([
            "--name",
            &ns,
            &relay.https_url(),
            "--catalog",
            "--tls-disable-verify",
        ])
        .stdout(std::fs::File::create(&moq_sub_out).expect("create"))
        .stderr(Stdio::null());
        ChildGuard::spawn("moq-sub", &mut cmd)
    });
    let report = browser.report(Duration::from_secs(seconds + 60));
    assert_eq!(report["ok"], true, "{report}");
    log.expect(
        Duration::from_secs(10),
        "DELETE ending the broadcast",
        |l| l.contains(&format!("ended {ns} (DELETE)")),
    );
    if let Some(sub) = moq_sub {
        stop_moq_sub(sub);
        let streams = ffprobe_streams(&moq_sub_out);
        let with = |kind: &str| {
            streams
                .iter()
                .find(|s| s["codec_type"] == kind && common::frames(s) > 0)
                .unwrap_or_else(|| panic!("moq-sub wrote no {kind}: {streams:?}"))
        };
        let (v, a) = (with("video"), with("audio"));
        assert_eq!(
            (v["codec_name"].as_str(), a["codec_name"].as_str()),
            (Some("h264"), Some("aac"))
        );
        assert_eq!((num(v, "width"), num(v, "height")), (640, 360));
        assert!(
            common::frames(v) >= 20 * (seconds - 4),
            "moq-sub: {streams:?}"
        );
    }
    let out = dir.0.join("out.mp4");
    reader.finish(Duration::from_secs(10), &out);
    let aac_out = dir.0.join("aac.mp4");
    aac.finish(Duration::from_secs(10), &aac_out);
    let aac_frames = common::audio_frames(&aac_out, "aac");
    // 46.9 AAC frames a second at 48 kHz.
    assert!(
        aac_frames >= 40 * (seconds - 4),
        "{aac_frames} AAC frames transcoded from the browser's Opus"
    );
    let frames = decoded(&out, expect, (640, 360));
    // Chromium's fake camera runs at 30 fps; the reader joined a second or two in.
    assert!(frames >= 20 * (seconds - 4), "{frames} frames");
    let keys: Vec<f64> = common::video_frames(&out, "pts_time", true);
    assert!(
        keys.len() >= 2 && keys.len() <= (seconds as usize) + 1,
        "keyframes at {keys:?}: the relay asks for one every 2 s, not more"
    );
    for pair in keys.windows(2) {
        let gap = pair[1] - pair[0];
        assert!((1.5..3.5).contains(&gap), "keyframes at {keys:?}");
    }
}

#[test]
fn chromium_publishes_h264_and_opus() {
    chromium_publishes("h264", "h264");
}

#[test]
fn chromium_publishes_vp8_and_opus() {
    chromium_publishes("vp8", "vp8");
}

#[test]
fn http_rules_of_rfc_9725() {
    let (_relay, _log, http) = relay(&[]);
    let (head, body) = request(
        &http,
        "POST",
        "/whip/live/x",
        &[("Content-Type", "text/plain")],
        b"v=0",
    );
    assert!(head.starts_with("HTTP/1.1 415"), "{head}\n{body}");
    assert!(body.contains("application/sdp"), "{body}");
    let (head, body) = request(
        &http,
        "POST",
        "/whip/live/x",
        &[("Content-Type", "application/sdp")],
        b"hello",
    );
    assert!(head.starts_with("HTTP/1.1 400"), "{head}\n{body}");
    assert!(body.contains("bad offer"), "{body}");
    let (head, _) = request(&http, "OPTIONS", "/whip/live/x", &[], b"");
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("accept-post: application/sdp"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("access-control-allow-origin: *"),
        "{head}"
    );
    let (head, _) = request(
        &http,
        "PATCH",
        "/whip-session/nope",
        &[("Content-Type", "application/trickle-ice-sdpfrag")],
        b"a=x",
    );
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, _) = request(&http, "DELETE", "/whip-session/nope", &[], b"");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, _) = request(&http, "GET", "/publish.html", &[], b"");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

/// A network that drops the relay's UDP media: Chromium connects over the ICE-TCP candidate
/// instead, and the broadcast plays. The relay runs in a network namespace this test creates,
/// on its veth address (so HTTPS with its self-signed certificate, which the browser is told
/// to accept); a rule there drops every UDP datagram from the media port.
#[test]
fn chromium_falls_back_to_ice_tcp_when_udp_is_blocked() {
    let netns = NetNs::create().unwrap_or_else(|e| panic!("network namespace (needs root): {e}"));
    let bind = format!("{}:0", netns.ns_ip);
    let mut cmd = netns.command(&tern());
    // The browser is on another host, as far as the relay can tell.
    cmd.args(["relay", "--bind", &bind])
        .env("TERN_RELAY_OPEN_PUBLISHING", "true");
    let mut relay = Relay::start_cmd_with_stderr(cmd, &["--http", &bind], Stdio::piped());
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let http = relay.http.clone().expect("the HTTP listener");
    assert!(
        http.starts_with("https://"),
        "off loopback it is HTTPS: {http}"
    );
    let media = relay.whip_udp.expect("the media port");
    // Nothing leaves the media port over UDP.
    netns.drop_udp_from(media.port(), 100).expect("nft rule");
    let ns = "live/whip-tcp";
    let seconds = 6;
    let page = format!("{http}/publish.html?path={ns}&autostart=1");
    let browser = NodeRun::start_with(
        "whip.mjs",
        &[page, seconds.to_string(), "delete".into()],
        &[("TERN_WHIP_INSECURE", "1")],
    );
    log.expect(Duration::from_secs(30), "connected over ICE-TCP", |l| {
        l.contains(&format!("{ns} connected over ICE-TCP"))
    });
    std::thread::sleep(Duration::from_millis(1500));
    let reader = TrackReader::start(&relay.https_url(), ns, "video-360p");
    let report = browser.report(Duration::from_secs(seconds + 60));
    assert_eq!(report["ok"], true, "{report}");
    let dir = TempDir::new("whip-tcp");
    let out = dir.0.join("out.mp4");
    reader.finish(Duration::from_secs(10), &out);
    let frames = decoded(&out, "h264", (640, 360));
    assert!(frames >= 20 * (seconds - 4), "{frames} frames over ICE-TCP");
}

/// FFmpeg 8.1's `whip` muxer (PyAV's wheel) publishes H.264 and Opus: its own ICE and DTLS
/// (it offers `a=setup:passive`, so the relay is the DTLS client, and its GnuTLS build signs
/// with a P-224 certificate), its own packetiser. Closing the muxer DELETEs the session.
#[test]
fn ffmpeg_whip_muxer_publishes() {
    let (relay, mut log, http) = relay(&[]);
    let ns = "live/whip-ffmpeg";
    let seconds = 6u64;
    let mut cmd = Command::new(common::pyav_python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/pyav/publish.py"
    ))
    .arg(format!("{http}/whip/{ns}"))
    .args(["--format", "whip", "--video", "h264", "--audio", "opus"])
    .args(["--seconds", &seconds.to_string(), "--size", "320x240"])
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut ffmpeg = common::ChildGuard::spawn("PyAV whip publisher", &mut cmd);
    log.expect(Duration::from_secs(20), "FFmpeg connected", |l| {
        l.contains(&format!("{ns} connected over UDP"))
    });
    std::thread::sleep(Duration::from_millis(500));
    let reader = TrackReader::start(&relay.https_url(), ns, "video-240p");
    let status = common::wait_exit(&mut ffmpeg, Duration::from_secs(seconds + 30));
    assert!(status.is_some_and(|s| s.success()), "PyAV: {status:?}");
    log.expect(Duration::from_secs(10), "the muxer's DELETE", |l| {
        l.contains(&format!("ended {ns} (DELETE)"))
    });
    let dir = TempDir::new("whip-ffmpeg");
    let out = dir.0.join("out.mp4");
    reader.finish(Duration::from_secs(10), &out);
    let frames = decoded(&out, "h264", (320, 240));
    assert!(frames >= 30 * (seconds - 3), "{frames} frames");
}

/// Chromium publishes VP8 simulcast (`rid`s h, m, l at full, half and quarter size): each
/// layer becomes a rendition of one alternate group in the catalog, without transcoding, and
/// each decodes at its own size. Chromium starts its larger layers only as its bandwidth
/// estimate grows, often after the broadcast's tracks were published: such a layer joins the
/// broadcast then (a new init segment and catalog).
#[test]
fn chromium_simulcast_becomes_renditions() {
    let (relay, mut log, http) = relay(&[]);
    let ns = "live/whip-simulcast";
    let seconds = 12;
    let page = format!("{http}/publish.html?path={ns}&codec=vp8&simulcast=1&autostart=1");
    let browser = NodeRun::start("whip.mjs", &[page, seconds.to_string(), "delete".into()]);
    log.expect(Duration::from_secs(30), "the browser connected", |l| {
        l.contains(&format!("{ns} connected over UDP"))
    });
    let read_catalog = || {
        serde_json::from_slice::<serde_json::Value>(&latest_catalog(&relay.https_url(), ns)).ok()
    };
    let video_count = |c: &serde_json::Value| {
        c["tracks"]
            .as_array()
            .map_or(0, |t| t.iter().filter(|t| t["role"] == "video").count())
    };
    // The latest catalog, until it lists two layers (at most 20 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let catalog = loop {
        let c = read_catalog();
        match c {
            Some(c) if video_count(&c) >= 2 => break c,
            _ if std::time::Instant::now() > deadline => {
                panic!("at least two layers within 20 s: {c:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    let videos: Vec<&serde_json::Value> = catalog["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .filter(|t| t["role"] == "video")
        .collect();
    assert!(
        videos
            .iter()
            .all(|t| t["altGroup"] == videos[0]["altGroup"]),
        "one alternate group: {catalog}"
    );
    let smallest = videos
        .iter()
        .min_by_key(|t| t["width"].as_u64())
        .expect("a layer");
    let (w, h) = (
        smallest["width"].as_u64().unwrap(),
        smallest["height"].as_u64().unwrap(),
    );
    assert!(
        w < 640,
        "a smaller layer than the camera's 640x360: {catalog}"
    );
    let name = smallest["name"].as_str().expect("name").to_owned();
    let reader = TrackReader::start(&relay.https_url(), ns, &name);
    let report = browser.report(Duration::from_secs(seconds + 60));
    assert_eq!(report["ok"], true, "{report}");
    let dir = TempDir::new("whip-simulcast");
    let out = dir.0.join("out.mp4");
    reader.finish(Duration::from_secs(10), &out);
    let frames = decoded(&out, "vp8", (w, h));
    assert!(frames >= 30, "{frames} frames of the {w}x{h} layer");
}

/// A path with a static stream key (`[ingest] keys_file`) takes a WHIP publisher only with the
/// key as its bearer token: the relay's page with a wrong token is refused (403, with the
/// reason, never the key), with the right one it publishes.
#[test]
fn stream_keys_ride_as_the_bearer_token() {
    let dir = TempDir::new("whip-keys");
    let keys = dir.write(
        "stream-keys.toml",
        "[[key]]\npath = \"live/keyed\"\nkey = \"Wh1p-studio-key\"\nname = \"studio\"\n",
    );
    let config = dir.write("relay.toml", &format!("[ingest]\nkeys_file = {keys:?}\n"));
    let (_relay, mut log, http) = relay(&["--config", config.to_str().expect("utf-8")]);
    let page =
        |token: &str| format!("{http}/publish.html?path=live/keyed&autostart=1&token={token}");
    let wrong = NodeRun::start(
        "whip.mjs",
        &[page("not-the-key-1"), "2".into(), "delete".into()],
    )
    .report(Duration::from_secs(60));
    assert_eq!(wrong["ok"], false, "{wrong}");
    let reason = wrong["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("403") && reason.contains("stream key"),
        "{wrong}"
    );
    let right = NodeRun::start(
        "whip.mjs",
        &[page("Wh1p-studio-key"), "3".into(), "delete".into()],
    )
    .report(Duration::from_secs(60));
    assert_eq!(right["ok"], true, "{right}");
    let published = log.expect(Duration::from_secs(10), "published with the key", |l| {
        l.contains("publishing live/keyed with")
    });
    assert!(
        !log.seen
            .iter()
            .any(|l| l.contains("Wh1p-studio-key") || l.contains("not-the-key-1")),
        "a key reached the log: {published}"
    );
}

/// Ownership over WHIP: a publisher with a path's stream key holds its broadcast; another key
/// of the path cannot take it over (`relay.takeover = "first"`: 409 with the reason), the
/// same key can, at once (a browser that reloads its page before the old session times out),
/// and the first publisher's session ends.
#[test]
fn the_same_key_takes_a_whip_broadcast_over_and_another_is_refused() {
    let dir = TempDir::new("whip-takeover");
    let keys = dir.write(
        "stream-keys.toml",
        "[[key]]\npath = \"live/owned\"\nkey = \"Wh1p-cam-key\"\nname = \"cam\"\n\
         [[key]]\npath = \"live/owned\"\nkey = \"Wh1p-backup-key\"\nname = \"backup\"\n",
    );
    let config = dir.write(
        "relay.toml",
        &format!("[relay]\ntakeover = \"first\"\n[ingest]\nkeys_file = {keys:?}\n"),
    );
    let (_relay, mut log, http) = relay(&["--config", config.to_str().expect("utf-8")]);
    let page =
        |token: &str| format!("{http}/publish.html?path=live/owned&autostart=1&token={token}");
    let first = NodeRun::start(
        "whip.mjs",
        &[page("Wh1p-cam-key"), "30".into(), "close".into()],
    );
    log.expect(Duration::from_secs(30), "the first publisher", |l| {
        l.contains("live/owned connected over UDP")
    });
    let other = NodeRun::start(
        "whip.mjs",
        &[page("Wh1p-backup-key"), "2".into(), "delete".into()],
    )
    .report(Duration::from_secs(60));
    assert_eq!(other["ok"], false, "{other}");
    let reason = other["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("409") && reason.contains("relay.takeover"),
        "{other}"
    );
    let again = NodeRun::start(
        "whip.mjs",
        &[page("Wh1p-cam-key"), "3".into(), "delete".into()],
    )
    .report(Duration::from_secs(60));
    assert_eq!(again["ok"], true, "the same key takes over: {again}");
    log.expect(Duration::from_secs(10), "the first session's end", |l| {
        l.contains("closing 127.0.0.1") && l.contains("another publisher took it over")
    });
    drop(first);
}
