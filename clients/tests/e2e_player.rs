//! tern's browser player (`clients/web/player/`, served as `/player.html` + `/player.js`) in
//! Debian's headless Chromium, playing live media through `tern relay`:
//! ffmpeg (testsrc + sine, H.264 without B-frames + AAC, one CMAF fragment per frame) →
//! Cloudflare's `moq-pub` → `tern relay` → the page over WebTransport (draft-18).
//!
//! What it proves: the page finds no MSF `catalog` track and falls back to moq-pub's
//! catalogformat-01 `.catalog`; it reads the shared init track (`0.mp4`, one ftyp+moov with every
//! trak), subscribes to the video and audio tracks with a Joining FETCH, parses each object's
//! moof+mdat, decodes H.264 with WebCodecs onto the canvas (frames keep advancing, the picture is
//! not blank) and decodes AAC; moq-pub's objects carry no `prft`, so latency shows as unknown.
//! The second test publishes two video renditions and switches between them both ways. The
//! third publishes what a tern origin will (origin/README.md) from a small publisher in this
//! test: an MSF `catalog` with each track's own init segment in `initData`, and objects that
//! start with a `prft` publish stamp, so the page measures latency; it plays over WebTransport
//! (the page has no WebSocket URL), and, forced with `?transport=websocket`, over MoQ over a
//! WebSocket (QMux) to the relay's HTTP listener.
//!
//! Needs `/usr/bin/chromium`, ffmpeg, Node.js and `npm ci` in `clients/tests/chromium/`.
//! Every child is killed on drop; only 127.0.0.1 and port 0 are used; every wait is bounded.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::page::NodeRun;
use common::{ChildGuard, Lines, Relay, peer};
use tern::web;

/// How long the page may take for each of its checks.
const PAGE_TIMEOUT_MS: u64 = 40_000;
/// Seconds of media ffmpeg produces (more than the test needs; it is killed at the end).
const MEDIA_SECONDS: u32 = 90;

/// What ffmpeg encodes: testsrc 320x240 at 30 fps with a keyframe every 30 frames and no
/// B-frames, and a 440 Hz sine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    /// H.264 + AAC.
    H264Aac,
    /// H.264 320x240 and a 160x120 copy (two video tracks) + AAC.
    TwoH264Aac,
    /// HEVC (`hvc1`, which headless Chromium cannot decode) + Opus.
    HevcOpus,
}

/// ffmpeg at real-time pace writing `media` as CMAF with one fragment per frame on stdout.
fn ffmpeg(media: Media) -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc=size=320x240:rate=30:duration={MEDIA_SECONDS}"
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=48000:duration={MEDIA_SECONDS}"
        ));
    if media == Media::TwoH264Aac {
        cmd.args([
            "-filter_complex",
            "[0:v]split=2[hi][lo0];[lo0]scale=160:120[lo]",
            "-map",
            "[hi]",
            "-map",
            "[lo]",
            "-map",
            "1:a",
        ]);
    } else {
        cmd.args(["-map", "0:v", "-map", "1:a"]);
    }
    if media == Media::HevcOpus {
        cmd.args(["-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1"])
            .args([
                "-x265-params",
                "log-level=error:keyint=30:min-keyint=30:scenecut=0:bframes=0",
            ])
            .args(["-pix_fmt", "yuv420p"])
            .args(["-c:a", "libopus", "-b:a", "64k", "-ac", "2"]);
    } else {
        cmd.args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-pix_fmt", "yuv420p", "-bf", "0"])
        .args(["-g", "30", "-keyint_min", "30", "-sc_threshold", "0"])
        .args(["-c:a", "aac", "-b:a", "64k", "-ac", "2"]);
    }
    cmd.args(["-f", "mp4", "-movflags"])
        .arg("cmaf+frag_every_frame+empty_moov+default_base_moof")
        .arg("-");
    cmd
}

/// Who publishes ffmpeg's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publisher {
    /// Cloudflare's moq-pub: `.catalog`, `0.mp4`, `N.m4s`, no prft.
    MoqPub,
    /// [`msf::publish`]: `catalog` (MSF), `video`, `audio`, prft stamps.
    Msf,
}

