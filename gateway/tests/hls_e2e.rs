//! LL-HLS from a relay node of this process: ffmpeg publishes over RTMP into the node, the HLS
//! routes serve it over HTTP/1.1. The multivariant and media playlists carry the LL-HLS tags
//! (a constant `EXT-X-TARGETDURATION`, parts, the preload hint), a blocking reload for the
//! next part is answered once it exists and the part is served, and an init section followed
//! by a segment is an MP4 that ffprobe reads as the H.264 published.
//!
//! Every wait is bounded; ffmpeg is killed on drop; only 127.0.0.1 and port 0 are used.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tern_gateway::hls::{self, Hls, HlsConfig};
use tern_gateway::publish::Resumes;
use tern_gateway::rtmp;
use tern_relay::config::Config;

#[path = "../src/hls/node_tests/http.rs"]
mod http;
use http::get;

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The value of `tag` (`#EXT-X-TARGETDURATION`) in a playlist.
fn tag<'a>(playlist: &'a str, tag: &str) -> Option<&'a str> {
    playlist
        .lines()
        .find_map(|l| l.strip_prefix(tag)?.strip_prefix(':'))
}

/// The quoted `URI` attribute of a tag line.
fn uri(line: &str) -> &str {
    let from = line.find("URI=\"").expect("URI") + 5;
    let len = line[from..].find('"').expect("closing quote");
    &line[from..from + len]
}

