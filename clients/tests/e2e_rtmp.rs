//! RTMP publishers nobody here wrote, into `tern relay --rtmp`, played by a subscriber nobody
//! here wrote: ffmpeg (`-f flv rtmp://`, H.264 with and without B-frames, and AAC) and
//! GStreamer's `rtmp2sink` (an RTMP client written apart from ffmpeg's) publish, and Cloudflare's `moq-sub --catalog` writes the broadcast
//! into an MP4 that ffprobe decodes with the right codecs and size, its frames in presentation
//! order one frame apart (B-frames keep their composition offsets). FFmpeg 8.1 (through PyAV,
//! whose wheel carries it) publishes Enhanced RTMP: HEVC or AV1 with Opus, read back with
//! `tern subscribe` and decoded by ffprobe. Then the refusals in RTMP's own terms: playback
//! (`NetStream.Play.Failed`) and a URL that names no broadcast (`NetStream.Publish.BadName`),
//! each with the reason ffmpeg prints; and a path with static stream keys: no key or a wrong
//! one refused (`NetStream.Publish.Unauthorized`), a right one admitted and its identity kept
//! for take-over, the keys file reloaded while the relay runs, no key in the logs.
//!
//! RTMPS carries the same over TLS (ffmpeg's `rtmps://`).
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    ChildGuard, Lines, Relay, TempDir, TrackReader, ffprobe_streams, num, peer, pyav_python,
    stop_moq_sub, stream_of, tern, video_aac_frames,
};

const FPS: u64 = 30;

fn relay() -> (Relay, Lines, String) {
    let mut relay = Relay::start_with_stderr(&["--rtmp", "127.0.0.1:0"], Stdio::piped());
    let log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let rtmp = format!(
        "rtmp://{}",
        relay.rtmp.expect("the RTMP listener's address")
    );
    (relay, log, rtmp)
}

/// The presentation times (in the stream's time base) of the video frames of `path`, in
/// decode order.
fn frame_times(path: &std::path::Path) -> Vec<i64> {
    common::video_frames(path, "pts", false)
}

/// Publish `seconds` of test pattern and tone with ffmpeg (`video` are its encoder options) to
/// `url`, with moq-sub reading broadcast `ns`; the MP4's video must hold at least all but the
/// first two seconds of frames, each one frame after the other in presentation order.
fn publish_and_play(relay: &Relay, log: &mut Lines, url: &str, ns: &str, video: &[&str]) {
    let dir = TempDir::new("rtmp");
    let seconds = 6;
    let source = format!("testsrc=size=320x240:rate={FPS}:duration={seconds}");
    let tone = format!("sine=frequency=440:sample_rate=48000:duration={seconds}");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", &source, "-f", "lavfi", "-i", &tone])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "30"])
        .args(video)
        .args(["-c:a", "aac", "-f", "flv"])
        .arg(url);
    let mut ffmpeg = ChildGuard::spawn("ffmpeg", &mut cmd);
    log.expect(Duration::from_secs(10), "ffmpeg publishing", |l| {
        l.contains(&format!("publishes {ns}"))
    });
    let out = dir.0.join("out.mp4");
    let mut sub_cmd = Command::new(peer("moq-sub"));
    sub_cmd
        .args([
            "--name",
            ns,
            &relay.https_url(),
            "--catalog",
            "--tls-disable-verify",
        ])
        .stdout(std::fs::File::create(&out).expect("create out.mp4"))
        .stderr(Stdio::inherit());
    let sub = ChildGuard::spawn("moq-sub", &mut sub_cmd);
    // The AAC also comes as Opus, transcoded by the relay for WebRTC viewers.
    let opus = TrackReader::start(&relay.https_url(), ns, "audio-opus");
    let status = common::wait_exit(&mut ffmpeg, Duration::from_secs(seconds + 15));
    assert!(status.is_some_and(|s| s.success()), "ffmpeg: {status:?}");
    std::thread::sleep(Duration::from_millis(1500));
    stop_moq_sub(sub);
    let opus_out = dir.0.join("opus.mp4");
    opus.finish(Duration::from_secs(10), &opus_out);
    let opus_frames = common::audio_frames(&opus_out, "opus");
    // 50 Opus frames a second; the reader joined a second or two in.
    assert!(
        opus_frames >= 50 * (seconds - 3),
        "{opus_frames} Opus frames transcoded from {seconds} s of AAC"
    );
    let (frames, _) = video_aac_frames(&out, "h264", (320, 240));
    assert!(
        frames >= FPS * (seconds - 2),
        "{frames} video frames of {}",
        FPS * seconds
    );
    let mut times = frame_times(&out);
    assert!(
        times.len() as u64 >= frames - 1,
        "{} frame times",
        times.len()
    );
    times.sort_unstable();
    // One frame apart, to RTMP's millisecond precision (33 or 34 ms at 30 fps): wrong
    // composition offsets would put two frames at one time or leave a gap.
    let steps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let frame = 90_000 / FPS as i64;
    assert!(
        steps.iter().all(|s| (s - frame).abs() <= 90),
        "frames one apart in presentation order: {steps:?}"
    );
    log.expect(Duration::from_secs(5), "the broadcast's end", |l| {
        l.contains(&format!("finished publishing {ns}"))
    });
}