/// Run the whole chain and return the page's JSON report.
fn play(
    case: &str,
    media: Media,
    publisher_kind: Publisher,
    page_first: bool,
    options: serde_json::Value,
) -> serde_json::Value {
    common::page::chromium();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e_player")
        .join(case);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test's directory");

    // 1. The relay on 127.0.0.1:0; with `"transport": "websocket"` in the options, with its HTTP
    // listener too, and the page plays over a WebSocket to it (`?transport=websocket`).
    let websocket = options["transport"] == "websocket";
    let relay = if websocket {
        Relay::start(&["--http", "127.0.0.1:0"])
    } else {
        Relay::start(&[])
    };
    let name = format!("e2e/{case}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");

    // The page server on 127.0.0.1:0, configured for this broadcast, and Chromium driven by
    // playwright-core.
    let screenshot = dir.join("player.png");
    let started = Instant::now();
    let open_page = || {
        let (page_addr, server) = runtime
            .block_on(web::serve_page(
                "127.0.0.1:0".parse().expect("addr"),
                web::PageConfig {
                    relay_url: relay.https_url(),
                    fingerprint_hex: relay.fingerprint.clone(),
                    namespace: name.clone(),
                    track: String::new(),
                    websocket: false,
                },
            ))
            .expect("serve the page");

        // `"rendition"` in the options opens the page on that rendition, in manual mode.
        let mut params: Vec<String> = options["rendition"]
            .as_str()
            .map(|r| format!("rendition={r}"))
            .into_iter()
            .collect();
        if websocket {
            params.push(format!("transport=websocket&websocket={}/", relay.ws_url()));
        }
        let query = match params.is_empty() {
            true => String::new(),
            false => format!("?{}", params.join("&")),
        };
        let run = NodeRun::start(
            "player.mjs",
            &[
                format!("http://{page_addr}/player.html{query}"),
                screenshot.display().to_string(),
                PAGE_TIMEOUT_MS.to_string(),
                options.to_string(),
            ],
        );
        (run, server)
    };
    let mut page = None;
    if page_first {
        // The page opens before the broadcast exists: it waits for the catalog.
        page = Some(open_page());
        std::thread::sleep(Duration::from_secs(3));
    }

    // 2. The publisher, fed by ffmpeg's stdout.
    let mut ff_cmd = ffmpeg(media);
    ff_cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut ffmpeg = ChildGuard::spawn("ffmpeg", &mut ff_cmd);
    let ff_out = ffmpeg.child.stdout.take().expect("ffmpeg stdout");
    let mut _moq_pub = None;
    let mut _msf_pub = None;
    match publisher_kind {
        Publisher::MoqPub => {
            // PUBLISH per track (`--publish`), so the relay holds every track from its first
            // object.
            let mut pub_cmd = Command::new(peer("moq-pub"));
            pub_cmd
                .args([
                    "--name",
                    &name,
                    &relay.https_url(),
                    "--tls-disable-verify",
                    "--publish",
                ])
                .env("RUST_LOG", "info")
                .stdin(Stdio::from(ff_out))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut publisher = ChildGuard::spawn("moq-pub", &mut pub_cmd);
            let mut pub_out = Lines::new(publisher.child.stdout.take().expect("moq-pub stdout"));
            let _pub_err = Lines::new(publisher.child.stderr.take().expect("moq-pub stderr"));
            // moq-pub prints `segment: G:S` for every group it opens: media is flowing.
            let segments = pub_out.wait_for(2, Duration::from_secs(30), |l| l.contains("segment:"));
            assert!(
                segments.len() >= 2,
                "moq-pub published no media within 30 s; it printed: {:?}",
                pub_out.seen
            );
            _moq_pub = Some(publisher);
        }
        Publisher::Msf => {
            let publisher = runtime
                .block_on(msf::publish(&relay.https_url(), &name, ff_out))
                .expect("MSF publisher");
            publisher.wait_for_groups(2, Duration::from_secs(30));
            _msf_pub = Some(publisher);
        }
    }

    // 3. The page (after the publisher, unless `page_first`).
    let (run, server) = match page.take() {
        Some(opened) => opened,
        None => open_page(),
    };
    let result = run.report(Duration::from_millis(3 * PAGE_TIMEOUT_MS + 60_000));
    server.abort();
    std::fs::write(dir.join("result.json"), result.to_string()).expect("write result.json");
    eprintln!(
        "player result ({:.1} s, screenshot {}): {result:#}",
        started.elapsed().as_secs_f64(),
        screenshot.display()
    );
    assert!(
        ffmpeg.child.try_wait().expect("ffmpeg").is_none(),
        "ffmpeg stopped early"
    );
    assert!(
        screenshot.is_file(),
        "no screenshot at {}",
        screenshot.display()
    );
    drop(_moq_pub);
    drop(_msf_pub);
    drop(ffmpeg);
    drop(relay);
    result
}

