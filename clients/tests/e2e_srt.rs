//! SRT publishers nobody here wrote, into `tern relay --srt`, played by a subscriber nobody
//! here wrote: libsrt's `srt-live-transmit` and ffmpeg (`-f mpegts srt://`) publish H.264 (and
//! ffmpeg H.265) with AAC in MPEG-TS, and Cloudflare's `moq-sub --catalog` writes the broadcast
//! into an MP4 that ffprobe reads with the right codecs, size and frame count. Then the refusals libsrt callers
//! get: playback asked for (`m=request`), a wrong, missing or unexpected passphrase, a key
//! length the path does not allow; and AES-128 and AES-256 with the path's passphrase. A path
//! with static stream keys refuses callers without one of its keys (`SRT_REJX_UNAUTHORIZED`)
//! and takes the right one, before and after its keys file is replaced; no key is logged.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    ChildGuard, Lines, Relay, TempDir, TrackReader, ffprobe_streams, make_test_ts, num, peer,
    stop_moq_sub, video_aac_frames,
};

const FPS: u64 = 30;
const SECONDS: u64 = 4;

fn srt_url(addr: SocketAddr, streamid: &str, extra: &str) -> String {
    format!("srt://{addr}?streamid={streamid}{extra}")
}

/// `srt-live-transmit -a:no file://con URL` (no reconnecting), its stdin a pipe, its output
/// read line by line.
fn srt_live_transmit(url: &str) -> (ChildGuard, Lines) {
    let mut cmd = Command::new("srt-live-transmit");
    cmd.args(["-a:no", "file://con", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn("srt-live-transmit (apt-get install srt-tools)", &mut cmd);
    let lines = Lines::new(guard.child.stderr.take().expect("stderr"));
    (guard, lines)
}

/// What a caller with `url` gets: connected, or libsrt's rejection message.
fn attempt(url: &str) -> String {
    let (mut guard, mut lines) = srt_live_transmit(url);
    let seen = lines.wait_for(1, Duration::from_secs(8), |l| {
        l.contains("SRT target connected") || l.contains("REJECT")
    });
    drop(guard.child.stdin.take());
    seen.first()
        .cloned()
        .unwrap_or_else(|| panic!("{url}: neither connected nor refused: {:?}", lines.seen))
}

/// `moq-sub --catalog` of broadcast `ns` on `relay`, writing `out`.
fn moq_sub(relay: &Relay, ns: &str, out: &Path) -> ChildGuard {
    let mut cmd = Command::new(peer("moq-sub"));
    cmd.args(["--name", ns, &relay.https_url(), "--catalog"])
        .arg("--tls-disable-verify")
        .stdout(std::fs::File::create(out).expect("create out.mp4"))
        .stderr(Stdio::inherit());
    ChildGuard::spawn("moq-sub", &mut cmd)
}

/// The MP4 moq-sub wrote holds `codec` 320x240 with `frames` video frames when `exact` (none
/// more, and none fewer but for the tail moq-sub cuts, see below), at least that many
/// otherwise, and 48 kHz AAC.
///
/// MPEG-TS does not say where a video PES packet ends (its length is zero) nor how long a
/// frame lasts: the last frame of a stream is complete, and its duration known, only when the
/// call ends. The broadcast then ends at once, and moq-sub stops writing at PUBLISH_DONE
/// without waiting for the streams it counts: the frames still in flight then are cut. Two on
/// an idle machine; a loaded CI machine once gave 111 of 120 (its log: moq-sub's tracks closed
/// at PUBLISH_DONE), so up to [`TAIL`] are allowed.
/// (The ingest's own completeness is measured by tern's reader, which waits for every stream:
/// `ingest_faults.rs`.)
fn check_mp4(out: &Path, codec: &str, frames: u64, exact: bool) {
    /// Frames moq-sub may cut at the end.
    const TAIL: u64 = 12;
    let (got, _) = video_aac_frames(out, codec, (320, 240));
    if exact {
        assert!(
            got + TAIL >= frames && got <= frames,
            "{got} video frames of {frames}"
        );
    } else {
        assert!(
            got >= frames,
            "{got} video frames, at least {frames} expected"
        );
    }
}

#[test]
fn e2e_srt_live_transmit_publishes_every_frame_and_moq_sub_plays_it() {
    let dir = TempDir::new("srt-slt");
    let mut ts = std::fs::read(make_test_ts(&dir.0, SECONDS)).expect("read ts");
    // srt-live-transmit sends whole 1316-byte chunks while its input is open: pad the stream
    // with null packets to a whole number of them.
    while !ts.len().is_multiple_of(1316) {
        ts.extend_from_slice(&[0x47, 0x1f, 0xff, 0x10]);
        ts.extend(std::iter::repeat_n(0xff, 184));
    }
    let relay = Relay::start(&["--srt", "127.0.0.1:0"]);
    let srt = relay.srt.expect("the SRT listener's address");
    let ns = "live/slt";
    // libsrt connects before it reads its input: the broadcast is announced at the handshake,
    // and moq-sub is there before the first frame.
    let (mut publisher, mut lines) = srt_live_transmit(&srt_url(srt, "publish:live/slt", ""));
    lines.expect(
        Duration::from_secs(10),
        "srt-live-transmit connected",
        |l| l.contains("connected"),
    );
    let out = dir.0.join("out.mp4");
    let sub = moq_sub(&relay, ns, &out);
    std::thread::sleep(Duration::from_millis(1500));
    // The stream at its own pace: SRT delivers at the time packets were sent.
    let mut stdin = publisher.child.stdin.take().expect("stdin");
    let chunks: Vec<&[u8]> = ts.chunks(1316).collect();
    let every = Duration::from_secs(SECONDS) / chunks.len() as u32;
    let start = std::time::Instant::now();
    for (i, c) in chunks.iter().enumerate() {
        stdin.write_all(c).expect("write to srt-live-transmit");
        let due = start + every * (i as u32 + 1);
        std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
    }
    stdin.flush().expect("flush");
    // Latency (120 ms) and the last packets' retransmissions, then the publisher hangs up
    // (SIGINT: libsrt closes the socket with a shutdown): the call's end completes the last
    // frames, which MPEG-TS alone cannot end.
    std::thread::sleep(Duration::from_millis(1500));
    drop(stdin);
    assert!(
        publisher.interrupt(Duration::from_secs(5)).is_some(),
        "srt-live-transmit did not stop"
    );
    std::thread::sleep(Duration::from_millis(1000));
    stop_moq_sub(sub);
    check_mp4(&out, "h264", FPS * SECONDS, true);
}

#[test]
fn e2e_ffmpeg_publishes_over_srt_with_the_access_control_stream_id() {
    let dir = TempDir::new("srt-ffmpeg");
    let seconds = 6;
    let input = make_test_ts(&dir.0, seconds);
    let mut relay = Relay::start_with_stderr(&["--srt", "127.0.0.1:0"], Stdio::piped());
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let srt = relay.srt.expect("the SRT listener's address");
    let ns = "live/ffmpeg";
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-i",
    ])
    .arg(&input)
    .args(["-c", "copy", "-f", "mpegts"])
    .arg(srt_url(srt, "#!::r=live/ffmpeg,m=publish", ""));
    let mut ffmpeg = ChildGuard::spawn("ffmpeg", &mut cmd);
    log.expect(Duration::from_secs(10), "ffmpeg publishing", |l| {
        l.contains("publishes live/ffmpeg")
    });
    let out = dir.0.join("out.mp4");
    let sub = moq_sub(&relay, ns, &out);
    let status = common::wait_exit(&mut ffmpeg, Duration::from_secs(seconds + 10));
    assert!(status.is_some_and(|s| s.success()), "ffmpeg: {status:?}");
    std::thread::sleep(Duration::from_millis(1500));
    stop_moq_sub(sub);
    // moq-sub joins once the broadcast exists, at the start of the group then being published:
    // at most its first two seconds are missed.
    check_mp4(&out, "h264", FPS * (seconds - 2), false);
    // ffmpeg ended its call: the broadcast ended with it.
    log.expect(Duration::from_secs(5), "the broadcast's end", |l| {
        l.contains("finished publishing live/ffmpeg")
    });
}