#[test]
fn e2e_ffmpeg_publishes_h264_with_b_frames_over_rtmp() {
    let (relay, mut log, rtmp) = relay();
    // x264's defaults: B-frames, so composition offsets are not zero.
    publish_and_play(
        &relay,
        &mut log,
        &format!("{rtmp}/live/bframes"),
        "live/bframes",
        &[],
    );
}

#[test]
fn e2e_ffmpeg_publishes_h264_without_b_frames_over_rtmp() {
    let (relay, mut log, rtmp) = relay();
    publish_and_play(
        &relay,
        &mut log,
        &format!(
            "{rtmp}/live/lowlatency?jwt=not-checked-without-a-plugin&key=no-keys-for-this-path"
        ),
        "live/lowlatency",
        &["-bf", "0", "-tune", "zerolatency"],
    );
    // The token and the stream key in the URL never reach the log.
    for secret in ["not-checked-without-a-plugin", "no-keys-for-this-path"] {
        assert!(
            !log.seen.iter().any(|l| l.contains(secret)),
            "{secret} was logged"
        );
    }
}

/// RTMPS (`--rtmps`): ffmpeg publishes over TLS (GnuTLS, not verifying, as OBS does not
/// with a self-signed certificate: the relay says at start that verifying encoders refuse it).
#[test]
fn e2e_ffmpeg_publishes_over_rtmps() {
    let mut relay = Relay::start_with_stderr(&["--rtmps", "127.0.0.1:0"], Stdio::piped());
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let rtmps = relay.rtmps.expect("the RTMPS listener's address");
    log.expect(Duration::from_secs(5), "the self-signed warning", |l| {
        l.contains(&format!("RTMPS on {rtmps} uses a self-signed certificate"))
    });
    publish_and_play(
        &relay,
        &mut log,
        &format!("rtmps://{rtmps}/live/secure"),
        "live/secure",
        &["-bf", "0"],
    );
}

#[test]
fn e2e_gstreamer_rtmp2sink_publishes_over_rtmp() {
    // A second RTMP client written apart from ffmpeg: GStreamer's rtmp2sink with flvmux.
    let (relay, mut log, rtmp) = relay();
    let dir = TempDir::new("rtmp-gst");
    let pipeline = format!(
        "videotestsrc num-buffers=180 is-live=true ! \
         video/x-raw,width=320,height=240,framerate=30/1 ! \
         x264enc tune=zerolatency key-int-max=30 ! h264parse ! \
         flvmux name=mux streamable=true ! rtmp2sink location={rtmp}/live/gst \
         audiotestsrc num-buffers=280 is-live=true ! audio/x-raw,rate=48000 ! audioconvert ! \
         voaacenc ! aacparse ! mux."
    );
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-q")
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null());
    let mut gst = ChildGuard::spawn(
        "gst-launch-1.0 (apt-get install gstreamer1.0-tools gstreamer1.0-plugins-bad \
         gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly)",
        &mut cmd,
    );
    log.expect(Duration::from_secs(10), "GStreamer publishing", |l| {
        l.contains("publishes live/gst")
    });
    let out = dir.0.join("out.mp4");
    let mut sub_cmd = Command::new(peer("moq-sub"));
    sub_cmd
        .args(["--name", "live/gst", &relay.https_url(), "--catalog"])
        .arg("--tls-disable-verify")
        .stdout(std::fs::File::create(&out).expect("create out.mp4"))
        .stderr(Stdio::inherit());
    let sub = ChildGuard::spawn("moq-sub", &mut sub_cmd);
    let status = common::wait_exit(&mut gst, Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "gst-launch: {status:?}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    stop_moq_sub(sub);
    let (frames, audio) = video_aac_frames(&out, "h264", (320, 240));
    assert!(frames >= FPS * 4, "{frames} video frames of {}", FPS * 6);
    assert!(audio > 100, "{audio} audio frames");
}

