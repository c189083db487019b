//! `tern relay` serves LL-HLS on its HTTP listener (`[hls]`, on by default): a broadcast
//! pushed over RTMP by ffmpeg is listed in `/hls/NAME/index.m3u8`, and its rendition's media
//! playlist lists parts. (The LL-HLS behaviour itself is tested in `gateway/tests/hls_e2e.rs`
//! and the gateway's unit tests; this checks the wiring into the binary.) And hls.js, in
//! low-latency mode in headless Chromium, plays a minute of it, while every playlist it fetches
//! passes `hls-parser` in strict mode and the gateway's own [`Checker`] (the spec's rules in
//! each text and across reloads). And ffmpeg, which reads segments and never parts, opens the
//! stream as plain HLS the moment it is listed. The HTTP listener speaks HTTP/2 too (h2c with
//! prior knowledge in clear text): curl fetches playlists, parts and a blocking reload with it.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::page::NodeRun;
use common::{ChildGuard, Relay, TempDir, ffprobe_streams, frames, http_get, num, stream_of};
use tern_gateway::hls::invariants::{Checker, Tally};

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
/// pattern (H.264, 30 fps, a keyframe a second) to it as broadcast `path`, with a tone in AAC
/// if `tone`: the relay, its HTTP base URL and the publisher, once the broadcast is listed.
fn relay_with_rtmp_broadcast(path: &str, seconds: u64, tone: bool) -> (Relay, String, ChildGuard) {
    let publish = common::ffmpeg_live("320x240", seconds, tone, common::ZERO_LATENCY);
    common::rtmp_broadcast(path, publish, &[], None, Stdio::null())
}

#[test]
fn the_relay_serves_ll_hls_of_an_rtmp_broadcast() {
    let (_relay, http, _ffmpeg) = relay_with_rtmp_broadcast("live/hls", 30, false);
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

/// GETs `url` with curl over HTTP/2 in clear text (prior knowledge, h2c): its status line
/// (`CODE VERSION SIZE`) and its body. One connection per request: curl 7.88 (Debian 12's)
/// breaks an h2c connection it reuses (curl/curl#10634, fixed in 8.0).
fn curl_h2c(url: &str) -> (String, String) {
    let out = output_within(
        "curl",
        Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                "--http2-prior-knowledge",
                "-o",
                "-",
            ])
            .args(["-w", "\n=> %{http_code} %{http_version} %{size_download}"])
            .arg(url),
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl {url}: {}: {stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, status) = stdout
        .rsplit_once("\n=> ")
        .unwrap_or_else(|| panic!("curl {url}: {stdout}"));
    (status.to_owned(), body.to_owned())
}