fn check_playing(result: &serde_json::Value, publisher: Publisher) {
    assert_eq!(result["ok"], true, "the page did not play: {result}");
    assert_eq!(
        result["errors"].as_array().map(Vec::len),
        Some(0),
        "page errors: {result}"
    );
    let player = &result["player"];
    let format = match publisher {
        Publisher::MoqPub => "catalogformat-01",
        Publisher::Msf => "msf",
    };
    assert_eq!(player["catalogFormat"], format, "{player}");
    assert_eq!(
        player["videoCodec"]
            .as_str()
            .map(|c| c.starts_with("avc1.")),
        Some(true),
        "{player}"
    );
    assert_eq!(player["audioCodec"], "mp4a.40.2", "{player}");
    assert!(
        player["framesDrawn"].as_u64().unwrap_or(0) >= 60,
        "{player}"
    );
    assert!(
        player["audioChunksDecoded"].as_u64().unwrap_or(0) > 20,
        "audio decoded: {player}"
    );
    if publisher == Publisher::MoqPub {
        // moq-pub writes no prft: every drawn frame's latency is unknown, and the page says so.
        assert_eq!(result["latencySamples"], 0, "{result}");
        assert_eq!(
            player["latencyUnknownFrames"], player["framesDrawn"],
            "{player}"
        );
        assert!(
            result["text"]["latency"]
                .as_str()
                .is_some_and(|t| t.starts_with("unknown")),
            "{result}"
        );
    }
    // The canvas shows testsrc (many colours), at the rendition's size.
    assert!(
        result["canvas"]["colours"].as_u64().unwrap_or(0) > 20,
        "{result}"
    );
}

