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
//!   veth pair; `tc tbf` on the relay's side caps what reaches Chromium. In auto mode the
//!   player steps down within 5 s of the cap and back up within 15 s of its removal, and the
//!   largest gap between drawn frames around each switch stays under two frame durations.
//! - `e2e_player_origin_dvr`: pause, rewind 10 s (a FETCH of past groups from the relay's
//!   cache), older media drawn, back to live with latency under one second again.
//!
//! Needs `/usr/bin/chromium`, Node.js and `npm ci` in `clients/tests/chromium/`; the ABR test
//! needs root for `ip netns` and `tc` (it panics, naming the failing command, without them).
//! Every child is killed on drop, the namespace and veth pair are deleted on drop, every wait
//! is bounded. The tests in this file run one at a time (each runs a browser).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{ChildGuard, Relay, tern};
use serde_json::{Value, json};
use tern::web;

/// One browser at a time: the machine is small and latency is measured.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn chromium_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chromium")
}

fn test_dir(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e_player_origin")
        .join(case);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test's directory");
    dir
}

/// `tern origin URL --clip` run by `cmd` (`tern`, or `ip netns exec NS tern`), once it has
/// announced its tracks.
fn start_origin(url: &str, namespace: &str, mut cmd: Command) -> ChildGuard {
    cmd.args([
        "origin",
        url,
        "--tls-disable-verify",
        "--namespace",
        namespace,
        "--clip",
    ])
    .env("TERN_LOG_LEVEL", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut origin = ChildGuard::spawn("tern origin", &mut cmd);
    let stderr = origin.child.stderr.take().expect("origin stderr");
    let (tx, rx) = mpsc::channel();
    // Read its stderr to the end (a closed pipe would end it); the first lines come back.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.starts_with("tern: publishing "))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => panic!("tern origin did not start within 30 s: {seen:?}"),
        }
    }
    origin
}

/// The page server (player.html, player.js, config.json, fingerprint) on 127.0.0.1:0.
struct PageServer {
    _runtime: tokio::runtime::Runtime,
    task: tokio::task::JoinHandle<()>,
    addr: std::net::SocketAddr,
}

impl PageServer {
    fn start(relay_url: String, fingerprint: String, namespace: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let (addr, task) = runtime
            .block_on(web::serve_page(
                "127.0.0.1:0".parse().expect("addr"),
                web::PageConfig {
                    relay_url,
                    fingerprint_hex: fingerprint,
                    namespace: namespace.to_owned(),
                    track: String::new(),
                },
            ))
            .expect("serve the page");
        Self {
            _runtime: runtime,
            task,
            addr,
        }
    }

    fn url(&self, query: &str) -> String {
        format!("http://{}/player.html{query}", self.addr)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The page in Chromium, driven by `drive.mjs`.
struct Page {
    node: ChildGuard,
    stdin: Option<ChildStdin>,
    rx: mpsc::Receiver<String>,
    /// Every status seen, with when the test saw it.
    statuses: Vec<(Instant, Value)>,
    next_id: u64,
}

impl Page {
    fn open(url: &str, timeout: Duration) -> Self {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            Path::new(&chromium).is_file(),
            "{chromium} is missing: apt-get install -y chromium"
        );
        assert!(
            chromium_dir().join("node_modules/playwright-core").is_dir(),
            "playwright-core is missing: (cd clients/tests/chromium && npm ci)"
        );
        let mut cmd = Command::new("node");
        cmd.current_dir(chromium_dir())
            .arg("drive.mjs")
            .arg(url)
            .arg(timeout.as_millis().to_string())
            .env("CHROMIUM", &chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut node = ChildGuard::spawn("node drive.mjs", &mut cmd);
        let stdin = node.child.stdin.take();
        let stdout = node.child.stdout.take().expect("node stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            node,
            stdin,
            rx,
            statuses: Vec::new(),
            next_id: 0,
        }
    }

    /// The newest status (Null before the first).
    fn last(&self) -> Value {
        self.statuses
            .last()
            .map(|(_, s)| s.clone())
            .unwrap_or(Value::Null)
    }

    /// Read lines until `deadline`; returns the first non-STATUS line.
    fn pump(&mut self, deadline: Instant) -> Option<(String, Value)> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.rx.recv_timeout(left) {
                Ok(l) => l,
                Err(mpsc::RecvTimeoutError::Timeout) => return None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("drive.mjs exited; last status: {}", self.last())
                }
            };
            let Some((kind, body)) = line.split_once(' ') else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<Value>(body) else {
                continue;
            };
            if kind == "STATUS" {
                self.statuses.push((Instant::now(), value));
            } else if kind == "FINAL" {
                panic!("the page ended early: {value:#}");
            } else {
                return Some((kind.to_owned(), value));
            }
        }
    }

    /// Let the page play for `d` (statuses are collected).
    fn watch(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            if let Some(other) = self.pump(deadline) {
                panic!("unexpected line from drive.mjs: {other:?}");
            }
        }
    }

    /// Wait (at most `timeout`) for a status satisfying `pred`; panics naming `what`.
    fn wait(&mut self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((_, s)) = self.statuses.last()
                && pred(s)
            {
                return s.clone();
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; last status: {:#}",
                    self.last()
                );
            }
            let step = (Instant::now() + Duration::from_millis(250)).min(deadline);
            if let Some(other) = self.pump(step) {
                panic!("unexpected line from drive.mjs: {other:?}");
            }
        }
    }

    fn command(&mut self, mut c: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        c["id"] = json!(id);
        let stdin = self.stdin.as_mut().expect("drive.mjs stdin");
        writeln!(stdin, "{c}").expect("write to drive.mjs");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.pump(deadline) {
                Some((kind, reply)) if kind == "REPLY" && reply["id"] == json!(id) => {
                    assert_eq!(reply["ok"], true, "{c} failed: {reply}");
                    return reply["value"].clone();
                }
                Some(_) => {}
                None => panic!("no reply to {c} within 20 s"),
            }
        }
    }

    fn canvas(&mut self) -> Value {
        self.command(json!({ "op": "canvas" }))
    }

    fn screenshot(&mut self, path: &Path) {
        self.command(json!({ "op": "screenshot", "path": path }));
        assert!(path.is_file(), "no screenshot at {}", path.display());
    }

    /// End the page; its final state (player, console, page errors).
    fn finish(mut self) -> Value {
        let stdin = self.stdin.as_mut().expect("drive.mjs stdin");
        let _ = writeln!(stdin, "{}", json!({ "op": "finish" }));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no FINAL from drive.mjs within 20 s"));
            if let Some(body) = line.strip_prefix("FINAL ") {
                let v: Value = serde_json::from_str(body).expect("FINAL JSON");
                let _ = common::wait_exit(&mut self.node, Duration::from_secs(10));
                return v;
            }
        }
    }
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

fn f64_of(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

fn median(xs: &[f64]) -> f64 {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

/// No page errors, no console errors, the FINAL was not a timeout.
fn check_clean(final_: &Value) {
    assert!(final_["reason"].is_null(), "{final_:#}");
    let player = &final_["player"];
    assert_eq!(
        player["errors"].as_array().map(Vec::len),
        Some(0),
        "page errors: {:#}",
        player["errors"]
    );
    assert_eq!(
        final_["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "{final_:#}"
    );
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