#[test]
fn e2e_libsrt_callers_get_srts_refusals_and_encrypt_with_the_paths_passphrase() {
    let dir = TempDir::new("srt-refusals");
    let keys = dir.0.join("srt-passphrases.toml");
    std::fs::write(
        &keys,
        "\"live/keyed\" = \"the path's passphrase\"\n\
         \"live/aes256\" = { passphrase = \"the path's passphrase\", key_length = 32 }\n",
    )
    .expect("write keys");
    let config = dir.write(
        "relay.toml",
        &format!("[srt]\npassphrases_file = {keys:?}\n"),
    );
    let relay = Relay::start(&["--srt", "127.0.0.1:0", "--config", config.to_str().unwrap()]);
    let srt = relay.srt.expect("the SRT listener's address");
    let pass = "&passphrase=the path's passphrase";

    // Every stream ID form publishes; playback over SRT is refused.
    for sid in ["#!::r=live/a,m=publish", "publish:live/b", "live/c"] {
        let got = attempt(&srt_url(srt, sid, ""));
        assert!(got.contains("connected"), "{sid}: {got}");
    }
    for sid in ["#!::r=live/a", "#!::r=live/a,m=request", "read:live/a"] {
        let got = attempt(&srt_url(srt, sid, ""));
        assert!(got.contains("REJECT"), "{sid}: {got}");
    }
    // The path's passphrase, with either key length the path leaves open.
    for len in [16, 32] {
        let got = attempt(&srt_url(
            srt,
            "live/keyed",
            &format!("{pass}&pbkeylen={len}"),
        ));
        assert!(got.contains("connected"), "AES-{}: {got}", len * 8);
    }
    let got = attempt(&srt_url(
        srt,
        "live/keyed",
        "&passphrase=not the passphrase",
    ));
    assert!(got.contains("Incorrect passphrase"), "{got}");
    let got = attempt(&srt_url(srt, "live/keyed", ""));
    assert!(got.contains("Password required"), "{got}");
    let got = attempt(&srt_url(srt, "live/open", pass));
    assert!(got.contains("Password required or unexpected"), "{got}");
    // A path that requires AES-256.
    let got = attempt(&srt_url(srt, "live/aes256", &format!("{pass}&pbkeylen=16")));
    assert!(got.contains("REJECT"), "{got}");
    let got = attempt(&srt_url(srt, "live/aes256", &format!("{pass}&pbkeylen=32")));
    assert!(got.contains("connected"), "{got}");
}

