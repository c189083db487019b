//! tern's browser player in Debian's headless Chromium playing what `tern origin --clip`
//! publishes (origin/README.md) through `tern relay`: the MSF catalog with three H.264
//! renditions and the same audio as AAC and Opus, every object stamped with a `prft` publish
//! time, group IDs that leap by about 1000 (Unix-ms base plus media milliseconds).
//!
//! The page is driven by `tests/chromium/drive.mjs`, which reports the player's state five
//! times a second and takes commands (switch, pause, rewind...) from the test while it plays.
//!
//! - `e2e_player_origin_clip`: frames advance, audio plays (AAC preferred; Opus when asked
//!   for), publish-to-render latency from the `prft` stamps has a median under one second on
//!   loopback, no page errors; a screenshot is kept in the test's directory.
//! - `e2e_player_origin_abr_bandwidth_cap`: the relay runs in a network namespace behind a
//!   veth pair; `tc tbf` on the relay's side caps what reaches Chromium. Manual switches down
//!   and up and auto mode's step back up, with room on the link, leave no gap between drawn
//!   frames longer than two frame durations around the seam (the page measures it). Under the
//!   cap auto mode steps down within 5 s and stays down, and it is back on 360p within 15 s of
//!   the cap's removal, seamlessly. (The step down itself follows frames already late.)
//! - `e2e_player_origin_dvr`: pause (the picture holds), rewind 10 s (FETCHes of the past
//!   groups from the relay's cache), older media drawn and heard, then live again with
//!   latency under one second.
//!   The relay runs with CUBIC (`TERN_E2E_CONGESTION=bbr` for its default, BBR, which
//!   collapses behind this bottleneck while the stream does not fit).
//!
//! Needs `/usr/bin/chromium`, Node.js and `npm ci` in `clients/tests/chromium/`; the ABR test
//! needs root for `ip netns` and `tc` (it panics, naming the failing command, without them).
//! Every child is killed on drop, the namespace and veth pair are deleted on drop, every wait
//! is bounded. The tests in this file run one at a time (each runs a browser).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::page::{
    Page, PageServer, assert_seamless, check_clean, f64_of, median, start_origin, u64_of,
};
use common::{ChildGuard, NetNs, Relay, tern};
use serde_json::{Value, json};

/// One browser at a time: the machine is small and latency is measured.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn test_dir(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e_player_origin")
        .join(case);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test's directory");
    dir
}

/// Relay on loopback, `tern origin --clip`, the page, until it plays with audio.
struct Clip {
    page: Page,
    _server: PageServer,
    _origin: ChildGuard,
    _relay: Relay,
}

fn play_clip(case: &str, query: &str) -> Clip {
    let relay = Relay::start(&[]);
    let namespace = format!("e2e/{case}");
    let origin = start_origin(&relay.https_url(), &namespace, Command::new(tern()));
    let server = PageServer::start(relay.https_url(), relay.fingerprint.clone(), &namespace);
    let mut page = Page::open(&server.url(query), Duration::from_secs(120));
    page.keep = Some(
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("e2e_player_origin")
            .join(case)
            .join("statuses.jsonl"),
    );
    page.wait(
        "60 frames drawn, audio played",
        Duration::from_secs(40),
        |s| u64_of(s, "framesDrawn") >= 60 && u64_of(s, "audioSamplesPlayed") > 0,
    );
    Clip {
        page,
        _server: server,
        _origin: origin,
        _relay: relay,
    }
}

