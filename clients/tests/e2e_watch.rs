//! The watch page, `/watch/NAME` on `tern relay`'s HTTP listener, in Debian's headless Chromium
//! (`tests/chromium/watch.mjs`), watching a broadcast ffmpeg pushes over RTMP (320x240 H.264, a
//! keyframe a second, AAC): asked nothing, the page plays it over MoQ (WebTransport); with
//! `?via=whep` over WHEP, and leaving the page ends the WHEP session; with `?via=hls` over
//! LL-HLS with hls.js, which the relay serves itself (nothing is fetched from anywhere else);
//! told it is Safari, it plays MoQ over a WebSocket to the page's own origin (QMux), never over
//! WebTransport; with `?transport=websocket`, any browser does. A broadcast WebRTC cannot carry
//! (B-frames) falls from WHEP to LL-HLS with the relay's reason on the page. A token in the
//! page's query reaches WHEP as a bearer token and every LL-HLS request as `?token=`.
//!
//! Needs `/usr/bin/chromium`, ffmpeg, Node.js and `npm ci` in `clients/tests/chromium/`.
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::page::NodeRun;
use common::{ChildGuard, Lines, Relay};
use serde_json::{Value, json};

/// How long the page is watched.
const WATCH_SECONDS: u64 = 10;
/// Safari 18.5 on macOS.
const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/18.5 Safari/605.1.15";

/// A relay with RTMP and HTTP listeners, ffmpeg publishing to it, and the relay's log.
struct Broadcast {
    path: String,
    http: String,
    log: Lines,
    _relay: Relay,
    _ffmpeg: ChildGuard,
}

/// ffmpeg publishing a 320x240 test pattern at 30 fps (a keyframe every 30 frames, x264's
/// `x264` options) with a tone in AAC as `path`; returns once the broadcast exists.
fn broadcast(path: &str, x264: &[&str]) -> Broadcast {
    common::page::chromium();
    let publish = common::ffmpeg_live("320x240", 90, true, x264);
    let (mut relay, http, ffmpeg) =
        common::rtmp_broadcast(path, publish, &[], None, Stdio::piped());
    let log = Lines::new(relay.guard.child.stderr.take().expect("relay stderr"));
    Broadcast {
        path: path.to_owned(),
        http,
        log,
        _relay: relay,
        _ffmpeg: ffmpeg,
    }
}

impl Broadcast {
    /// Open `/watch/PATH{query}` for [`WATCH_SECONDS`] with watch.mjs's `options`: its report.
    fn watch(&self, query: &str, options: Value) -> Value {
        let url = format!("{}/watch/{}{query}", self.http, self.path);
        let r = NodeRun::start(
            "watch.mjs",
            &[url, WATCH_SECONDS.to_string(), options.to_string()],
        )
        .report(Duration::from_secs(WATCH_SECONDS + 60));
        eprintln!(
            "watch{query}: {} · {} · {}",
            r["status"],
            r["watch"],
            r["samples"]
                .as_array()
                .and_then(|s| s.last())
                .cloned()
                .unwrap_or_default()
        );
        r
    }
}

/// The page played over `via` (MoQ over WebTransport): it was playing by the middle of the run
/// and to its end, showed 320x240 frames at no less than half the source's 30 fps while
/// playing, still advancing in the last seconds, and says so on its status line; no page errors.
fn assert_played(r: &Value, via: &str) {
    assert_played_over(r, via, "webtransport");
}

/// [`assert_played`], MoQ running over `transport` (webtransport or websocket).
fn assert_played_over(r: &Value, via: &str, transport: &str) {
    assert!(
        r["errors"].as_array().is_some_and(Vec::is_empty),
        "{}",
        r["errors"]
    );
    let w = &r["watch"];
    assert_eq!(w["via"], via, "{r}");
    assert_eq!(w["state"], "playing", "{r}");
    assert!(w["error"].is_null(), "{r}");
    let samples = r["samples"].as_array().expect("samples");
    let t = |s: &Value| s["t"].as_f64().unwrap_or(0.0);
    let frames = |s: &Value| s["frames"].as_f64().unwrap_or(0.0);
    let first = samples
        .iter()
        .find(|s| s["state"] == "playing" && s["via"] == via && frames(s) > 0.0)
        .unwrap_or_else(|| panic!("never played over {via}: {r}"));
    let last = samples.last().expect("a sample");
    let playing_ms = t(last) - t(first);
    assert!(
        playing_ms >= WATCH_SECONDS as f64 * 1000.0 / 2.0,
        "played only the last {playing_ms} ms: {r}"
    );
    assert!(
        samples
            .iter()
            .skip_while(|s| *s != first)
            .all(|s| s["via"] == via && s["state"] == "playing"),
        "stopped playing over {via}: {r}"
    );
    let rate = (frames(last) - frames(first)) * 1000.0 / playing_ms;
    assert!(rate >= 15.0, "{rate:.1} frames/s: {r}");
    let before_end = samples
        .iter()
        .rev()
        .find(|s| t(s) <= t(last) - 2000.0)
        .expect("a sample 2 s before the end");
    assert!(
        frames(last) >= frames(before_end) + 20.0,
        "frames stopped advancing: {r}"
    );
    assert_eq!(
        (w["width"].as_u64(), w["height"].as_u64()),
        (Some(320), Some(240)),
        "{r}"
    );
    let name = match (via, transport) {
        ("moq", "websocket") => "MoQ (WebSocket)",
        ("moq", _) => "MoQ (WebTransport)",
        ("whep", _) => "WHEP (WebRTC)",
        _ => "LL-HLS (hls.js)",
    };
    if via == "moq" {
        assert_eq!(w["transport"], transport, "{r}");
    }
    let status = r["status"].as_str().unwrap_or_default();
    assert!(
        status.starts_with(&format!("Playing over {name}")),
        "{status}"
    );
    // Everything came from the relay.
    assert_eq!(r["foreign"], json!([]), "{r}");
}