#[test]
fn the_relay_serves_ll_hls_over_http2_in_clear_text() {
    let (_relay, http, _ffmpeg) = relay_with_rtmp_broadcast("live/h2", 30, false);
    let addr = http
        .strip_prefix("http://")
        .expect("plain HTTP on loopback");
    let base = format!("{http}/hls/live/h2");
    let dir = format!("{base}/.t/video-240p");
    let over_h2 = |(status, body): &(String, String)| {
        let mut fields = status.split(' ');
        assert_eq!(
            (fields.next(), fields.next()),
            (Some("200"), Some("2")),
            "over HTTP/2: {status}: {body}"
        );
        assert!(fields.next().is_some_and(|size| size != "0"), "{status}");
    };
    let multivariant = curl_h2c(&format!("{base}/index.m3u8"));
    over_h2(&multivariant);
    assert!(
        multivariant.1.contains(".t/video-240p/media.m3u8"),
        "{multivariant:?}"
    );
    let media = curl_h2c(&format!("{dir}/media.m3u8"));
    over_h2(&media);
    let playlist = &media.1;
    let uri_of = |prefix: &str| {
        let line = playlist
            .lines()
            .rfind(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {playlist}"));
        line.split("URI=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("a URI: {line}"))
            .to_owned()
    };
    let part = uri_of("#EXT-X-PART:");
    over_h2(&curl_h2c(&format!("{dir}/{part}")));

    // The hinted part and the blocking reload that waits for it, at once: both held until
    // the part is complete, then answered over HTTP/2, the playlist listing the part. A hint
    // of a segment's first part, which always comes (a later part may not: its segment may
    // end first).
    let path = "/hls/live/h2/.t/video-240p/media.m3u8";
    let deadline = Instant::now() + Duration::from_secs(10);
    let hint = loop {
        let playlist = get_ok(addr, path, Duration::from_secs(5));
        let hint = playlist
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("a preload hint: {playlist}"))
            .to_owned();
        if hint.ends_with(".0.m4s") {
            break hint;
        }
        assert!(
            Instant::now() < deadline,
            "no hint of a first part: {playlist}"
        );
        std::thread::sleep(Duration::from_millis(40));
    };
    let (msn, index) = hint
        .strip_prefix("part-")
        .and_then(|p| p.strip_suffix(".m4s"))
        .and_then(|p| p.split_once('.'))
        .unwrap_or_else(|| panic!("a part URI: {hint}"));
    let blocking = format!("{dir}/media.m3u8?_HLS_msn={msn}&_HLS_part={index}");
    let hinted = format!("{dir}/{hint}");
    let (reload, held) = std::thread::scope(|s| {
        let reload = s.spawn(|| curl_h2c(&blocking));
        let held = s.spawn(|| curl_h2c(&hinted));
        (
            reload.join().expect("the blocking reload"),
            held.join().expect("the hinted part"),
        )
    });
    over_h2(&reload);
    over_h2(&held);
    assert!(
        reload.1.contains(&format!("URI=\"{hint}\"")),
        "the blocking reload lists the part it waited for: {}",
        reload.1
    );
}

/// `cmd`'s output, once it exits (within `timeout`, or the test fails).
fn output_within(name: &str, cmd: &mut Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn(name, cmd);
    let pipe = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = pipe(guard.child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = pipe(guard.child.stderr.take().map(|p| Box::new(p) as _));
    let status = common::wait_exit(&mut guard, timeout)
        .unwrap_or_else(|| panic!("{name} did not finish within {timeout:?}"));
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A stream's duration in seconds, as ffprobe writes it.
fn seconds(stream: &serde_json::Value) -> f64 {
    stream["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no duration: {stream}"))
}

#[test]
fn ffmpeg_reads_the_stream_as_plain_hls() {
    let (_relay, http, _ffmpeg) = relay_with_rtmp_broadcast("live/plain", 40, true);
    let url = format!("{http}/hls/live/plain/index.m3u8");

    // At once, while the renditions may not have a complete segment yet: a client that reads
    // segments only must still find both.
    let probe = output_within(
        "ffprobe",
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_streams",
                "-show_format",
                "-of",
                "json",
            ])
            .arg(&url),
        Duration::from_secs(30),
    );
    let json: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap_or_else(|e| {
        panic!(
            "ffprobe printed no JSON ({e}): {}",
            String::from_utf8_lossy(&probe.stderr)
        )
    });
    assert_eq!(json["format"]["format_name"], "hls", "{json}");
    let streams = json["streams"].as_array().cloned().unwrap_or_default();
    let video = stream_of(&streams, "video");
    assert_eq!(video["codec_name"], "h264", "{video}");
    assert_eq!((num(video, "width"), num(video, "height")), (320, 240));
    assert_eq!(video["r_frame_rate"], "30/1", "{video}");
    assert_eq!(stream_of(&streams, "audio")["codec_name"], "aac");

    // Five seconds of it, copied: every frame there, audio and video each at least 3 s.
    let dir = TempDir::new("hls-ffmpeg");
    let out = dir.0.join("five-seconds.mp4");
    let copy = output_within(
        "ffmpeg",
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
            .arg(&url)
            .args(["-t", "5", "-map", "0", "-c", "copy", "-y"])
            .arg(&out),
        Duration::from_secs(40),
    );
    assert!(
        copy.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&copy.stderr)
    );
    let streams = ffprobe_streams(&out);
    let video = stream_of(&streams, "video");
    let (video_frames, video_seconds) = (frames(video), seconds(video));
    assert!(
        (3.0..=5.5).contains(&video_seconds)
            && video_frames.abs_diff((video_seconds * 30.0).round() as u64) <= 2,
        "{video_frames} video frames in {video_seconds} s: {video}"
    );
    let audio = stream_of(&streams, "audio");
    assert_eq!(audio["codec_name"], "aac");
    let (audio_frames, audio_seconds) = (frames(audio), seconds(audio));
    let rate = num(audio, "sample_rate") as f64;
    assert!(
        (3.0..=5.5).contains(&audio_seconds)
            && (audio_frames as f64 * 1024.0 / rate - audio_seconds).abs() < 0.1,
        "{audio_frames} AAC frames in {audio_seconds} s: {audio}"
    );
    eprintln!(
        "ffmpeg: {video_frames} video frames in {video_seconds} s, {audio_frames} AAC frames in \
         {audio_seconds} s"
    );
}

/// How long hls.js plays: a minute, so that its playlists span delta updates (the Skip
/// Boundary is six 4 s Target Durations) and a window that has moved on.
const PLAY_SECONDS: u64 = 60;

/// GET `path` over HTTP/1.0: the status line and the body's bytes.
fn get_bytes(addr: &str, path: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("response");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: no header end"));
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, answer[split + 4..].to_vec())
}