/// The page is opened before the broadcast exists: it waits for a catalog, then plays.
#[test]
fn e2e_player_plays_moq_pub_broadcast() {
    let result = play(
        "single",
        Media::H264Aac,
        Publisher::MoqPub,
        true,
        serde_json::json!({ "minFrames": 30, "audio": true }),
    );
    check_playing(&result, Publisher::MoqPub);
    let player = &result["player"];
    assert_eq!(
        player["renditions"],
        serde_json::json!(["1.m4s"]),
        "{player}"
    );
    assert_eq!(player["rendition"], "1.m4s", "{player}");
    assert_eq!(
        (player["width"].as_u64(), player["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(player["audioTrack"], "2.m4s", "{player}");
    let waited = result["log"].as_array().is_some_and(|l| {
        l.iter().any(|x| {
            x.as_str()
                .is_some_and(|x| x.ends_with("waiting for the broadcast"))
        })
    });
    eprintln!("the page waited for the broadcast: {waited}");
}

#[test]
fn e2e_player_switches_renditions() {
    // Tracks: 1.m4s 320x240, 2.m4s 160x120, 3.m4s audio. The page starts on the largest, in
    // manual mode: this test is about switching by hand (auto mode, on a busy machine, may
    // step down before the test asks; the ABR tests are e2e_player_origin's).
    let result = play(
        "switch",
        Media::TwoH264Aac,
        Publisher::MoqPub,
        false,
        serde_json::json!({
            "minFrames": 30, "audio": true, "switchTo": "2.m4s", "rendition": "1.m4s"
        }),
    );
    check_playing(&result, Publisher::MoqPub);
    let player = &result["player"];
    assert_eq!(
        player["renditions"],
        serde_json::json!(["1.m4s", "2.m4s"]),
        "{player}"
    );
    assert_eq!(result["checks"]["switched"], true, "{result}");
    assert_eq!(result["checks"]["switchedBack"], true, "{result}");
    assert_eq!(result["switch"]["size"], "160x120", "{result}");
    assert_eq!(player["rendition"], "1.m4s", "{player}");
    assert_eq!(player["switches"], 2, "{player}");
    assert!(
        player["drawnByRendition"]["2.m4s"].as_u64().unwrap_or(0) >= 15,
        "{player}"
    );
}

#[test]
fn e2e_player_msf_catalog_and_latency() {
    let result = play(
        "msf",
        Media::H264Aac,
        Publisher::Msf,
        false,
        serde_json::json!({ "minFrames": 30, "audio": true }),
    );
    check_playing(&result, Publisher::Msf);
    let player = &result["player"];
    // No WebSocket URL (the page server is not the relay's HTTP listener): WebTransport.
    assert_eq!(player["transport"], "webtransport", "{player}");
    assert_eq!(
        player["renditions"],
        serde_json::json!(["video"]),
        "{player}"
    );
    assert_eq!(player["audioTrack"], "audio", "{player}");
    assert_eq!(
        (player["width"].as_u64(), player["height"].as_u64()),
        (Some(320), Some(240))
    );
    // Every frame carries a prft stamp: latency is measured for each one drawn. On loopback it
    // is the page's playout buffer plus delivery: well under two seconds, never negative.
    assert_eq!(player["latencyUnknownFrames"], 0, "{player}");
    assert!(
        result["latencySamples"].as_u64().unwrap_or(0) >= 30,
        "{result}"
    );
    let median = result["latencyMedianMs"].as_f64().expect("latency median");
    assert!(
        (0.0..2000.0).contains(&median),
        "median latency {median} ms: {result}"
    );
    assert!(
        result["text"]["latency"]
            .as_str()
            .is_some_and(|t| t.contains(" ms (median ")),
        "{result}"
    );
}

/// `?transport=websocket&websocket=ws://…/`: the page plays over MoQ over a WebSocket (QMux) to
/// the relay's HTTP listener, never trying WebTransport.
#[test]
fn e2e_player_plays_over_websocket() {
    let result = play(
        "websocket",
        Media::H264Aac,
        Publisher::Msf,
        false,
        serde_json::json!({ "minFrames": 30, "audio": true, "transport": "websocket" }),
    );
    check_playing(&result, Publisher::Msf);
    let player = &result["player"];
    assert_eq!(player["transport"], "websocket", "{player}");
    let logged = |text: &str| {
        result["log"].as_array().is_some_and(|l| {
            l.iter()
                .any(|x| x.as_str().is_some_and(|x| x.contains(text)))
        })
    };
    assert!(
        logged("transport: WebSocket only (asked for with ?transport=websocket)"),
        "{result}"
    );
    assert!(
        logged("transport: connected over WebSocket to ws://"),
        "{result}"
    );
    assert_eq!(
        (player["width"].as_u64(), player["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(player["latencyUnknownFrames"], 0, "{player}");
}

#[test]
fn e2e_player_names_unsupported_codec() {
    // HEVC video: headless Chromium has no decoder for it. The page says so, naming the codec,
    // and still plays the Opus audio.
    let result = play(
        "unsupported",
        Media::HevcOpus,
        Publisher::Msf,
        false,
        serde_json::json!({ "audio": true, "expectUnsupported": "hvc1" }),
    );
    assert_eq!(result["ok"], true, "{result}");
    let player = &result["player"];
    assert_eq!(player["state"], "unsupported codec", "{player}");
    assert_eq!(player["framesDrawn"], 0, "{player}");
    let message = result["message"].as_str().unwrap_or("");
    assert!(
        message.contains("cannot decode hvc1.") && message.contains("video"),
        "message: {message:?}"
    );
    assert_eq!(player["audioCodec"], "opus", "{player}");
    assert!(
        player["audioChunksDecoded"].as_u64().unwrap_or(0) > 20,
        "Opus audio decoded: {player}"
    );
}

/// A small stand-in for the tern origin (origin/README.md): ffmpeg's CMAF cut into MoQ objects,
/// one group per GOP on every track, one object per frame starting with a `prft` stamp, an MSF
/// catalog whose tracks carry their own init segment (ftyp + moov with that one trak).
mod msf {
    use std::io::Read;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use bytes::Bytes;
    use tern::client::{ConnectOptions, Session, TrackWriter};
    use tern_moq::TrackNamespace;

    /// Frames per GOP (ffmpeg's `-g 30`, no scene-cut keyframes).
    const GOP: u64 = 30;
    const FPS: u64 = 30;
    const VIDEO_ID: u32 = 1;
    const AUDIO_ID: u32 = 2;

    pub struct Publisher {
        _session: Session,
        groups: Arc<AtomicU64>,
        _thread: std::thread::JoinHandle<()>,
    }

    impl Publisher {
        /// Wait (bounded) until `n` video groups were published.
        pub fn wait_for_groups(&self, n: u64, timeout: Duration) {
            let deadline = Instant::now() + timeout;
            while self.groups.load(Ordering::SeqCst) < n {
                assert!(
                    Instant::now() < deadline,
                    "the MSF publisher published no media"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    pub async fn publish(
        url: &str,
        name: &str,
        mut input: impl Read + Send + 'static,
    ) -> anyhow::Result<Publisher> {
        let opts = ConnectOptions {
            disable_verify: true,
            ..ConnectOptions::default()
        };
        let session = Session::connect(url, &opts).await?;
        let ns = TrackNamespace::from_path(name);
        let catalog = TrackWriter::new(ns.clone(), "catalog");
        let video = TrackWriter::new(ns.clone(), "video");
        let audio = TrackWriter::new(ns.clone(), "audio");
        // The catalog needs the init segment: read ffmpeg's ftyp + moov first.
        let mut buf = Vec::new();
        let init = loop {
            let mut chunk = [0u8; 16 * 1024];
            let n = input.read(&mut chunk)?;
            anyhow::ensure!(n > 0, "ffmpeg ended before its moov");
            buf.extend_from_slice(&chunk[..n]);
            let b = boxes(&buf);
            if b.len() >= 2 && &b[1].0 == b"moov" {
                let len = b[0].1.len() + b[1].1.len();
                let init = buf[..len].to_vec();
                buf.drain(..len);
                break init;
            }
        };
        catalog.write_slice(catalog_json(&init).as_bytes())?;
        for t in [&catalog, &video, &audio] {
            session.publish(t).await?;
        }
        let groups = Arc::new(AtomicU64::new(0));
        let counter = groups.clone();
        let thread = std::thread::spawn(move || {
            let mut frames = 0u64;
            let mut audio_group: Option<u64> = None;
            let mut video_group: Option<u64> = None;
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                // Whole moof + mdat pairs from the front of the buffer.
                loop {
                    let b = boxes(&buf);
                    if b.len() < 2 {
                        break;
                    }
                    let (moof, mdat) = (b[0].1, b[1].1);
                    let used = moof.len() + mdat.len();
                    if &b[0].0 == b"moof" && &b[1].0 == b"mdat" {
                        let id = track_id(moof);
                        let mut payload = prft(id);
                        payload.extend_from_slice(moof);
                        payload.extend_from_slice(mdat);
                        if id == VIDEO_ID {
                            if frames.is_multiple_of(GOP) {
                                // Group ID: the GOP's first media time in milliseconds.
                                let g = frames * 1000 / FPS;
                                let _ = video.new_group(g);
                                video_group = Some(g);
                                counter.fetch_add(1, Ordering::SeqCst);
                            }
                            frames += 1;
                            let _ = video.write_object(Bytes::from(payload));
                        } else if id == AUDIO_ID
                            && let Some(g) = video_group
                        {
                            // Audio groups are cut where the video's are.
                            if audio_group != Some(g) {
                                let _ = audio.new_group(g);
                                audio_group = Some(g);
                            }
                            let _ = audio.write_object(Bytes::from(payload));
                        }
                    }
                    buf.drain(..used);
                }
                match input.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            // Keep the tracks until the test ends (the session is dropped then).
            std::thread::park();
            drop((catalog, video, audio));
        });
        Ok(Publisher {
            _session: session,
            groups,
            _thread: thread,
        })
    }

    /// Top-level boxes of `data` that are complete: (type, whole box).
    fn boxes(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
        let mut out = Vec::new();
        let mut at = 0usize;
        while data.len() - at >= 8 {
            let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap_or_default()) as usize;
            let kind: [u8; 4] = data[at + 4..at + 8].try_into().unwrap_or_default();
            if size < 8 || size > data.len() - at {
                break;
            }
            out.push((kind, &data[at..at + size]));
            at += size;
        }
        out
    }

    fn mk_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + body.len());
        out.extend_from_slice(&((8 + body.len()) as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    /// The tfhd track ID of a moof's first traf.
    fn track_id(moof: &[u8]) -> u32 {
        for (kind, traf) in boxes(&moof[8..]) {
            if &kind == b"traf" {
                for (k, tfhd) in boxes(&traf[8..]) {
                    if &k == b"tfhd" {
                        return u32::from_be_bytes(tfhd[12..16].try_into().unwrap_or_default());
                    }
                }
            }
        }
        0
    }

    /// `prft` version 1: the track, NTP wall-clock time now, media time 0 (unused here).
    fn prft(track: u32) -> Vec<u8> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs() + 2_208_988_800;
        let frac = (u64::from(now.subsec_nanos()) << 32) / 1_000_000_000;
        let mut body = vec![1, 0, 0, 0];
        body.extend_from_slice(&track.to_be_bytes());
        body.extend_from_slice(&((secs << 32) | frac).to_be_bytes());
        body.extend_from_slice(&0u64.to_be_bytes());
        mk_box(b"prft", &body)
    }

    /// ftyp + moov with only the trak (and trex) of `track`.
    fn init_for(init: &[u8], track: u32) -> Vec<u8> {
        let top = boxes(init);
        let mut moov = Vec::new();
        for (kind, b) in boxes(&top[1].1[8..]) {
            match &kind {
                b"trak" => {
                    let tkhd = boxes(&b[8..])
                        .into_iter()
                        .find(|(k, _)| k == b"tkhd")
                        .map(|(_, t)| t)
                        .unwrap_or_default();
                    let off = if tkhd.get(8) == Some(&1) { 28 } else { 20 };
                    if tkhd.len() >= off + 4
                        && u32::from_be_bytes(tkhd[off..off + 4].try_into().unwrap_or_default())
                            == track
                    {
                        moov.extend_from_slice(b);
                    }
                }
                b"mvex" => {
                    let mut mvex = Vec::new();
                    for (k, x) in boxes(&b[8..]) {
                        let keep = &k != b"trex"
                            || u32::from_be_bytes(x[12..16].try_into().unwrap_or_default())
                                == track;
                        if keep {
                            mvex.extend_from_slice(x);
                        }
                    }
                    moov.extend(mk_box(b"mvex", &mvex));
                }
                _ => moov.extend_from_slice(b),
            }
        }
        let mut out = top[0].1.to_vec();
        out.extend(mk_box(b"moov", &moov));
        out
    }

    fn base64(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in data.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn catalog_json(init: &[u8]) -> String {
        let avcc = init
            .windows(4)
            .position(|w| w == b"avcC")
            .map(|i| &init[i + 4..i + 8])
            .unwrap_or(&[1, 0x64, 0, 0x0d]);
        let has = |kind: &[u8]| init.windows(4).any(|w| w == kind);
        let codec = if has(b"hvcC") {
            "hvc1".to_owned()
        } else {
            format!("avc1.{:02x}{:02x}{:02x}", avcc[1], avcc[2], avcc[3])
        };
        let audio_codec = if has(b"dOps") { "opus" } else { "mp4a.40.2" };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        serde_json::json!({
            "version": 1,
            "generatedAt": now.as_millis() as u64,
            "tracks": [
                {
                    "name": "video", "packaging": "cmaf", "isLive": true, "role": "video",
                    "codec": codec, "width": 320, "height": 240, "framerate": FPS,
                    "renderGroup": 1, "altGroup": 1,
                    "initData": base64(&init_for(init, VIDEO_ID)),
                },
                {
                    "name": "audio", "packaging": "cmaf", "isLive": true, "role": "audio",
                    "codec": audio_codec, "samplerate": 48000, "channelConfig": "2",
                    "renderGroup": 1,
                    "initData": base64(&init_for(init, AUDIO_ID)),
                },
            ],
        })
        .to_string()
    }
}