#[test]
fn e2e_player_origin_clip() {
    let _serial = serial();
    let dir = test_dir("clip");

    let mut clip = play_clip("clip", "");
    let page = &mut clip.page;
    let before = page.last();
    page.watch(Duration::from_secs(4));
    let after = page.last();
    eprintln!("status: {after:#}");
    // The MSF catalog: three renditions, largest first; AAC preferred over Opus.
    assert_eq!(after["catalogFormat"], "msf", "{after}");
    assert_eq!(
        after["renditions"],
        json!(["video-360p", "video-240p", "video-144p"]),
        "{after}"
    );
    assert_eq!(after["audioTrack"], "audio-aac", "{after}");
    assert_eq!(after["audioCodec"], "mp4a.40.2", "{after}");
    assert_eq!(after["audioState"], "running", "{after}");
    assert!(
        after["videoCodec"]
            .as_str()
            .is_some_and(|c| c.starts_with("avc1.")),
        "{after}"
    );
    // Frames advance (about 30 a second) in media time too; audio keeps playing.
    let drawn = u64_of(&after, "framesDrawn") - u64_of(&before, "framesDrawn");
    assert!(drawn >= 90, "{drawn} frames drawn in 4 s: {after}");
    assert!(
        f64_of(&after, "lastFrameTimestamp") >= f64_of(&before, "lastFrameTimestamp") + 3_000_000.0,
        "media time did not advance: {before} → {after}"
    );
    assert!(
        u64_of(&after, "audioSamplesPlayed") >= u64_of(&before, "audioSamplesPlayed") + 3 * 48_000,
        "audio did not keep playing: {before} → {after}"
    );
    assert_eq!(u64_of(&after, "latencyUnknownFrames"), 0, "{after}");
    let canvas = page.canvas();
    assert!(
        canvas["colours"].as_u64().unwrap_or(0) > 20,
        "blank canvas: {canvas}"
    );
    assert_eq!(
        (canvas["width"].as_u64(), canvas["height"].as_u64()),
        (Some(640), Some(360)),
        "{canvas}"
    );
    let screenshot = dir.join("player.png");
    page.screenshot(&screenshot);

    let final_ = clip.page.finish();
    check_clean(&final_);
    let latency: Vec<f64> = final_["player"]["latencyMs"]
        .as_array()
        .expect("latency samples")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let m = median(&latency);
    eprintln!(
        "latency: median {m:.0} ms of {} samples; screenshot {}",
        latency.len(),
        screenshot.display()
    );
    assert!(latency.len() >= 150, "{} latency samples", latency.len());
    assert!((0.0..1000.0).contains(&m), "median latency {m:.0} ms");
    std::fs::write(dir.join("final.json"), format!("{final_:#}")).expect("write final.json");

    // Opus, when asked for (`?audio=audio-opus`), plays too.
    let mut clip = play_clip("clip-opus", "?audio=audio-opus");
    let s = clip.page.last();
    assert_eq!(s["audioTrack"], "audio-opus", "{s}");
    assert_eq!(s["audioCodec"], "opus", "{s}");
    clip.page.watch(Duration::from_secs(2));
    let after = clip.page.last();
    assert!(
        u64_of(&after, "audioSamplesPlayed") >= u64_of(&s, "audioSamplesPlayed") + 48_000,
        "Opus audio did not keep playing: {s} → {after}"
    );
    check_clean(&clip.page.finish());
}

/// Pause (the picture holds), rewind 10 s (the page FETCHes the past groups of the rendition
/// and the audio from the relay's cache, 30 s by default), the older media is drawn and heard,
/// then live again with latency under one second.
#[test]
fn e2e_player_origin_dvr() {
    let _serial = serial();
    let dir = test_dir("dvr");
    let mut clip = play_clip("dvr", "");
    let page = &mut clip.page;
    // Some live first, so there is a past to go back to.
    page.wait("14 s of live media drawn", Duration::from_secs(30), |s| {
        u64_of(s, "framesDrawn") >= 420
    });
    let live = page.last();
    assert_eq!(live["playback"], "live", "{live}");
    assert!(f64_of(&live, "latencyMedianMs") < 1000.0, "{live}");

    page.call("pause", json!([]));
    let paused = page.wait("paused", Duration::from_secs(5), |s| {
        s["playback"] == "paused"
    });
    page.watch(Duration::from_millis(1500));
    let still = page.last();
    assert!(
        u64_of(&still, "framesDrawn") <= u64_of(&paused, "framesDrawn") + 1,
        "frames drawn while paused: {paused} → {still}"
    );
    assert_eq!(
        still["lastFrameTimestamp"], paused["lastFrameTimestamp"],
        "{still}"
    );
    let paused_at = f64_of(&still, "lastFrameTimestamp");

    page.call("rewind", json!([10]));
    let drawn_at_rewind = u64_of(&page.last(), "framesDrawn");
    let past = page.wait(
        "media from 10 s before the pause drawn",
        Duration::from_secs(10),
        |s| {
            s["playback"] == "dvr"
                && u64_of(s, "framesDrawn") >= drawn_at_rewind + 30
                && f64_of(s, "lastFrameTimestamp") <= paused_at - 8_500_000.0
        },
    );
    eprintln!(
        "rewound: drawing media time {:.3} s (paused at {:.3} s), {:.1} s behind live",
        f64_of(&past, "lastFrameTimestamp") / 1e6,
        paused_at / 1e6,
        f64_of(&past, "behindLiveMs") / 1000.0
    );
    page.watch(Duration::from_secs(3));
    let dvr = page.last();
    assert_eq!(dvr["playback"], "dvr", "{dvr}");
    // It plays on in the past: about 3 s more media, 10 s or more behind live, with sound.
    let advanced = f64_of(&dvr, "lastFrameTimestamp") - f64_of(&past, "lastFrameTimestamp");
    assert!(
        (2_000_000.0..4_500_000.0).contains(&advanced),
        "media advanced {advanced} µs in 3 s: {dvr}"
    );
    assert!(
        f64_of(&dvr, "lastFrameTimestamp") < paused_at - 5_000_000.0,
        "{dvr}"
    );
    assert!(f64_of(&dvr, "behindLiveMs") > 9_000.0, "{dvr}");
    assert!(
        u64_of(&dvr, "audioSamplesPlayed") >= u64_of(&past, "audioSamplesPlayed") + 2 * 48_000,
        "no sound in the past: {past} → {dvr}"
    );
    // What is drawn was published more than 10 s ago (its prft stamp says so).
    assert!(f64_of(&dvr, "latencyMedianMs") > 10_000.0, "{dvr}");
    assert!(u64_of(&dvr, "dvrGroupsFetched") >= 3, "{dvr}");
    page.screenshot(&dir.join("dvr.png"));

    page.call("live", json!([]));
    let back = page.wait(
        "live again, latency under one second",
        Duration::from_secs(10),
        |s| {
            s["playback"] == "live"
                && f64_of(s, "latencyMedianMs") < 1000.0
                && f64_of(s, "lastFrameTimestamp") > paused_at
        },
    );
    eprintln!(
        "live again: latency median {:.0} ms, media time {:.3} s",
        f64_of(&back, "latencyMedianMs"),
        f64_of(&back, "lastFrameTimestamp") / 1e6
    );
    page.watch(Duration::from_secs(2));
    let after = page.last();
    assert_eq!(after["playback"], "live", "{after}");
    assert!(f64_of(&after, "latencyMedianMs") < 1000.0, "{after}");
    assert!(
        u64_of(&after, "framesDrawn") >= u64_of(&back, "framesDrawn") + 45,
        "{after}"
    );
    let final_ = clip.page.finish();
    std::fs::write(dir.join("final.json"), format!("{final_:#}")).expect("write final.json");
    check_clean(&final_);
    assert_eq!(final_["player"]["seeks"], 1, "{:#}", final_["player"]);
}