#[test]
fn e2e_ffmpeg_publishes_hevc_over_srt() {
    let dir = TempDir::new("srt-hevc");
    let seconds = 6;
    let mut relay = Relay::start_with_stderr(&["--srt", "127.0.0.1:0"], Stdio::piped());
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let srt = relay.srt.expect("the SRT listener's address");
    let source = format!("testsrc=size=320x240:rate={FPS}:duration={seconds}");
    let tone = format!("sine=frequency=440:sample_rate=48000:duration={seconds}");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", &source, "-f", "lavfi", "-i", &tone])
        .args([
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-x265-params",
            "log-level=error:keyint=30:min-keyint=30:scenecut=0:bframes=0",
        ])
        .args(["-c:a", "aac", "-f", "mpegts"])
        .arg(srt_url(srt, "#!::r=live/hevc,m=publish", ""));
    let mut ffmpeg = ChildGuard::spawn("ffmpeg (libx265)", &mut cmd);
    log.expect(Duration::from_secs(10), "ffmpeg publishing", |l| {
        l.contains("publishes live/hevc")
    });
    // Cloudflare's moq-sub writes only avc1 and mp4a: the video track is read back with
    // `tern subscribe` (init track and objects, a fragmented MP4) for ffprobe.
    let reader = TrackReader::start(&relay.https_url(), "live/hevc", "video-240p");
    let status = common::wait_exit(&mut ffmpeg, Duration::from_secs(seconds + 20));
    assert!(status.is_some_and(|s| s.success()), "ffmpeg: {status:?}");
    let out = dir.0.join("out.mp4");
    reader.finish(Duration::from_secs(10), &out);
    let streams = ffprobe_streams(&out);
    let v = &streams[0];
    assert_eq!(v["codec_name"], "hevc", "{streams:?}");
    assert_eq!((num(v, "width"), num(v, "height")), (320, 240));
    // It joined at the group being published when the broadcast appeared: at most the first
    // two seconds are missed.
    let frames = num(v, "nb_read_frames");
    assert!(frames >= FPS * (seconds - 2), "{frames} HEVC frames");
}

