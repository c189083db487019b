//! The main job, `tern demo`: a root relay with the origin (the embedded clip) and a clock, an
//! edge relay linked to the root, and the web pages on the edge. A viewer of the edge gets the
//! broadcast the origin published at the root: its MSF catalog and frames of every rendition,
//! and Cloudflare's `moq-sub --catalog` plays it into an MP4 that ffprobe reads.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ChildGuard, Lines, TempDir, catalog_track_names, ffprobe_streams, num, peer, tern};

/// Start `tern demo` on free ports; returns it and the edge's `https://` URL and player URL.
fn start_demo() -> (ChildGuard, String, String) {
    let (demo, edge, player, _) = start_demo_printing();
    (demo, edge, player)
}

/// [`start_demo`], also returning every line the demo printed.
fn start_demo_printing() -> (ChildGuard, String, String, Vec<String>) {
    let mut cmd = Command::new(tern());
    cmd.args(["demo", "--port", "0", "--http-port", "0", "--srt-port", "0"])
        .args(["--rtmp-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut demo = ChildGuard::spawn("tern demo", &mut cmd);
    let mut out = Lines::new(demo.child.stdout.take().expect("stdout"));
    let lines = out.wait_for(1, Duration::from_secs(30), |l| l.starts_with("Ctrl-C"));
    assert!(!lines.is_empty(), "tern demo did not start: {:?}", out.seen);
    let find = |prefix: &str, within: &str| {
        out.seen
            .iter()
            .find_map(|l| {
                l.split_whitespace()
                    .find(|w| w.starts_with(prefix) && w.contains(within))
            })
            .map(|w| w.trim_end_matches(',').to_owned())
            .unwrap_or_else(|| panic!("no {prefix} in {:?}", out.seen))
    };
    let edge = find("https://", "");
    let player = find("http://", "/player.html?namespace=live/demo");
    (demo, edge, player, out.seen.clone())
}

/// The command the demo printed that runs `subcommand` (its words).
fn printed_command(printed: &[String], subcommand: &str) -> Vec<String> {
    printed
        .iter()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|w| w.len() > 2 && w[1] == subcommand && w.iter().any(|x| x == "live/mine"))
        .unwrap_or_else(|| panic!("no `{subcommand}` command printed: {printed:?}"))
}

#[test]
fn e2e_demo_prints_how_to_publish_and_the_printed_commands_work() {
    use std::io::Write;
    let (_demo, edge, _player, printed) = start_demo_printing();
    let publish = printed_command(&printed, "publish");
    let mut publisher = ChildGuard::spawn(
        "tern publish",
        Command::new(&publish[0])
            .args(&publish[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );
    let mut input = publisher.child.stdin.take().expect("stdin");
    writeln!(input, "first").expect("a line");
    std::thread::sleep(Duration::from_secs(1));
    let subscribe = printed_command(&printed, "subscribe");
    let mut viewer = ChildGuard::spawn(
        "tern subscribe",
        Command::new(&subscribe[0])
            .args(&subscribe[1..])
            .args(["--max-objects", "2", "--connect-timeout", "5"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let mut seen = Lines::new(viewer.child.stdout.take().expect("stdout"));
    for i in 0..20 {
        std::thread::sleep(Duration::from_millis(250));
        if writeln!(input, "line {i}").is_err() {
            break;
        }
    }
    let got = seen.wait_for(2, Duration::from_secs(10), |l| {
        l == "first" || l.starts_with("line ")
    });
    assert_eq!(got.len(), 2, "the subscriber printed: {:?}", seen.seen);

    // The demo's relays are a cluster: its root takes publishers that are members only.
    let root = printed
        .iter()
        .find_map(|l| l.split("linked to the root relay at ").nth(1))
        .map(|a| format!("moqt://{}", a.trim()))
        .unwrap_or_else(|| panic!("no root address printed: {printed:?}"));
    let mut outsider = Command::new(tern())
        .args(["publish", &root, "--tls-disable-verify"])
        .args(["--namespace", "live/outsider", "--track", "t"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tern publish");
    drop(outsider.stdin.take());
    let out = outsider.wait_with_output().expect("tern publish ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("cluster"),
        "a non-member published at the demo's root: {err}"
    );

    // The printed SRT and RTMP URLs take ffmpeg publishers: their broadcasts' catalogs reach a
    // viewer of the edge.
    let srt = printed
        .iter()
        .find(|l| l.contains("srt-live-transmit"))
        .and_then(|l| l.split('\'').nth(1))
        .unwrap_or_else(|| panic!("no SRT URL printed: {printed:?}"))
        .to_owned();
    publish_and_read_catalog(&edge, "mpegts", &srt, "live/cam1");
    let rtmp = printed
        .iter()
        .flat_map(|l| l.split_whitespace())
        .find(|w| w.starts_with("rtmp://") && w.ends_with("/cam2"))
        .unwrap_or_else(|| panic!("no RTMP URL printed: {printed:?}"))
        .to_owned();
    publish_and_read_catalog(&edge, "flv", &rtmp, "live/cam2");

    // The printed WHIP page publishes Chromium's fake camera as live/cam3.
    let page = printed
        .iter()
        .flat_map(|l| l.split_whitespace())
        .find(|w| w.contains("/publish.html?path=live/cam3"))
        .unwrap_or_else(|| panic!("no WHIP page printed: {printed:?}"))
        .to_owned();
    let browser = common::page::NodeRun::start(
        "whip.mjs",
        &[format!("{page}&autostart=1"), "4".into(), "delete".into()],
    );
    std::thread::sleep(Duration::from_secs(4));
    let catalog = Command::new(tern())
        .args(["subscribe", &edge, "--tls-disable-verify"])
        .args(["--namespace", "live/cam3", "--track", "catalog"])
        .args(["--max-objects", "1", "--connect-timeout", "5"])
        .output()
        .expect("tern subscribe");
    let text = String::from_utf8_lossy(&catalog.stdout);
    assert!(
        text.contains("avc1") && text.contains("opus"),
        "the catalog of live/cam3 published over WHIP: {text}"
    );
    let report = browser.report(Duration::from_secs(60));
    assert_eq!(report["ok"], true, "{report}");
}

/// ffmpeg publishes H.264 and AAC as `format` to `url`; the catalog of `ns` at `edge` lists both.
fn publish_and_read_catalog(edge: &str, format: &str, url: &str, ns: &str) {
    let mut ffmpeg = ChildGuard::spawn(
        "ffmpeg",
        common::ffmpeg_live("320x240", 6, true, common::ZERO_LATENCY).args(["-f", format, url]),
    );
    std::thread::sleep(Duration::from_secs(2));
    let catalog = Command::new(tern())
        .args(["subscribe", edge, "--tls-disable-verify"])
        .args(["--namespace", ns, "--track", "catalog"])
        .args(["--max-objects", "1", "--connect-timeout", "5"])
        .output()
        .expect("tern subscribe");
    let text = String::from_utf8_lossy(&catalog.stdout);
    assert!(
        text.contains("avc1") && text.contains("mp4a.40.2"),
        "the catalog of {ns} published as {format}: {text} {}",
        String::from_utf8_lossy(&catalog.stderr)
    );
    let _ = common::wait_exit(&mut ffmpeg, Duration::from_secs(10));
}

fn subscribe(url: &str, track: &str, objects: u32) -> Vec<u8> {
    let out = Command::new(tern())
        .args([
            "subscribe",
            url,
            "--tls-disable-verify",
            "--namespace",
            "live/demo",
        ])
        .args(["--track", track, "--framing", "length"])
        .args([
            "--max-objects",
            &objects.to_string(),
            "--connect-timeout",
            "5",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("tern subscribe");
    assert!(
        out.status.success(),
        "tern subscribe {track}: {}",
        out.status
    );
    out.stdout
}

/// Records of `length` framing: u32 big-endian length, then that many bytes (0: a new group).
fn records(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let n = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        data = &data[4..];
        if n == 0 {
            continue;
        }
        out.push(&data[..n.min(data.len())]);
        data = &data[n.min(data.len())..];
    }
    out
}

#[test]
fn e2e_demo_plays_the_clip_through_the_edge() {
    let (_demo, edge, player) = start_demo();
    assert!(
        player.contains("/player.html?namespace=live/demo"),
        "{player}"
    );

    // The MSF catalog, through the edge, lists the clip's five tracks.
    let catalog = subscribe(&edge, "catalog", 1);
    let recs = records(&catalog);
    let json: serde_json::Value = serde_json::from_slice(recs[0]).expect("catalog JSON");
    assert_eq!(
        catalog_track_names(&json),
        [
            "video-360p",
            "video-240p",
            "video-144p",
            "audio-aac",
            "audio-opus"
        ]
    );

    // Frames of a rendition: each a CMAF chunk with its publish stamp.
    let video = subscribe(&edge, "video-144p", 45);
    let frames = records(&video);
    assert_eq!(frames.len(), 45);
    assert!(
        frames
            .iter()
            .all(|f| &f[4..8] == b"prft" && f.windows(4).any(|w| w == b"mdat"))
    );

    // Cloudflare's moq-sub plays the broadcast from the edge.
    let dir = TempDir::new("demo");
    let out_path = dir.0.join("out.mp4");
    let mut cmd = Command::new(peer("moq-sub"));
    cmd.args([
        "--name",
        "live/demo",
        &edge,
        "--catalog",
        "--tls-disable-verify",
    ])
    .stdout(std::fs::File::create(&out_path).expect("create"))
    .stderr(Stdio::inherit());
    let mut sub = ChildGuard::spawn("moq-sub", &mut cmd);
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        sub.interrupt(Duration::from_secs(10)).is_some(),
        "moq-sub did not stop"
    );
    let streams = ffprobe_streams(&out_path);
    let video = streams
        .iter()
        .find(|s| s["codec_name"] == "h264" && s["height"] == 360)
        .unwrap_or_else(|| panic!("no 360p H.264 in moq-sub's output: {streams:?}"));
    let decoded = num(video, "nb_read_frames");
    assert!(decoded >= 60, "{decoded} frames in 4 s: {streams:?}");
    assert!(
        streams.iter().any(|s| s["codec_name"] == "aac"),
        "{streams:?}"
    );
}