/// What the link is capped at. On the wire (objects with their prft, moof and MoQ headers,
/// plus QUIC) 360p and AAC take about 620 kbit/s, 240p and AAC about 400, 144p and AAC 280.
const CAP_KBIT: u32 = 500;

fn switch_table(log: &[Value]) -> String {
    let mut out = String::new();
    for ev in log {
        out.push_str(&format!(
            "  {:>10} → {:<10} at {:>7.0} ms (asked {:>5.0} ms before, first frame ready {:>4.0} ms early): seam {:>4.0} ms, media {:>4.0} ms, {} skipped; max gap before {:>4.0} (raw {:>4.0}) / after {:>4.0} (raw {:>4.0}) ms; {}\n",
            ev["from"].as_str().unwrap_or("-"),
            ev["to"].as_str().unwrap_or("-"),
            f64_of(ev, "at"),
            f64_of(ev, "at") - f64_of(ev, "askedAt"),
            f64_of(ev, "readyMs"),
            f64_of(ev, "seamGapMs"),
            f64_of(ev, "seamMediaGapMs"),
            u64_of(ev, "seamSkipped"),
            f64_of(ev, "maxGapBeforeMs"),
            f64_of(ev, "maxRawGapBeforeMs"),
            f64_of(ev, "maxGapAfterMs"),
            f64_of(ev, "maxRawGapAfterMs"),
            ev["reason"].as_str().unwrap_or("")
        ));
    }
    out
}