#[test]
fn e2e_srt_stream_keys_refuse_admit_and_reload() {
    let dir = TempDir::new("srt-keys");
    let keys = dir.0.join("stream-keys.toml");
    let install = |text: &str| {
        let next = keys.with_extension("next");
        std::fs::write(&next, text).expect("write keys");
        std::fs::rename(&next, &keys).expect("install keys");
    };
    install("[[key]]\npath = \"live/\"\nkey = \"Qz7first-key-1\"\nname = \"encoder\"\n");
    let config = dir.write("relay.toml", &format!("[ingest]\nkeys_file = {keys:?}\n"));
    let mut relay = Relay::start_with_stderr(
        &["--srt", "127.0.0.1:0", "--config", config.to_str().unwrap()],
        Stdio::piped(),
    );
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let srt = relay.srt.expect("the SRT listener's address");
    let with_key = |key: &str| format!("#!::r=live/cam1,m=publish,tern_key={key}");

    // A wrong key, no key: refused with SRT_REJX_UNAUTHORIZED (1401), which libsrt's caller
    // prints as an application-defined rejection: the relay's log names the code (once per
    // address every 10 s). The right key connects.
    let refused = |sid: &str| {
        let got = attempt(&srt_url(srt, sid, ""));
        assert!(got.contains("REJECT"), "{sid}: {got}");
    };
    refused(&with_key("Qz7guessed-key-1"));
    log.expect(Duration::from_secs(5), "the refusal", |l| {
        l.contains("SRT_REJX_UNAUTHORIZED") && l.contains("1401") && l.contains("not one of")
    });
    refused("#!::r=live/cam1,m=publish");
    let got = attempt(&srt_url(srt, &with_key("Qz7first-key-1"), ""));
    assert!(got.contains("connected"), "{got}");
    log.expect(Duration::from_secs(5), "the keyed caller", |l| {
        l.contains("publishes live/cam1 with stream key \"encoder\"")
    });
    // Another path is not keyed.
    let got = attempt(&srt_url(srt, "#!::r=other/cam1,m=publish", ""));
    assert!(got.contains("connected"), "{got}");

    // A new file, read while the relay runs: the old key is refused, the new one connects.
    install("[[key]]\npath = \"live/cam1\"\nkey = \"Qz7second-key-2\"\n");
    log.expect(Duration::from_secs(10), "the reload", |l| {
        l.contains("reloaded") && l.contains("1 stream keys")
    });
    refused(&with_key("Qz7first-key-1"));
    let got = attempt(&srt_url(srt, &with_key("Qz7second-key-2"), ""));
    assert!(got.contains("connected"), "{got}");

    // No key reached the log.
    let _ = log.wait_for(usize::MAX, Duration::from_millis(500), |_| true);
    for key in ["Qz7first", "Qz7second", "Qz7guessed"] {
        assert!(
            !log.seen.iter().any(|l| l.contains(key)),
            "{key} was logged: {:?}",
            log.seen.iter().find(|l| l.contains(key))
        );
    }
}
