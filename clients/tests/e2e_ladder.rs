//! The ingest ladder, played by tern's browser player: ffmpeg publishes 640x360 H.264 and AAC
//! over RTMP into `tern relay --rtmp` with `[ingest] ladder = ["240p@300k", "144p@150k"]`
//! (CI's small two-rung ladder). The catalog lists the source and both renditions in one
//! alternate group; the player switches by hand to each rendition and back with no gap at the
//! seam, which it can only do when every rendition's groups start where the source's do and
//! carry the same IDs. The ladder's ffmpeg is then killed: the relay starts it again, counts
//! it in `/metrics` (`tern_transcoder_restarts_total{kind="ladder"}`), and the renditions play
//! on.
//!
//! Needs `/usr/bin/chromium`, Node.js and `npm ci` in `clients/tests/chromium/`. Every wait is
//! bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::page::{Page, PageServer, assert_seamless, check_clean, u64_of};
use common::{ChildGuard, Lines, Relay, TempDir, admin_address, http_get, latest_catalog};
use serde_json::{Value, json};

/// The relay's `tern_transcoder_restarts_total{kind="ladder"}`.
fn ladder_restarts(admin: &str) -> f64 {
    let page = http_get(admin, "/metrics");
    page.lines()
        .filter(|l| l.starts_with("tern_transcoder_restarts_total") && l.contains("ladder"))
        .find_map(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn e2e_ladder_renditions_switch_seamlessly_and_survive_their_transcoder() {
    let dir = TempDir::new("ladder");
    let mut cmd = Command::new(common::tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_INGEST_LADDER", "240p@300k,144p@150k");
    let mut relay = Relay::start_cmd_with_stderr(cmd, &["--rtmp", "127.0.0.1:0"], Stdio::piped());
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let admin = admin_address(&mut log);
    let ns = "live/ladder";
    let url = format!("rtmp://{}/{ns}", relay.rtmp.expect("the RTMP listener"));
    let seconds = 60;
    let mut publish = common::ffmpeg_live("640x360", seconds, true, common::ZERO_LATENCY);
    publish
        .args(["-pix_fmt", "yuv420p", "-bf", "0", "-f", "flv"])
        .arg(&url);
    let _ffmpeg = ChildGuard::spawn("ffmpeg", &mut publish);
    log.expect(Duration::from_secs(15), "the ladder's renditions", |l| {
        l.contains(&format!("{ns}: the ladder's renditions are published"))
    });
    let catalog: Value =
        serde_json::from_slice(&latest_catalog(&relay.https_url(), ns)).expect("catalog JSON");
    let videos: Vec<&Value> = catalog["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .filter(|t| t["role"] == "video")
        .collect();
    let sizes: Vec<(String, u64)> = videos
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or("").to_owned(),
                t["height"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [
            ("video-360p".to_owned(), 360),
            ("video-240p".to_owned(), 240),
            ("video-144p".to_owned(), 144)
        ],
        "{catalog}"
    );
    assert!(
        videos
            .iter()
            .all(|t| t["altGroup"] == videos[0]["altGroup"]),
        "{catalog}"
    );

    let server = PageServer::start(relay.https_url(), relay.fingerprint.clone(), ns);
    // Manual mode from the start: the switches are the test's (auto mode, on a busy machine,
    // may step down on its own first; ABR is e2e_player_origin's).
    let mut page = Page::open(
        &server.url("?rendition=video-360p"),
        Duration::from_secs(90),
    );
    page.keep = Some(dir.0.join("statuses.jsonl"));
    page.wait("60 frames drawn", Duration::from_secs(30), |s| {
        u64_of(s, "framesDrawn") >= 60
    });
    let switch_to = |page: &mut Page, name: &str| {
        page.call("select", json!([name]));
        let drawn = |s: &Value| s["drawnByRendition"][name].as_u64().unwrap_or(0);
        let before = drawn(&page.last());
        page.wait(&format!("{name} drawn"), Duration::from_secs(10), |s| {
            s["rendition"] == name && drawn(s) >= before + 45
        });
    };
    for name in ["video-240p", "video-144p", "video-360p"] {
        switch_to(&mut page, name);
    }
    page.watch(Duration::from_millis(1200));
    let switches = page.last()["switchLog"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(switches.len(), 3, "{switches:#?}");
    for ev in &switches {
        assert_seamless(ev);
    }

    // The ladder's ffmpeg dies: started again, counted, and its renditions play on.
    assert_eq!(ladder_restarts(&admin), 0.0);
    let killed = Command::new("pkill")
        .args(["-KILL", "-P", &relay.guard.child.id().to_string()])
        .args(["-f", "force_key_frames source"])
        .status()
        .expect("pkill");
    assert!(killed.success(), "the ladder's ffmpeg was running");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ladder_restarts(&admin) < 1.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ladder_restarts(&admin), 1.0, "the restart is counted");
    switch_to(&mut page, "video-240p");
    let final_ = page.finish();
    check_clean(&final_);
}