#[test]
fn e2e_rtmp_refusals_are_said_in_rtmps_terms() {
    let (_relay, _log, rtmp) = relay();
    // Playback.
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(format!("{rtmp}/live/anything"))
        .args(["-t", "1", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("play over MoQ, LL-HLS or WHEP"),
        "ffmpeg as a player: {err}"
    );
    // A URL that names no broadcast.
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-f", "lavfi", "-i"])
        .args(["testsrc=duration=1", "-c:v", "libx264", "-f", "flv"])
        .arg(format!("{rtmp}/live"))
        .output()
        .expect("ffmpeg");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("rtmp://HOST/APP/NAME"),
        "ffmpeg publishing to no name: {err}"
    );
}

/// FFmpeg 8.1 (PyAV) publishing `seconds` of `video` (`hevc`, `av1`) and Opus to `url` with
/// `clients/tests/pyav/publish.py`; its stdout and stderr read line by line.
fn pyav_publish(url: &str, video: &str, seconds: u64) -> (ChildGuard, Lines, Lines) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyav/publish.py");
    let mut cmd = Command::new(pyav_python());
    cmd.arg(script)
        .arg(url)
        .args(["--video", video, "--audio", "opus"])
        .args(["--seconds", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn("PyAV's publish.py", &mut cmd);
    let out = Lines::new(guard.child.stdout.take().expect("stdout"));
    let err = Lines::new(guard.child.stderr.take().expect("stderr"));
    (guard, out, err)
}

/// The broadcast's MSF catalog (its first object), read with `tern subscribe`.
fn catalog(relay: &Relay, ns: &str) -> serde_json::Value {
    let out = Command::new(tern())
        .args(["subscribe", &relay.https_url(), "--tls-disable-verify"])
        .args(["--namespace", ns, "--track", "catalog"])
        .args(["--max-objects", "1", "--connect-timeout", "5"])
        .stderr(Stdio::inherit())
        .output()
        .expect("tern subscribe");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the catalog of {ns} ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// FFmpeg 8.1 publishes `video` (FFmpeg's encoder choice: `hevc` is x265, `av1` SVT-AV1) and
/// Opus over Enhanced RTMP to broadcast `ns`: the catalog lists a `fourcc` video track at
/// 320x240 and a 48 kHz stereo Opus track; each track, read back with `tern subscribe` as a
/// fragmented MP4, decodes in ffprobe (`probed`: its name of the video codec) with the
/// frames sent, less those before the readers joined.
fn enhanced_rtmp(video: &str, fourcc: &str, probed: &str, ns: &str) {
    let (relay, mut log, rtmp) = relay();
    let dir = TempDir::new("rtmp-enhanced");
    let seconds = 6;
    let (mut publisher, mut out, mut err) = pyav_publish(&format!("{rtmp}/{ns}"), video, seconds);
    log.expect(Duration::from_secs(20), "PyAV publishing", |l| {
        l.contains(&format!("publishes {ns}"))
    });
    // The catalog comes with the tracks, once both configurations arrived.
    std::thread::sleep(Duration::from_secs(1));
    let catalog = catalog(&relay, ns);
    let tracks = catalog["tracks"].as_array().expect("tracks");
    let v = tracks
        .iter()
        .find(|t| t["name"] == "video-240p")
        .unwrap_or_else(|| panic!("no video-240p: {catalog}"));
    assert!(
        v["codec"].as_str().is_some_and(|c| c.starts_with(fourcc)),
        "{v}"
    );
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(240))
    );
    let a = tracks
        .iter()
        .find(|t| t["name"] == "audio-opus")
        .unwrap_or_else(|| panic!("no audio-opus: {catalog}"));
    assert_eq!(a["codec"], "opus", "{a}");
    assert_eq!(a["samplerate"], 48_000, "{a}");
    assert_eq!(a["channelConfig"], "2", "{a}");
    let video_reader = TrackReader::start(&relay.https_url(), ns, "video-240p");
    let audio_reader = TrackReader::start(&relay.https_url(), ns, "audio-opus");
    let status = common::wait_exit(&mut publisher, Duration::from_secs(seconds + 30));
    if !status.is_some_and(|s| s.success()) {
        let said = err.wait_for(usize::MAX, Duration::from_secs(1), |l| {
            !l.starts_with("Svt")
        });
        panic!("publish.py: {status:?}: {said:?}");
    }
    let sent = out.expect(Duration::from_secs(1), "what it sent", |l| {
        l.starts_with("sent ")
    });
    // "sent N video frames, M audio frames"
    let counts: Vec<u64> = sent
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let (sent_video, sent_audio) = (counts[0], counts[1]);
    assert!(sent_video >= FPS * seconds - 2, "{sent}");
    let (video_mp4, audio_mp4) = (dir.0.join("video.mp4"), dir.0.join("audio.mp4"));
    video_reader.finish(Duration::from_secs(10), &video_mp4);
    audio_reader.finish(Duration::from_secs(10), &audio_mp4);
    log.expect(Duration::from_secs(5), "the broadcast's end", |l| {
        l.contains(&format!("finished publishing {ns}"))
    });

    // The readers joined at the group being published when they subscribed, a few seconds
    // in: at most the first three seconds are missed.
    let streams = ffprobe_streams(&video_mp4);
    let v = stream_of(&streams, "video");
    assert_eq!(v["codec_name"], probed, "{v}");
    assert_eq!((num(v, "width"), num(v, "height")), (320, 240));
    let frames = num(v, "nb_read_frames");
    assert!(
        frames <= sent_video && frames + 3 * FPS >= sent_video,
        "{frames} {probed} frames decoded of {sent_video} sent"
    );
    let streams = ffprobe_streams(&audio_mp4);
    let a = stream_of(&streams, "audio");
    assert_eq!(a["codec_name"], "opus", "{a}");
    assert_eq!((num(a, "sample_rate"), num(a, "channels")), (48_000, 2));
    // 20 ms packets: 50 a second.
    let packets = num(a, "nb_read_frames");
    eprintln!(
        "{ns}: {frames} of {sent_video} {probed} frames and {packets} of {sent_audio} Opus \
         packets decoded"
    );
    assert!(
        packets <= sent_audio && packets + 3 * 50 >= sent_audio,
        "{packets} Opus packets decoded of {sent_audio} sent"
    );
}