/// The page's requests of `method` to `path`.
fn requests<'a>(r: &'a Value, method: &str, path: &str) -> Vec<&'a Value> {
    r["requests"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|q| q["method"] == method && q["path"] == path)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn e2e_watch_page_plays_over_moq_when_webtransport_works() {
    let b = broadcast("live/x", common::ZERO_LATENCY);
    let r = b.watch("", json!({}));
    assert_played(&r, "moq");
    // Nothing was passed over; the player got the relay and its certificate hash.
    assert_eq!(r["watch"]["steps"], json!([]), "{r}");
    assert_eq!(r["watch"]["reason"], "the best way this browser has");
    for path in ["/config.json", "/fingerprint"] {
        assert_eq!(requests(&r, "GET", path).len(), 1, "{path}: {r}");
    }
    assert!(requests(&r, "POST", "/whep/live/x").is_empty(), "{r}");
    assert_eq!(r["hls"]["count"], 0, "{r}");
}

#[test]
fn e2e_watch_page_plays_over_whep_when_asked_and_ends_the_session_on_leaving() {
    let mut b = broadcast("live/x", common::ZERO_LATENCY);
    let r = b.watch("?via=whep&token=viewer-b", json!({}));
    assert_played(&r, "whep");
    assert_eq!(r["watch"]["reason"], "asked for with ?via=whep");
    let posts = requests(&r, "POST", "/whep/live/x");
    assert_eq!(posts.len(), 1, "{r}");
    assert_eq!(posts[0]["status"], 201, "{r}");
    assert_eq!(posts[0]["authorization"], "Bearer viewer-b", "{r}");
    // watch.mjs left the page at the end: the session was DELETEd.
    b.log
        .expect(Duration::from_secs(5), "the WHEP session's DELETE", |l| {
            l.contains("stopped watching live/x (DELETE)")
        });
}

#[test]
fn e2e_watch_page_plays_over_ll_hls_with_the_relays_own_hls_js() {
    let b = broadcast("live/x", common::ZERO_LATENCY);
    let r = b.watch("?via=hls&token=viewer-c", json!({}));
    assert_played(&r, "hls");
    assert_eq!(r["watch"]["hls"], "hls.js", "{r}");
    let script = requests(&r, "GET", "/watch.assets/hls.min.js");
    assert_eq!(script.len(), 1, "{r}");
    assert_eq!(script[0]["status"], 200, "{r}");
    // Playlists, init sections and parts, every one with the viewer's token.
    assert!(r["hls"]["count"].as_u64().unwrap_or(0) > 10, "{r}");
    assert_eq!(r["hls"]["tokens"], json!(["viewer-c"]), "{r}");
}

#[test]
fn e2e_watch_page_never_takes_safari_to_webtransport() {
    let b = broadcast("live/x", common::ZERO_LATENCY);
    let r = b.watch("", json!({ "userAgent": SAFARI }));
    assert_eq!(r["userAgent"], SAFARI);
    // Chromium has WebTransport, but a browser saying it is Safari is not sent there: MoQ plays
    // over a WebSocket to the page's own origin, the relay's HTTP listener; nothing is passed
    // over.
    assert_eq!(r["watch"]["steps"], json!([]), "{r}");
    assert_played_over(&r, "moq", "websocket");
    assert!(requests(&r, "POST", "/whep/live/x").is_empty(), "{r}");
}

#[test]
fn e2e_watch_page_plays_moq_over_websocket_when_asked() {
    let b = broadcast("live/x", common::ZERO_LATENCY);
    let r = b.watch("?transport=websocket", json!({}));
    assert_played_over(&r, "moq", "websocket");
    assert_eq!(r["watch"]["steps"], json!([]), "{r}");
}

#[test]
fn e2e_watch_page_falls_back_from_whep_to_ll_hls_with_the_reason() {
    // libx264's default B-frames, which WebRTC cannot carry: the relay refuses WHEP with 422.
    let b = broadcast("live/bframes", &["-bf", "3"]);
    let r = b.watch("?via=whep,hls", json!({}));
    let steps = r["watch"]["steps"].as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 1, "{r}");
    assert_eq!(
        (&steps[0]["via"], &steps[0]["outcome"]),
        (&json!("whep"), &json!("failed"))
    );
    let reason = steps[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("422") && reason.contains("B-frames"),
        "{reason}"
    );
    assert_played(&r, "hls");
    // The status line says why it is not WHEP.
    assert!(
        r["status"].as_str().is_some_and(|s| s.contains("B-frames")),
        "{}",
        r["status"]
    );
}

#[test]
fn e2e_watch_page_serves_the_hls_js_the_tests_pin() {
    // clients/web/vendor/hls.min.js is npm's hls.js 1.7.4, the version package-lock.json pins
    // for the browser tests (web/vendor/README.md).
    let installed = common::page::chromium_dir().join("node_modules/hls.js/dist/hls.min.js");
    let installed = std::fs::read_to_string(&installed).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: (cd clients/tests/chromium && npm ci)",
            installed.display()
        )
    });
    let vendored = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/vendor/hls.min.js");
    let vendored = std::fs::read_to_string(vendored).expect("the vendored hls.js");
    assert!(
        vendored == installed,
        "web/vendor/hls.min.js differs from npm's"
    );
    assert!(tern::web::HLS_JS.ends_with(&vendored));
}
