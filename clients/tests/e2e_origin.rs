//! `tern origin` with peers nobody here wrote: an ffmpeg-made fragmented MP4 (H.264 without
//! B-frames + AAC) published by `tern origin`, through `tern relay` and through Cloudflare's
//! `moq-relay-ietf`, played by Cloudflare's `moq-sub --catalog` (it reads the catalogformat-01
//! `.catalog` and the `0.mp4` init track) into an MP4 that ffprobe reads with the right codecs,
//! size and frame count. The MSF `catalog` is read back with `tern subscribe`.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    CfRelay, ChildGuard, Lines, Relay, TempDir, TrackReader, catalog_track_names, ffprobe_streams,
    num, peer, stop_moq_sub, tern, test_av_args, wait_exit,
};

const FPS: u64 = 30;
const SECONDS: u64 = 6;

/// 6 s of 320x240 test pattern (keyframe every 30 frames, no B-frames) and a 48 kHz tone, as
/// fragmented MP4 with a fragment per frame.
fn make_input(dir: &Path) -> PathBuf {
    let path = dir.join("input.mp4");
    let status = Command::new("ffmpeg")
        .args(test_av_args("320x240", FPS, SECONDS, "ultrafast"))
        .args([
            "-f",
            "mp4",
            "-movflags",
            "cmaf+frag_every_frame+empty_moov+default_base_moof",
        ])
        .arg(&path)
        .status()
        .expect("run ffmpeg (apt-get install ffmpeg)");
    assert!(status.success(), "ffmpeg failed: {status}");
    path
}

/// Start `tern origin` on `url` and wait (bounded) until it announced its broadcast.
fn start_origin(url: &str, namespace: &str, args: &[&str]) -> (ChildGuard, Lines) {
    let mut cmd = Command::new(tern());
    cmd.args([
        "origin",
        url,
        "--tls-disable-verify",
        "--namespace",
        namespace,
    ])
    .args(args)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut origin = ChildGuard::spawn("tern origin", &mut cmd);
    let mut err = Lines::new(origin.child.stderr.take().expect("stderr"));
    let started = err.wait_for(1, Duration::from_secs(20), |l| {
        l.contains("tern: publishing")
    });
    assert!(
        !started.is_empty(),
        "tern origin did not start: {:?}",
        err.seen
    );
    (origin, err)
}

/// moq-sub --catalog from `url` into `out` until the origin ends (bounded), then SIGINT.
fn play_with_moq_sub(url: &str, namespace: &str, out: &Path, origin: &mut ChildGuard) {
    let mut cmd = Command::new(peer("moq-sub"));
    cmd.args([
        "--name",
        namespace,
        url,
        "--catalog",
        "--tls-disable-verify",
    ])
    .env("RUST_LOG", "info")
    .stdout(std::fs::File::create(out).expect("create out.mp4"))
    .stderr(Stdio::inherit());
    let sub = ChildGuard::spawn("moq-sub", &mut cmd);
    let status = wait_exit(origin, Duration::from_secs(SECONDS + 20)).expect("origin ends");
    assert!(status.success(), "tern origin failed: {status}");
    // Let the tail of the last group arrive, then stop moq-sub so it writes what it has.
    std::thread::sleep(Duration::from_millis(1500));
    stop_moq_sub(sub);
}

/// What moq-sub wrote: H.264 320x240 and AAC 48 kHz, with at least `min_video` frames, each
/// packet decoded but possibly the last one (moq-sub never flushes the bytes after the last
/// 0x0A it wrote).
fn check_output(path: &Path, min_video: u64, case: &str) {
    let streams = ffprobe_streams(path);
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap_or_else(|| panic!("{case}: no video stream: {streams:?}"));
    assert_eq!(video["codec_name"], "h264", "{case}");
    assert_eq!(
        (num(video, "width"), num(video, "height")),
        (320, 240),
        "{case}"
    );
    let (packets, frames) = (num(video, "nb_read_packets"), num(video, "nb_read_frames"));
    assert!(
        frames >= min_video && frames <= FPS * SECONDS && frames + 1 >= packets,
        "{case}: {frames} video frames decoded of {packets} packets (want ≥ {min_video})"
    );
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .unwrap_or_else(|| panic!("{case}: no audio stream: {streams:?}"));
    assert_eq!(audio["codec_name"], "aac", "{case}");
    assert_eq!(num(audio, "sample_rate"), 48_000, "{case}");
    // 1024 samples per AAC frame: 46.9 frames a second. The audio must span the video that
    // arrived, give or take the AAC frames lost at the edges by construction: the encoder's
    // priming frame, the source's last partial frame and the last fragment moq-sub never
    // flushes (each 21.3 ms; 100 ms allows all three and a little more, far less than a group).
    let audio_frames = num(audio, "nb_read_frames");
    let audio_ms = audio_frames * 1024 * 1000 / 48_000;
    let video_ms = frames * 1000 / FPS;
    assert!(
        audio_ms + 100 >= video_ms,
        "{case}: {audio_frames} audio frames ({audio_ms} ms) for {frames} video frames ({video_ms} ms)"
    );
    eprintln!("{case}: {frames} video frames, {audio_frames} audio frames");
}