/// The NAL unit types of the first sample of a CMAF part (`prft`, `moof`, `mdat` per frame):
/// its first `mdat`'s length-prefixed NAL units.
fn first_sample_nal_types(part: &[u8]) -> Vec<u8> {
    let mut rest = part;
    while rest.len() >= 8 {
        let size = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if size < 8 || size > rest.len() {
            break;
        }
        if &rest[4..8] == b"mdat" {
            let mut nals = &rest[8..size];
            let mut types = Vec::new();
            while nals.len() > 4 {
                let len = u32::from_be_bytes([nals[0], nals[1], nals[2], nals[3]]) as usize;
                if len == 0 || len > nals.len() - 4 {
                    break;
                }
                types.push(nals[4] & 0x1f);
                nals = &nals[4 + len..];
            }
            return types;
        }
        rest = &rest[size..];
    }
    Vec::new()
}

/// The parts the media playlist at `path` lists now, fetched: those `INDEPENDENT=YES` start
/// with an IDR picture (NAL unit type 5), the others do not. How many of each.
fn independent_parts_start_with_idr(addr: &str, path: &str) -> (usize, usize) {
    let playlist = get_ok(addr, path, Duration::from_secs(10));
    let base = &path[..path.rfind('/').expect("a directory") + 1];
    let (mut independent, mut others) = (0, 0);
    for line in playlist.lines().filter(|l| l.starts_with("#EXT-X-PART:")) {
        let uri = line
            .split("URI=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("a part URI: {line}"));
        let (status, bytes) = get_bytes(addr, &format!("{base}{uri}"));
        assert!(status.contains(" 200 "), "GET {uri}: {status}");
        let types = first_sample_nal_types(&bytes);
        assert!(!types.is_empty(), "{uri}: no NAL unit read");
        let idr = types.contains(&5);
        if line.contains("INDEPENDENT=YES") {
            assert!(
                idr,
                "{uri} is INDEPENDENT=YES; its first sample's NAL units: {types:?}"
            );
            independent += 1;
        } else {
            assert!(
                !idr,
                "{uri} starts with an IDR picture, not marked INDEPENDENT=YES"
            );
            others += 1;
        }
    }
    (independent, others)
}

/// Every playlist hls.js received, in order, through [`Checker`]: the test fails on the first
/// that breaks a rule, printing it. What was checked.
fn check_playlists(http: &str, texts: &[serde_json::Value]) -> Tally {
    let mut checker = Checker::new();
    for (n, entry) in texts.iter().enumerate() {
        let (url, text) = (
            entry["url"].as_str().unwrap_or_default(),
            entry["text"].as_str().unwrap_or_default(),
        );
        let path = url.strip_prefix(http).unwrap_or(url);
        if let Err(violation) = checker.check(path, text) {
            panic!("playlist {n} ({path}) breaks {violation}\n{text}");
        }
    }
    checker.tally()
}

/// hls.js plays a minute of an RTMP broadcast with a tone, in low-latency mode; every playlist
/// it fetches (multivariant, media, blocking reloads and delta updates) passes hls-parser in
/// strict mode and [`Checker`] (the spec's rules within each text and across each rendition's
/// reloads), and the video parts marked independent start with an IDR picture.
#[test]
fn hls_js_plays_an_rtmp_broadcast_in_low_latency_mode() {
    let (_relay, http, _ffmpeg) = relay_with_rtmp_broadcast("live/hlsjs", PLAY_SECONDS + 60, true);
    let addr = http
        .strip_prefix("http://")
        .expect("plain HTTP on loopback");

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
    let playlists = &r["playlists"];
    assert_eq!(
        playlists["rejected"].as_array().map(Vec::len),
        Some(0),
        "playlists hls-parser (strict) rejects: {}",
        playlists["rejected"]
    );
    assert_eq!(
        playlists["failed"].as_array().map(Vec::len),
        Some(0),
        "playlist requests answered with an error: {}",
        playlists["failed"]
    );
    let texts = playlists["texts"].as_array().cloned().unwrap_or_default();
    let tally = check_playlists(&http, &texts);
    let (independent, others) =
        independent_parts_start_with_idr(addr, "/hls/live/hlsjs/.t/video-240p/media.m3u8");
    eprintln!(
        "hls.js: {late} frames, latency {latency:.2} s, loaded {}; playlists checked: {tally:?}; \
         parts checked: {independent} independent, {others} others",
        r["loaded"]
    );
    assert!(latency < 4.0, "hls.js's latency: {latency} s");
    assert!(
        tally.multivariant >= 1 && tally.media >= 100 && tally.blocking >= 50,
        "playlists checked: {tally:?}"
    );
    assert!(tally.delta >= 1, "no delta update among {tally:?}");
    assert!(
        independent >= 1 && others >= 1,
        "{independent} independent parts, {others} others"
    );
}