/// `part-{msn}.{index}.m4s` → (msn, index).
fn part_of(name: &str) -> (u64, u32) {
    let (msn, index) = name
        .strip_prefix("part-")
        .and_then(|n| n.strip_suffix(".m4s"))
        .and_then(|n| n.split_once('.'))
        .expect("a part URI");
    (msn.parse().expect("msn"), index.parse().expect("index"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ll_hls_from_an_rtmp_broadcast() {
    let mut config = Config::default();
    config.relay.bind = "127.0.0.1:0".parse().unwrap();
    config.admin.enabled = false;
    let node = tern_relay::run::start(&config).await.expect("node").0;
    let rtmp = rtmp::serve(
        rtmp::Config::new("127.0.0.1:0".parse().unwrap()),
        node.local(),
        Default::default(),
        Resumes::default(),
    )
    .await
    .expect("rtmp listener");
    let hls_config = HlsConfig {
        target_duration: 2,
        window: 24,
        idle_timeout: Duration::from_secs(2),
        ..HlsConfig::default()
    };
    let hls = Hls::new(node.local(), hls_config);
    let app = hls::router(hls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });

    // 320x240 at 30 fps, a keyframe every second, for at most a minute.
    let url = format!("rtmp://{}/live/hls", rtmp.local_addr());
    let _ffmpeg = Guard(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=320x240:rate=30:duration=60",
            ])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
            ])
            .args(["-g", "30", "-keyint_min", "30", "-sc_threshold", "0"])
            .args(["-pix_fmt", "yuv420p", "-f", "flv"])
            .arg(&url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg"),
    );

    // An unknown broadcast is a 404 at once.
    let unknown = get(http, "/hls/live/nobody/index.m3u8", Duration::from_secs(10)).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());

    // The multivariant playlist, once the broadcast's catalog is there.
    let deadline = Instant::now() + Duration::from_secs(20);
    let multivariant = loop {
        let a = get(http, "/hls/live/hls/index.m3u8", Duration::from_secs(10)).await;
        if a.status == 200 {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no multivariant playlist: {}",
            a.text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        multivariant.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(
        multivariant.header("access-control-allow-origin"),
        Some("*")
    );
    let text = multivariant.text();
    let inf = text
        .lines()
        .position(|l| l.starts_with("#EXT-X-STREAM-INF:"))
        .unwrap_or_else(|| panic!("a variant: {text}"));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[inf].contains("CODECS=\"avc1."), "{text}");
    assert!(lines[inf].contains("RESOLUTION=320x240"), "{text}");
    let variant = lines[inf + 1];
    assert!(variant.starts_with(".t/"), "{text}");
    let base = format!("/hls/live/hls/{}", variant.trim_end_matches("media.m3u8"));

    // The media playlist: the LL-HLS tags, parts, the preload hint.
    let media = get(http, &format!("{base}media.m3u8"), Duration::from_secs(10)).await;
    assert_eq!(media.status, 200, "{}", media.text());
    let playlist = media.text();
    assert_eq!(
        tag(&playlist, "#EXT-X-TARGETDURATION"),
        Some("2"),
        "{playlist}"
    );
    assert_eq!(tag(&playlist, "#EXT-X-PART-INF"), Some("PART-TARGET=0.333"));
    assert!(
        tag(&playlist, "#EXT-X-SERVER-CONTROL").is_some_and(|v| v.contains("CAN-BLOCK-RELOAD=YES")),
        "{playlist}"
    );
    assert!(playlist.contains("#EXT-X-PART:"), "{playlist}");
    assert!(playlist.contains("INDEPENDENT=YES"), "{playlist}");
    assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{playlist}");
    let hint = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))
        .map(uri)
        .unwrap_or_else(|| panic!("a preload hint: {playlist}"));
    let (msn, index) = part_of(hint);

    // A blocking reload for the hinted part: answered once it exists, and listing it.
    let asked = Instant::now();
    let reload = get(
        http,
        &format!("{base}media.m3u8?_HLS_msn={msn}&_HLS_part={index}"),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(reload.status, 200, "{}", reload.text());
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    let reloaded = reload.text();
    assert!(
        reloaded.contains(&format!("URI=\"{hint}\""))
            && !reloaded.contains(&format!("PRELOAD-HINT:TYPE=PART,URI=\"{hint}\"")),
        "the hinted part is listed: {reloaded}"
    );
    assert_eq!(tag(&reloaded, "#EXT-X-TARGETDURATION"), Some("2"));
    let part = get(http, &format!("{base}{hint}"), Duration::from_secs(10)).await;
    assert_eq!(part.status, 200, "{}", part.text());
    assert_eq!(part.header("content-type"), Some("video/mp4"));
    assert!(
        part.header("cache-control")
            .is_some_and(|v| v.contains("max-age"))
    );
    assert!(part.body.len() > 100);
    // The next hint, asked before it exists, is held until it does.
    let next = reloaded
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))
        .map(uri)
        .expect("a preload hint");
    let held = get(http, &format!("{base}{next}"), Duration::from_secs(10)).await;
    assert_eq!(held.status, 200, "{}", held.text());
    assert!(held.body.len() > 100);

    // The spec's refusals.
    let bad = get(
        http,
        &format!("{base}media.m3u8?_HLS_part=1"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(bad.status, 400);
    let far = get(
        http,
        &format!("{base}media.m3u8?_HLS_msn={}", msn + 100),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(far.status, 400);

    // A complete segment and its init section, as ffprobe reads them.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (map, segment) = loop {
        let a = get(http, &format!("{base}media.m3u8"), Duration::from_secs(10)).await;
        let text = a.text();
        let map = text.lines().find(|l| l.starts_with("#EXT-X-MAP:")).map(uri);
        let segment = text.lines().find(|l| l.starts_with("seg-"));
        if let (Some(map), Some(segment)) = (map, segment) {
            break (map.to_owned(), segment.to_owned());
        }
        assert!(Instant::now() < deadline, "no complete segment: {text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let init = get(http, &format!("{base}{map}"), Duration::from_secs(10)).await;
    assert_eq!(init.status, 200);
    assert!(
        init.header("cache-control")
            .is_some_and(|v| v.contains("immutable"))
    );
    let media = get(http, &format!("{base}{segment}"), Duration::from_secs(10)).await;
    assert_eq!(media.status, 200);
    let dir = std::env::temp_dir().join(format!("tern-hls-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("segment.mp4");
    let mut bytes = init.body.clone();
    bytes.extend_from_slice(&media.body);
    std::fs::write(&file, &bytes).unwrap();
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(&file)
        .output()
        .expect("ffprobe");
    let out = String::from_utf8_lossy(&probe.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(probe.status.success(), "ffprobe: {out}");
    assert!(out.contains("codec_name=h264"), "{out}");
    assert!(
        out.contains("width=320") && out.contains("height=240"),
        "{out}"
    );
    let frames: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("nb_read_frames="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        (20..=60).contains(&frames),
        "a segment of about a second: {out}"
    );

    // Every request above was served by one rendition feed (one subscription of the track);
    // nobody asks any more, and it stops.
    assert_eq!(hls.running(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while hls.running() > 0 {
        assert!(Instant::now() < deadline, "the idle rendition did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