#[test]
fn e2e_ffmpeg_8_1_publishes_hevc_and_opus_over_enhanced_rtmp() {
    enhanced_rtmp("hevc", "hvc1", "hevc", "live/pyav-hevc");
}

#[test]
fn e2e_ffmpeg_8_1_publishes_av1_and_opus_over_enhanced_rtmp() {
    enhanced_rtmp("av1", "av01", "av1", "live/pyav-av1");
}

/// ffmpeg publishing `seconds` of H.264 to `url` in real time, its stderr piped.
fn ffmpeg_publish(url: &str, seconds: u64) -> ChildGuard {
    let mut cmd = common::ffmpeg_live("160x120", seconds, false, common::ZERO_LATENCY);
    cmd.args(["-f", "flv", url]).stderr(Stdio::piped());
    ChildGuard::spawn("ffmpeg", &mut cmd)
}

/// What a short ffmpeg publication to `url` ended with: success, or ffmpeg's error.
fn short_publish(url: &str) -> Result<(), String> {
    let mut ffmpeg = ffmpeg_publish(url, 2);
    let mut err = Lines::new(ffmpeg.child.stderr.take().expect("stderr"));
    let status = common::wait_exit(&mut ffmpeg, Duration::from_secs(20));
    let said = err.wait_for(usize::MAX, Duration::from_millis(200), |_| true);
    match status {
        Some(s) if s.success() => Ok(()),
        _ => Err(format!("{status:?}: {said:?}")),
    }
}

/// Install `text` as the keys file `file` the way deployments do (a rename over it).
fn install_keys(file: &std::path::Path, text: &str) {
    let next = file.with_extension("next");
    std::fs::write(&next, text).expect("write keys");
    std::fs::rename(&next, file).expect("install keys");
}

