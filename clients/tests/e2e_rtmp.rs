//! RTMP publishers nobody here wrote, into `tern relay --rtmp`, played by a subscriber nobody
//! here wrote: ffmpeg (`-f flv rtmp://`, H.264 with and without B-frames, and AAC) and
//! GStreamer's `rtmp2sink` (an RTMP client written apart from ffmpeg's) publish, and Cloudflare's `moq-sub --catalog` writes the broadcast
//! into an MP4 that ffprobe decodes with the right codecs and size, its frames in presentation
//! order one frame apart (B-frames keep their composition offsets). Then the refusals in RTMP's
//! own terms: playback (`NetStream.Play.Failed`) and a URL that names no broadcast
//! (`NetStream.Publish.BadName`), each with the reason ffmpeg prints.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ChildGuard, Lines, Relay, TempDir, peer, stop_moq_sub, video_aac_frames};

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
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries"])
        .args(["frame=pts", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
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
    let status = common::wait_exit(&mut ffmpeg, Duration::from_secs(seconds + 15));
    assert!(status.is_some_and(|s| s.success()), "ffmpeg: {status:?}");
    std::thread::sleep(Duration::from_millis(1500));
    stop_moq_sub(sub);
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
        &format!("{rtmp}/live/lowlatency?jwt=not-checked-without-a-plugin"),
        "live/lowlatency",
        &["-bf", "0", "-tune", "zerolatency"],
    );
    // The token in the URL never reaches the log.
    assert!(
        !log.seen
            .iter()
            .any(|l| l.contains("not-checked-without-a-plugin")),
        "a token was logged"
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
