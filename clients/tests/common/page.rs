//! The player page in headless Chromium for end-to-end tests: the page server, the page driven
//! by `tests/chromium/drive.mjs` (statuses five times a second, commands while it plays), and
//! `tern origin --clip` to feed it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tern::web;

use super::ChildGuard;

pub fn chromium_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chromium")
}

/// Chromium's path (`$CHROMIUM`, else Debian's), after checking that it and playwright-core
/// (which drives it) are installed.
pub fn chromium() -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "{chromium} is missing: apt-get install -y chromium"
    );
    assert!(
        chromium_dir().join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: (cd clients/tests/chromium && npm ci)"
    );
    chromium
}

/// A script of `tests/chromium` run by node against Chromium, its stdout read to the end.
pub struct NodeRun {
    script: String,
    node: ChildGuard,
    stdout: std::thread::JoinHandle<String>,
}

impl NodeRun {
    pub fn start(script: &str, args: &[String]) -> Self {
        Self::start_with(script, args, &[])
    }

    /// [`NodeRun::start`] with extra environment variables.
    pub fn start_with(script: &str, args: &[String], env: &[(&str, &str)]) -> Self {
        let chromium = chromium();
        let mut cmd = Command::new("node");
        cmd.envs(env.iter().copied());
        cmd.current_dir(chromium_dir())
            .arg(script)
            .args(args)
            .env("CHROMIUM", &chromium)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut node = ChildGuard::spawn(&format!("node {script}"), &mut cmd);
        let mut out = node.child.stdout.take().expect("node stdout");
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut s);
            s
        });
        Self {
            script: script.to_owned(),
            node,
            stdout,
        }
    }

    /// Wait (at most `timeout`) for the script to end; the JSON report it printed last.
    pub fn report(mut self, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        while self.node.child.try_wait().expect("wait node").is_none() {
            assert!(
                Instant::now() < deadline,
                "node {} did not finish within {timeout:?}",
                self.script
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let output = self.stdout.join().expect("node output");
        let line = output
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("{} printed no JSON:\n{output}", self.script));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON ({e}): {line}"))
    }
}

/// `tern origin URL --clip` run by `cmd` (`tern`, or `ip netns exec NS tern`), once it has
/// announced its tracks.
pub fn start_origin(url: &str, namespace: &str, mut cmd: Command) -> ChildGuard {
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
pub struct PageServer {
    _runtime: tokio::runtime::Runtime,
    task: tokio::task::JoinHandle<()>,
    addr: std::net::SocketAddr,
}

impl PageServer {
    pub fn start(relay_url: String, fingerprint: String, namespace: &str) -> Self {
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
                    websocket: false,
                },
            ))
            .expect("serve the page");
        Self {
            _runtime: runtime,
            task,
            addr,
        }
    }

    pub fn url(&self, query: &str) -> String {
        format!("http://{}/player.html{query}", self.addr)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The page in Chromium, driven by `drive.mjs`.
pub struct Page {
    node: ChildGuard,
    stdin: Option<ChildStdin>,
    rx: mpsc::Receiver<String>,
    /// Every status seen, with when the test saw it.
    pub statuses: Vec<(Instant, Value)>,
    next_id: u64,
    /// Where every status is written when the page is dropped (kept for failed runs too).
    pub keep: Option<PathBuf>,
}

impl Drop for Page {
    fn drop(&mut self) {
        if let Some(path) = self.keep.take() {
            self.save_statuses(&path);
        }
    }
}

impl Page {
    pub fn open(url: &str, timeout: Duration) -> Self {
        let chromium = chromium();
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
            keep: None,
        }
    }

    /// The newest status (Null before the first).
    pub fn last(&self) -> Value {
        self.statuses
            .last()
            .map(|(_, s)| s.clone())
            .unwrap_or(Value::Null)
    }

    /// Read lines until `deadline`; returns the first non-STATUS line.
    pub fn pump(&mut self, deadline: Instant) -> Option<(String, Value)> {
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
    pub fn watch(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            if let Some(other) = self.pump(deadline) {
                panic!("unexpected line from drive.mjs: {other:?}");
            }
        }
    }

    /// Wait (at most `timeout`) for a status satisfying `pred`; panics naming `what`.
    pub fn wait(&mut self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
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

    pub fn command(&mut self, mut c: Value) -> Value {
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

    /// `window.ternPlayer.NAME(...args)`.
    pub fn call(&mut self, name: &str, args: Value) -> Value {
        self.command(json!({ "op": "call", "fn": name, "args": args }))
    }

    /// Send `text` from the page's chat box (it resolves once the event is on its way).
    pub fn chat(&mut self, text: &str) {
        self.command(json!({ "op": "chat", "text": text }));
    }

    pub fn canvas(&mut self) -> Value {
        self.command(json!({ "op": "canvas" }))
    }

    pub fn screenshot(&mut self, path: &Path) {
        self.command(json!({ "op": "screenshot", "path": path }));
        assert!(path.is_file(), "no screenshot at {}", path.display());
    }

    /// Write every status seen, one JSON line each (for looking at a run afterwards).
    pub fn save_statuses(&self, path: &Path) {
        let mut out = String::new();
        for (_, s) in &self.statuses {
            out.push_str(&s.to_string());
            out.push('\n');
        }
        let _ = std::fs::write(path, out);
    }

    /// End the page; its final state (player, console, page errors).
    pub fn finish(&mut self) -> Value {
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
                let _ = super::wait_exit(&mut self.node, Duration::from_secs(10));
                return v;
            }
        }
    }
}

pub fn u64_of(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

pub fn f64_of(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

pub fn median(xs: &[f64]) -> f64 {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

/// No page errors, no console errors, the FINAL was not a timeout.
pub fn check_clean(final_: &Value) {
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

/// Wall-clock gap between drawn frames tolerated around a switch. The target is two frame
/// durations (67 ms), which the page measures and the test prints (`switch_table`); on a
/// shared two-core machine a headless browser's frame timing alone jitters past that, so the
/// test holds a loose bound that still fails on a stall or a rebuffer, and the exact figures
/// are reported as measurements.
pub const GAP_BOUND_MS: f64 = 250.0;

/// A switch with no decoded frame passed over at the seam (in media time: the new rendition
/// continues exactly where the old one stopped), and no stall in wall-clock time at the seam or
/// in the second on either side. Where the media's own timestamps leave a hole between two
/// consecutive frames (the sample clip's video has one each pass: a frame's decode time repeats
/// the one before), the hole is not counted as the player's: the page reports gaps less such
/// holes, and the raw ones beside them.
pub fn assert_seamless(ev: &Value) {
    let frame = f64_of(ev, "frameMs");
    assert!((30.0..40.0).contains(&frame), "{ev}");
    assert_eq!(
        u64_of(ev, "seamSkipped"),
        0,
        "frames skipped at the seam: {ev}"
    );
    let hole = (f64_of(ev, "seamMediaGapMs") - frame).max(0.0);
    assert!(
        f64_of(ev, "seamGapMs") - hole <= GAP_BOUND_MS,
        "seam gap over {GAP_BOUND_MS} ms: {ev}"
    );
    for key in ["maxGapBeforeMs", "maxGapAfterMs"] {
        assert!(
            f64_of(ev, key) <= GAP_BOUND_MS,
            "{key} over {GAP_BOUND_MS} ms: {ev}"
        );
    }
}