#[test]
fn e2e_origin_through_tern_relay_plays_in_moq_sub() {
    let dir = TempDir::new("origin-tern");
    let input = make_input(&dir.0);
    let relay = Relay::start(&[]);
    let url = relay.https_url();
    let ns = "e2e/origin";
    let started = Instant::now();
    let (mut origin, _err) = start_origin(&url, ns, &["--input", input.to_str().expect("utf-8")]);

    // The MSF catalog, read back with tern's own subscriber.
    let msf = common::latest_catalog(&relay.moqt_url(), ns);
    let text = String::from_utf8_lossy(&msf);
    let catalog: serde_json::Value = serde_json::from_str(text.lines().next().unwrap_or(""))
        .unwrap_or_else(|e| panic!("MSF catalog is not JSON ({e}): {text}"));
    let tracks = catalog["tracks"].as_array().expect("tracks");
    assert_eq!(
        catalog_track_names(&catalog),
        ["video-240p", "audio-aac"],
        "{catalog}"
    );
    assert_eq!(tracks[0]["packaging"], "cmaf");
    assert_eq!(tracks[0]["role"], "video");
    assert!(
        tracks[0]["codec"]
            .as_str()
            .is_some_and(|c| c.starts_with("avc1."))
    );
    assert_eq!(tracks[1]["codec"], "mp4a.40.2");
    assert_eq!(tracks[1]["samplerate"], 48_000);

    // moq-sub joins after the first frames: the relay's cache still has every group.
    let out = dir.0.join("out.mp4");
    play_with_moq_sub(&url, ns, &out, &mut origin);
    check_output(&out, FPS * SECONDS - 2, "through tern relay");
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn e2e_origin_through_cloudflare_relay_plays_in_moq_sub() {
    let dir = TempDir::new("origin-cf");
    let input = make_input(&dir.0);
    let relay = CfRelay::start();
    let url = relay.https_url();
    let ns = "e2e/origin-cf";
    let (mut origin, _err) = start_origin(&url, ns, &["--input", input.to_str().expect("utf-8")]);
    // Cloudflare's relay keeps no history: moq-sub starts at the group being published when its
    // subscription reaches the origin, so at least the last 3 of the 6 seconds.
    let out = dir.0.join("out.mp4");
    play_with_moq_sub(&url, ns, &out, &mut origin);
    check_output(&out, FPS * 3, "through moq-relay-ietf");
}

/// Payloads of `length` framing (u32 big-endian length + bytes; zero-length records mark a new
/// group and are skipped).
/// HEVC in, HEVC out. Cloudflare's moq-sub 0.5 plays only avc1 and mp4a tracks, so the
/// broadcast is read back with `tern subscribe`: the init track and every object of the video
/// track, concatenated, are a fragmented MP4 that ffprobe decodes as HEVC of the right size and
/// frame count.
#[test]
fn e2e_origin_publishes_hevc() {
    let dir = TempDir::new("origin-hevc");
    let input = dir.0.join("hevc.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30:duration=3",
        ])
        .args(["-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1"])
        .args([
            "-x265-params",
            "bframes=0:keyint=30:min-keyint=30:scenecut=0:log-level=error",
        ])
        .args(["-pix_fmt", "yuv420p", "-f", "mp4"])
        .args([
            "-movflags",
            "cmaf+frag_every_frame+empty_moov+default_base_moof",
        ])
        .arg(&input)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg (libx265) failed: {status}");
    let relay = Relay::start(&[]);
    let url = relay.moqt_url();
    let ns = "e2e/hevc";
    let (mut origin, _err) = start_origin(
        &relay.https_url(),
        ns,
        &["--input", input.to_str().expect("utf-8")],
    );
    let reader = TrackReader::start(&url, ns, "video-240p");
    let status = wait_exit(&mut origin, Duration::from_secs(20)).expect("origin ends");
    assert!(status.success(), "tern origin: {status}");
    // The track ends with the input: the subscriber gets PUBLISH_DONE and exits.
    let path = dir.0.join("hevc-out.mp4");
    reader.finish(Duration::from_secs(10), &path);
    let streams = ffprobe_streams(&path);
    let v = &streams[0];
    assert_eq!(v["codec_name"], "hevc", "{streams:?}");
    assert_eq!((num(v, "width"), num(v, "height")), (320, 240));
    assert_eq!(num(v, "nb_read_frames"), 90, "3 s at 30 fps, every frame");
}