/// The relay in a network namespace, Chromium on the host, the veth between them capped with
/// `tc tbf`. Manual switches first (the link has room: seamless), then auto mode under the cap
/// (steps down within 5 s) and after it (back on 360p within 15 s).
#[test]
fn e2e_player_origin_abr_bandwidth_cap() {
    let _serial = serial();
    let dir = test_dir("abr");
    let netns = NetNs::create().unwrap_or_else(|e| {
        panic!("cannot set up the network namespace (needs root, ip and tc): {e}")
    });
    let mut relay_cmd = netns.command(&tern());
    relay_cmd.args(["relay", "--bind", "0.0.0.0:0"]);
    // CUBIC: the relay's default, quinn's BBR, loses about half its packets behind this
    // bottleneck while the stream does not fit (it sends far faster than the cap), so the old
    // rendition's backlog drains at a fraction of the link and the switch takes seconds longer.
    // `TERN_E2E_CONGESTION=bbr` runs it anyway.
    let congestion = std::env::var("TERN_E2E_CONGESTION").unwrap_or_else(|_| "cubic".into());
    relay_cmd.env("TERN_QUIC_CONGESTION", congestion);
    let relay = Relay::start_cmd(relay_cmd, &[]);
    let port = relay.addr.port();
    let namespace = "e2e/abr";
    let _origin = start_origin(
        &format!("https://127.0.0.1:{port}"),
        namespace,
        netns.command(&tern()),
    );
    let relay_url = format!("https://{}:{port}", netns.ns_ip);
    let server = PageServer::start(relay_url, relay.fingerprint.clone(), namespace);
    let mut page = Page::open(&server.url(""), Duration::from_secs(170));
    page.keep = Some(dir.join("statuses.jsonl"));
    page.wait("60 frames of video-360p", Duration::from_secs(40), |s| {
        u64_of(s, "framesDrawn") >= 60 && s["rendition"] == "video-360p"
    });
    // Uncapped, auto mode stays on the largest rendition.
    page.watch(Duration::from_secs(4));
    let s = page.last();
    assert_eq!(s["mode"], "auto", "{s}");
    assert_eq!(s["rendition"], "video-360p", "{s}");
    assert_eq!(u64_of(&s, "switches"), 0, "{s}");

    // Manual switches down and up, then auto mode again: it finds the room and goes back to
    // 360p. None of these switches leaves a gap.
    for name in ["video-144p", "video-240p"] {
        page.call("select", json!([name]));
        let drawn = |s: &Value| s["drawnByRendition"][name].as_u64().unwrap_or(0);
        let before = drawn(&page.last());
        page.wait(&format!("{name} drawn"), Duration::from_secs(10), |s| {
            s["rendition"] == name && drawn(s) >= before + 45
        });
    }
    page.call("select", json!(["auto"]));
    page.wait(
        "auto mode back on video-360p",
        Duration::from_secs(15),
        |s| s["mode"] == "auto" && s["rendition"] == "video-360p",
    );
    page.watch(Duration::from_millis(1200));
    let manual = page.last()["switchLog"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    eprintln!("switches with room on the link:\n{}", switch_table(&manual));
    assert_eq!(manual.len(), 3, "{manual:#?}");
    for ev in &manual {
        assert_seamless(ev);
    }
    assert!(
        manual[2]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("auto: capacity")),
        "{:#}",
        manual[2]
    );

    // Cap: auto mode steps down within 5 s.
    netns.cap(CAP_KBIT).unwrap_or_else(|e| panic!("{e}"));
    let capped_at = f64_of(&page.last(), "perfNow");
    let capped = Instant::now();
    eprintln!("capped at {CAP_KBIT} kbit/s at page time {capped_at:.0} ms");
    let down = page.wait("a step down under the cap", Duration::from_secs(5), |s| {
        s["rendition"] != "video-360p"
    });
    let down_after = capped.elapsed();
    eprintln!(
        "stepped down to {} {:.1} s after the cap (page time {capped_at:.0} ms)",
        down["rendition"],
        down_after.as_secs_f64()
    );
    // Held for 12 s: it stays below 360p (probes find no room for it).
    let held = Instant::now();
    while held.elapsed() < Duration::from_secs(12) {
        page.watch(Duration::from_millis(250));
        let s = page.last();
        assert_ne!(
            s["rendition"], "video-360p",
            "back on 360p under the cap: {s}"
        );
    }

    // Lifted: back up to 360p within 15 s.
    netns.uncap().unwrap_or_else(|e| panic!("{e}"));
    let lifted_at = f64_of(&page.last(), "perfNow");
    let lifted = Instant::now();
    page.wait(
        "360p again after the cap is lifted",
        Duration::from_secs(15),
        |s| s["rendition"] == "video-360p",
    );
    let up_after = lifted.elapsed();
    eprintln!(
        "back on video-360p {:.1} s after the cap was lifted (page time {lifted_at:.0} ms)",
        up_after.as_secs_f64()
    );
    // A little more, so the last switch's second after the seam is measured.
    page.watch(Duration::from_millis(1500));
    page.screenshot(&dir.join("player.png"));
    let final_ = page.finish();
    std::fs::write(dir.join("final.json"), format!("{final_:#}")).expect("write final.json");
    check_clean(&final_);
    let log = final_["player"]["switchLog"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let auto: Vec<Value> = log
        .into_iter()
        .filter(|ev| f64_of(ev, "askedAt") >= capped_at)
        .collect();
    eprintln!("switches under and after the cap:\n{}", switch_table(&auto));
    assert!(auto.len() >= 2, "{auto:#?}");
    for ev in &auto {
        let reason = ev["reason"].as_str().unwrap_or("");
        assert!(reason.starts_with("auto: "), "{ev}");
        // Up again once the link has room: seamless. (Stepping down because the rendition no
        // longer arrives in time happens after its frames were already late and skipped; those
        // seams are printed above, not held to two frame durations.)
        if f64_of(ev, "askedAt") >= lifted_at {
            assert_seamless(ev);
        }
    }
    assert!(
        auto.iter().any(|ev| f64_of(ev, "askedAt") >= lifted_at),
        "no switch after the cap was lifted: {auto:#?}"
    );
}