#[test]
fn e2e_rtmp_stream_keys_refuse_admit_take_over_and_reload() {
    let dir = TempDir::new("rtmp-keys");
    let keys = dir.0.join("stream-keys.toml");
    install_keys(
        &keys,
        "[[key]]\npath = \"live/keyed\"\nkey = \"Vx3cam-key-1\"\nname = \"cam\"\n\
         [[key]]\npath = \"live/keyed\"\nkey = \"Vx3backup-key-1\"\nname = \"backup\"\n",
    );
    let config = dir.write(
        "relay.toml",
        &format!("[relay]\ntakeover = \"first\"\n[ingest]\nkeys_file = {keys:?}\n"),
    );
    let mut relay = Relay::start_with_stderr(
        &[
            "--rtmp",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ],
        Stdio::piped(),
    );
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let rtmp = format!("rtmp://{}/live", relay.rtmp.expect("RTMP"));

    // No key, a wrong key: refused with the reason.
    let err = short_publish(&format!("{rtmp}/keyed")).expect_err("no key");
    assert!(err.contains("a stream key is required"), "{err}");
    let err = short_publish(&format!("{rtmp}/keyed?key=Vx3guessed-key-1")).expect_err("wrong");
    assert!(err.contains("not one of"), "{err}");
    // Another path is not keyed.
    short_publish(&format!("{rtmp}/open")).expect("an unkeyed path");

    // The right key publishes under its name; another key of the path cannot take the
    // broadcast over (relay.takeover = "first"), the same key can.
    let mut first = ffmpeg_publish(&format!("{rtmp}/keyed?key=Vx3cam-key-1"), 12);
    log.expect(Duration::from_secs(10), "the keyed publisher", |l| {
        l.contains("publishes live/keyed with stream key \"cam\"")
    });
    std::thread::sleep(Duration::from_secs(2));
    let err = short_publish(&format!("{rtmp}/keyed?key=Vx3backup-key-1"))
        .expect_err("another key under relay.takeover = first");
    assert!(err.contains("relay.takeover"), "{err}");
    short_publish(&format!("{rtmp}/keyed?key=Vx3cam-key-1")).expect("the same key");
    let admitted = log.wait_for(2, Duration::from_secs(5), |l| {
        l.contains("publishes live/keyed with stream key \"cam\"")
    });
    assert_eq!(admitted.len(), 2, "{:?}", log.seen);
    let status = common::wait_exit(&mut first, Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| !s.success()),
        "the first connection lost its broadcast to the same key: {status:?}"
    );

    // A new file: the old keys go, the new one publishes, without a restart.
    install_keys(
        &keys,
        "[[key]]\npath = \"live/\"\nkey = \"Vx3every-live-key-2\"\n",
    );
    log.expect(Duration::from_secs(10), "the reload", |l| {
        l.contains("reloaded") && l.contains("1 stream keys")
    });
    let err = short_publish(&format!("{rtmp}/keyed?key=Vx3cam-key-1")).expect_err("old key");
    assert!(err.contains("not one of"), "{err}");
    short_publish(&format!("{rtmp}/keyed?key=Vx3every-live-key-2")).expect("the new key");
    log.expect(Duration::from_secs(5), "the new key's publisher", |l| {
        l.contains("publishes live/keyed with a stream key")
    });
    // A file that no longer parses keeps the keys in force, and says where it is wrong.
    install_keys(&keys, "[[key]]\npath = \"live/\"\nkey = \"Vx3short\"\n");
    log.expect(Duration::from_secs(10), "the bad file", |l| {
        l.contains("stream-keys.toml:3:") && l.contains("stay in force")
    });
    short_publish(&format!("{rtmp}/keyed?key=Vx3every-live-key-2")).expect("the keys in force");

    // No key reached the log.
    let _ = log.wait_for(usize::MAX, Duration::from_millis(500), |_| true);
    for key in ["Vx3cam", "Vx3backup", "Vx3guessed", "Vx3every", "Vx3short"] {
        assert!(
            !log.seen.iter().any(|l| l.contains(key)),
            "{key} was logged: {:?}",
            log.seen.iter().find(|l| l.contains(key))
        );
    }
}
