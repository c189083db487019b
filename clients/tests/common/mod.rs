//! Helpers for end-to-end tests: child processes killed on drop, peers from the cache,
//! a relay on an ephemeral port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

pub mod delay_proxy;
pub mod page;
pub mod raw;

/// A child process that is killed (and reaped) when dropped.
pub struct ChildGuard {
    pub child: Child,
    pub name: String,
}

impl ChildGuard {
    /// Spawn `cmd`, naming it for messages.
    pub fn spawn(name: &str, cmd: &mut Command) -> Self {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            child,
            name: name.to_owned(),
        }
    }

    /// Send SIGINT (lets moq-sub and friends flush) and wait up to `timeout`.
    pub fn interrupt(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$TERN_CACHE`, else `~/.cache/tern`: where the test command keeps the peers and venvs.
fn tern_cache() -> PathBuf {
    std::env::var_os("TERN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(".cache/tern")
        })
}

/// Directory of the foreign peers installed by `.ci/install-peers.sh`. Panics (never skips)
/// when a peer is missing: the test command installs them.
pub fn peer(bin: &str) -> PathBuf {
    let dir = std::env::var_os("TERN_PEERS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| tern_cache().join("peers/bin"));
    peer_in(dir, bin)
}

/// The draft-16 release of Cloudflare's client `bin` (`moq-clock-ietf` 0.6.24, `moq-pub`
/// 0.9.7, `moq-sub` 0.4.18), installed by `.ci/install-peers.sh` beside the draft-18 ones
/// (`$TERN_PEERS16_BIN`, default `peers-16/bin` in the cache).
#[allow(dead_code)]
pub fn peer16(bin: &str) -> PathBuf {
    let dir = std::env::var_os("TERN_PEERS16_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| tern_cache().join("peers-16/bin"));
    peer_in(dir, bin)
}

fn peer_in(dir: PathBuf, bin: &str) -> PathBuf {
    let path = dir.join(bin);
    assert!(
        path.is_file(),
        "peer {bin} is not installed at {}: run .ci/install-peers.sh (the test command does)",
        path.display()
    );
    path
}

/// The Python of the PyAV venv (`av` 18.1.0, FFmpeg 8.1 in its wheel) that `.ci/run`
/// installs: `TERN_PYAV_PYTHON`, else `$TERN_CACHE/venv-av/bin/python`. Panics (never skips)
/// when it is missing: the test command installs it.
pub fn pyav_python() -> PathBuf {
    let path = std::env::var_os("TERN_PYAV_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| tern_cache().join("venv-av/bin/python"));
    let ok = Command::new(&path)
        .args([
            "-c",
            "import av; assert av.__version__ == '18.1.0', av.__version__",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "PyAV 18.1.0 is not installed at {}: run .ci/run (its pyav stage installs it), or \
         python3 -m venv ~/.cache/tern/venv-av && ~/.cache/tern/venv-av/bin/pip install av==18.1.0",
        path.display()
    );
    path
}

/// The `tern` binary under test.
pub fn tern() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tern"))
}

/// A `tern relay` child on 127.0.0.1:0 with its bound address and certificate hash.
pub struct Relay {
    pub guard: ChildGuard,
    pub addr: std::net::SocketAddr,
    pub fingerprint: String,
    /// The SRT listener's address, when started with `--srt` (or `[srt] bind`).
    pub srt: Option<std::net::SocketAddr>,
    /// The RTMPS listener's address, when started with `--rtmps`.
    pub rtmps: Option<std::net::SocketAddr>,
    /// The RTMP listener's address, when started with `--rtmp`.
    pub rtmp: Option<std::net::SocketAddr>,
    /// The HTTP listener's base URL (`http://127.0.0.1:PORT`), when it printed one.
    pub http: Option<String>,
    /// The WHIP media port, when it printed one.
    pub whip_udp: Option<std::net::SocketAddr>,
}

impl Relay {
    /// Start `tern relay --bind 127.0.0.1:0` plus `extra` args; waits for its banner (≤ 30 s).
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with_stderr(extra, Stdio::inherit())
    }

    /// [`Relay::start`] with the child's stderr going to `stderr` (`Stdio::piped()` to read
    /// its logs from `guard.child.stderr`).
    pub fn start_with_stderr(extra: &[&str], stderr: Stdio) -> Self {
        let mut cmd = Command::new(tern());
        cmd.args(["relay", "--bind", "127.0.0.1:0"]);
        Self::start_cmd_with_stderr(cmd, extra, stderr)
    }

    /// Start the relay as `cmd` (a `tern relay --bind ...` command, possibly wrapped, e.g. in
    /// `ip netns exec`) plus `extra` args; waits for its banner (≤ 30 s).
    pub fn start_cmd(cmd: Command, extra: &[&str]) -> Self {
        Self::start_cmd_with_stderr(cmd, extra, Stdio::inherit())
    }

    /// [`Relay::start_cmd`] with the child's stderr going to `stderr`.
    pub fn start_cmd_with_stderr(mut cmd: Command, extra: &[&str], stderr: Stdio) -> Self {
        // TERN_TEST_RELAY_LOG=debug shows the relay's debug lines when a test fails; a test
        // that reads a debug line sets TERN_LOG_LEVEL on `cmd` itself.
        if !cmd.get_envs().any(|(k, _)| k == "TERN_LOG_LEVEL") {
            cmd.env(
                "TERN_LOG_LEVEL",
                std::env::var("TERN_TEST_RELAY_LOG").unwrap_or_else(|_| "info".into()),
            );
        }
        cmd.args(["--admin-bind", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut guard = ChildGuard::spawn("tern relay", &mut cmd);
        let stdout = guard.child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut addr = None;
        let mut fingerprint = None;
        let mut srt = None;
        let mut rtmp = None;
        let mut rtmps = None;
        let mut http = None;
        let mut whip_udp = None;
        let wants_srt = extra.contains(&"--srt");
        let wants_rtmp = extra.contains(&"--rtmp");
        let wants_rtmps = extra.contains(&"--rtmps");
        let wants_http = extra.contains(&"--http");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while addr.is_none()
            || fingerprint.is_none()
            || (wants_srt && srt.is_none())
            || (wants_rtmp && rtmp.is_none())
            || (wants_rtmps && rtmps.is_none())
            || (wants_http && (http.is_none() || whip_udp.is_none()))
        {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx.recv_timeout(left).expect("relay banner within 30 s");
            if let Some(rest) = line.strip_prefix("tern relay listening on ") {
                addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = line.strip_prefix("certificate sha-256: ") {
                fingerprint = Some(rest.trim().to_owned());
            }
            if let Some(rest) = line.strip_prefix("SRT ingest listening on ") {
                srt = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = line.strip_prefix("RTMP ingest listening on ") {
                rtmp = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = line.strip_prefix("RTMPS ingest listening on ") {
                rtmps = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = line.strip_prefix("HTTP listening on ") {
                http = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.split("media on udp ").nth(1) {
                whip_udp = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
        }
        Self {
            guard,
            addr: addr.expect("addr"),
            fingerprint: fingerprint.expect("fp"),
            srt,
            rtmp,
            rtmps,
            http,
            whip_udp,
        }
    }

    /// `moqt://127.0.0.1:PORT` (raw QUIC).
    pub fn moqt_url(&self) -> String {
        format!("moqt://{}", self.addr)
    }

    /// `https://127.0.0.1:PORT` (WebTransport).
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT` (QMux over a WebSocket on the HTTP listener, started with
    /// `--http`).
    pub fn ws_url(&self) -> String {
        self.http
            .as_deref()
            .expect("the HTTP listener (--http)")
            .replacen("http://", "ws://", 1)
    }
}

/// Lines a child writes to one of its pipes, read on a thread (so waits can be bounded).
pub struct Lines {
    rx: mpsc::Receiver<String>,
    /// Every line seen so far.
    pub seen: Vec<String>,
}

impl Lines {
    /// Read `pipe` line by line in the background.
    pub fn new(pipe: impl std::io::Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining after the receiver is gone: a closed pipe would kill the child.
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            rx,
            seen: Vec::new(),
        }
    }

    /// Wait (at most `timeout`) for a line matching `pred` and return it; panics naming `what`
    /// and every line seen when none came.
    pub fn expect(&mut self, timeout: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        match self.wait_for(1, timeout, pred).into_iter().next() {
            Some(line) => line,
            None => panic!("{what}: no such line within {timeout:?} in {:?}", self.seen),
        }
    }

    /// Wait (at most `timeout`) until `n` lines matching `pred` were seen; returns them.
    pub fn wait_for(
        &mut self,
        n: usize,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let matching: Vec<String> = self.seen.iter().filter(|l| pred(l)).cloned().collect();
            if matching.len() >= n {
                return matching;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => return matching,
            }
        }
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Write `text` to the file `name` in it; its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Create `tern-<name>-<pid>-<nanos>`.
    pub fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("tern-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Wait (at most `timeout`) for a child to exit.
pub fn wait_exit(guard: &mut ChildGuard, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = guard.child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Cloudflare's relay (`moq-relay-ietf`) on a free port with a fresh self-signed certificate.
pub struct CfRelay {
    _guard: ChildGuard,
    _dir: TempDir,
    addr: String,
}

impl CfRelay {
    pub fn start() -> Self {
        let dir = TempDir::new("cf-relay");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("self-signed certificate");
        let (cert_path, key_path) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
        std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
        let mut cmd = Command::new(peer("moq-relay-ietf"));
        cmd.arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--tls-cert")
            .arg(&cert_path)
            .arg("--tls-key")
            .arg(&key_path)
            .arg("--coordinator-file")
            .arg(dir.0.join("coordinator.json"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = ChildGuard::spawn("moq-relay-ietf", &mut cmd);
        let mut out = Lines::new(guard.child.stdout.take().expect("stdout"));
        let mut err = Lines::new(guard.child.stderr.take().expect("stderr"));
        // It binds port 0 and logs "listening on 127.0.0.1:PORT".
        let listening = |l: &str| l.contains("listening on");
        let mut line = None;
        for _ in 0..100 {
            line = out
                .wait_for(1, Duration::from_millis(50), listening)
                .pop()
                .or_else(|| err.wait_for(1, Duration::from_millis(50), listening).pop());
            if line.is_some() {
                break;
            }
        }
        let addr = line
            .as_deref()
            .and_then(|l| l.rsplit("listening on ").next())
            .map(|a| a.trim().to_owned())
            .unwrap_or_else(|| {
                panic!(
                    "moq-relay-ietf did not start: {:?} {:?}",
                    out.seen, err.seen
                )
            });
        Self {
            _guard: guard,
            _dir: dir,
            addr,
        }
    }

    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn moqt_url(&self) -> String {
        format!("moqt://{}", self.addr)
    }
}

/// ffprobe's streams of a file (`-count_frames -count_packets -show_streams`) as JSON values.
pub fn ffprobe_streams(path: &Path) -> Vec<serde_json::Value> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-count_packets",
            "-show_streams",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ffprobe printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    json["streams"].as_array().cloned().unwrap_or_default()
}

/// The first of ffprobe's `streams` of `codec_type` (`video`, `audio`); panics when there is
/// none.
pub fn stream_of<'a>(streams: &'a [serde_json::Value], codec_type: &str) -> &'a serde_json::Value {
    streams
        .iter()
        .find(|s| s["codec_type"] == codec_type)
        .unwrap_or_else(|| panic!("no {codec_type} stream: {streams:?}"))
}

/// libx264 options for [`ffmpeg_live`]: no B-frames, no lookahead.
pub const ZERO_LATENCY: &[&str] = &["-tune", "zerolatency"];

/// ffmpeg publishing in real time `seconds` of a `size` test pattern at 30 fps in H.264 (a
/// keyframe every 30 frames, then libx264's `x264` options: [`ZERO_LATENCY`], or `-bf 3` for
/// B-frames) and, with `tone`, a tone in AAC: the output format and URL are the caller's to add.
pub fn ffmpeg_live(size: &str, seconds: u64, tone: bool, x264: &[&str]) -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={size}:rate=30:duration={seconds}"));
    if tone {
        cmd.args(["-f", "lavfi", "-i"])
            .arg(format!("sine=duration={seconds}"));
    }
    cmd.args(["-c:v", "libx264", "-g", "30"]).args(x264);
    if tone {
        cmd.args(["-c:a", "aac"]);
    }
    cmd
}

/// A relay with RTMP and HTTP listeners (`env` set for it, its stderr to `stderr`) and
/// `publish`, an [`ffmpeg_live`] command, sending it broadcast `path` in FLV over RTMP (with
/// `token`, if any, as the stream name's `?jwt=`): the relay, its HTTP base URL and ffmpeg,
/// once the broadcast is listed ([`wait_listed`], with the token as `?token=`).
pub fn rtmp_broadcast(
    path: &str,
    mut publish: Command,
    env: &[(&str, &str)],
    token: Option<&str>,
    stderr: Stdio,
) -> (Relay, String, ChildGuard) {
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .envs(env.iter().copied());
    let relay = Relay::start_cmd_with_stderr(
        cmd,
        &["--rtmp", "127.0.0.1:0", "--http", "127.0.0.1:0"],
        stderr,
    );
    let rtmp = relay.rtmp.expect("rtmp address");
    let http = relay.http.clone().expect("http address");
    let (jwt, query) = match token {
        Some(t) => (format!("?jwt={t}"), format!("?token={t}")),
        None => (String::new(), String::new()),
    };
    publish
        .args(["-pix_fmt", "yuv420p", "-f", "flv"])
        .arg(format!("rtmp://{rtmp}/{path}{jwt}"))
        .stderr(Stdio::null());
    let ffmpeg = ChildGuard::spawn("ffmpeg", &mut publish);
    wait_listed(&http, path, &query);
    (relay, http, ffmpeg)
}

/// Wait (at most 30 s) until broadcast `path` is listed at `http` (a relay's `http://` base
/// URL): its LL-HLS multivariant playlist, the catalog read over HTTP, asked for with `query`,
/// answers 200.
pub fn wait_listed(http: &str, path: &str, query: &str) {
    let addr = http.strip_prefix("http://").expect("plain HTTP");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = http_get(addr, &format!("/hls/{path}/index.m3u8{query}"));
        if answer.contains(" 200 ") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no broadcast {path}: {answer}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A numeric field of an ffprobe stream (ffprobe writes some as strings).
pub fn num(stream: &serde_json::Value, key: &str) -> u64 {
    stream[key]
        .as_u64()
        .or_else(|| stream[key].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("ffprobe {key} missing: {stream}"))
}

/// A network namespace holding the relay, joined to the host by a veth pair; `tc tbf` on the
/// namespace's end caps what the relay sends to the host.
pub struct NetNs {
    /// Namespace name.
    pub name: String,
    /// Host end of the veth pair.
    pub host_if: String,
    /// Namespace end of the veth pair.
    pub ns_if: String,
    /// The namespace's address on the pair.
    pub ns_ip: String,
    /// The host's address on the pair.
    pub host_ip: String,
}

static NETNS_SEQ: AtomicU32 = AtomicU32::new(0);

impl NetNs {
    /// Create the namespace and its veth pair (root only).
    pub fn create() -> Result<Self, String> {
        Self::remove_stale();
        let pid = std::process::id();
        let seq = NETNS_SEQ.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{seq}", pid % 100_000);
        let subnet = format!("10.200.{}.{}", pid % 250, (seq % 60) * 4);
        let base: Vec<u32> = subnet.split('.').map(|x| x.parse().unwrap_or(0)).collect();
        let host_ip = format!("10.200.{}.{}", base[2], base[3] + 1);
        let ns_ip = format!("10.200.{}.{}", base[2], base[3] + 2);
        let n = Self {
            name: format!("tern-e2e-{pid}-{seq}"),
            host_if: format!("tvh{tag}"),
            ns_if: format!("tvn{tag}"),
            ns_ip,
            host_ip: host_ip.clone(),
        };
        let ns = n.name.as_str();
        run_checked(&["ip", "netns", "add", ns])?;
        run_checked(&[
            "ip", "link", "add", &n.host_if, "type", "veth", "peer", "name", &n.ns_if,
        ])?;
        run_checked(&["ip", "link", "set", &n.ns_if, "netns", ns])?;
        run_checked(&[
            "ip",
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &n.host_if,
        ])?;
        run_checked(&["ip", "link", "set", &n.host_if, "up"])?;
        run_checked(&[
            "ip",
            "netns",
            "exec",
            ns,
            "ip",
            "addr",
            "add",
            &format!("{}/30", n.ns_ip),
            "dev",
            &n.ns_if,
        ])?;
        run_checked(&[
            "ip", "netns", "exec", ns, "ip", "link", "set", &n.ns_if, "up",
        ])?;
        run_checked(&["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])?;
        Ok(n)
    }

    /// Namespaces of test processes that are gone (killed before their drop ran): deleting one
    /// deletes its veth pair too.
    fn remove_stale() {
        let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
            return;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some(name) = line.split_whitespace().next() else {
                continue;
            };
            let Some(pid) = name
                .strip_prefix("tern-e2e-")
                .and_then(|rest| rest.split('-').next())
            else {
                continue;
            };
            if !Path::new("/proc").join(pid).exists() {
                let _ = run_checked(&["ip", "netns", "del", name]);
            }
        }
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Cap what leaves the namespace (relay → Chromium) at `kbit` kbit/s.
    pub fn cap(&self, kbit: u32) -> Result<(), String> {
        run_checked(&[
            "ip",
            "netns",
            "exec",
            &self.name,
            "tc",
            "qdisc",
            "replace",
            "dev",
            &self.ns_if,
            "root",
            "tbf",
            "rate",
            &format!("{kbit}kbit"),
            "burst",
            "4kb",
            "latency",
            "150ms",
        ])
    }

    /// Drop `percent` % of the UDP datagrams the namespace sends to `daddr`:`dport`, at random
    /// (nftables `numgen random`).
    pub fn lose_udp(&self, percent: u32, daddr: &str, dport: u16) -> Result<(), String> {
        self.loss_chain()?;
        let (dport, percent) = (dport.to_string(), percent.to_string());
        self.nft(&[
            "add",
            "rule",
            "inet",
            "tern_loss",
            "out",
            "ip",
            "daddr",
            daddr,
            "udp",
            "dport",
            &dport,
            "numgen",
            "random",
            "mod",
            "100",
            "<",
            &percent,
            "counter",
            "drop",
        ])
    }

    /// Drop `percent` % of the UDP datagrams the namespace sends from its port `sport`, at
    /// random; all of them at 100.
    pub fn drop_udp_from(&self, sport: u16, percent: u32) -> Result<(), String> {
        self.loss_chain()?;
        let (sport, below) = (sport.to_string(), percent.to_string());
        let mut rule = vec![
            "add",
            "rule",
            "inet",
            "tern_loss",
            "out",
            "udp",
            "sport",
            &sport,
        ];
        if percent < 100 {
            rule.extend_from_slice(&["numgen", "random", "mod", "100", "<", &below]);
        }
        rule.push("drop");
        self.nft(&rule)
    }

    /// The table and output chain the loss rules go in (adding them again changes nothing).
    fn loss_chain(&self) -> Result<(), String> {
        self.nft(&["add", "table", "inet", "tern_loss"])?;
        self.nft(&[
            "add",
            "chain",
            "inet",
            "tern_loss",
            "out",
            "{ type filter hook output priority 0; }",
        ])
    }

    /// `nft args` run inside the namespace.
    fn nft(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["ip", "netns", "exec", &self.name, "nft"];
        all.extend_from_slice(args);
        run_checked(&all)
    }

    /// What the [`NetNs::lose_udp`] rule dropped so far: (packets, bytes). A packet is what the
    /// kernel's output hook sees: a whole segmentation-offload batch of datagrams counts once.
    pub fn udp_dropped(&self) -> (u64, u64) {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.name,
                "nft",
                "list",
                "chain",
                "inet",
                "tern_loss",
                "out",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let field = |name: &str| {
            out.split(name)
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        (field("counter packets "), field(" bytes "))
    }

    /// Remove the cap.
    pub fn uncap(&self) -> Result<(), String> {
        run_checked(&[
            "ip",
            "netns",
            "exec",
            &self.name,
            "tc",
            "qdisc",
            "del",
            "dev",
            &self.ns_if,
            "root",
        ])
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = run_checked(&["ip", "link", "del", &self.host_if]);
        let _ = run_checked(&["ip", "netns", "del", &self.name]);
    }
}

/// Run a command; its stderr in the error.
pub fn run_checked(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("`{}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// ffmpeg arguments for `seconds` of a `WxH` test pattern at `fps` (libx264 without B-frames,
/// a keyframe every 30 frames) and a 48 kHz tone (AAC 64 kb/s): the inputs and encoders,
/// without the output format.
pub fn test_av_args(size: &str, fps: u64, seconds: u64, preset: &str) -> Vec<String> {
    let mut args: Vec<String> = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
        .map(String::from)
        .to_vec();
    args.extend(["-f", "lavfi", "-i"].map(String::from));
    args.push(format!("testsrc=size={size}:rate={fps}:duration={seconds}"));
    args.extend(["-f", "lavfi", "-i"].map(String::from));
    args.push(format!(
        "sine=frequency=440:sample_rate=48000:duration={seconds}"
    ));
    args.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-bf",
            "0",
            "-g",
            "30",
            "-keyint_min",
            "30",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ]
        .map(String::from),
    );
    args
}

/// `seconds` of [`test_av_args`] at 320x240 and 30 fps (preset veryfast) as an MPEG-TS file in
/// `dir`; its path.
pub fn make_test_ts(dir: &Path, seconds: u64) -> PathBuf {
    let path = dir.join(format!("input-{seconds}s.ts"));
    let status = Command::new("ffmpeg")
        .args(test_av_args("320x240", 30, seconds, "veryfast"))
        .args(["-f", "mpegts"])
        .arg(&path)
        .status()
        .expect("run ffmpeg (apt-get install ffmpeg)");
    assert!(status.success(), "ffmpeg failed: {status}");
    path
}

/// `srt-live-transmit` publishing `ts` to `url` (an `srt://` caller URL), its stdin fed from a
/// thread in 1316-byte chunks paced over `seconds`; when the input ends, its stdin closes and it
/// says goodbye (SRT shutdown). Killed on drop.
pub fn srt_live_transmit(url: &str, ts: std::sync::Arc<Vec<u8>>, seconds: u32) -> ChildGuard {
    let mut cmd = Command::new("srt-live-transmit");
    // Seven TS packets per SRT packet, as ffmpeg and OBS send (libsrt's default is 1456 bytes).
    cmd.args(["-a:no", "-chunk:1316", "file://con"])
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn("srt-live-transmit (apt-get install srt-tools)", &mut cmd);
    let mut lines = Lines::new(guard.child.stderr.take().expect("stderr"));
    lines.expect(
        Duration::from_secs(10),
        "srt-live-transmit connected",
        |l| l.contains("connected"),
    );
    let mut stdin = guard.child.stdin.take().expect("stdin");
    std::thread::spawn(move || {
        let chunks: Vec<&[u8]> = ts.chunks(1316).collect();
        let every = Duration::from_secs(u64::from(seconds)) / chunks.len().max(1) as u32;
        let start = std::time::Instant::now();
        for (i, c) in chunks.iter().enumerate() {
            if stdin.write_all(c).is_err() {
                return;
            }
            let due = start + every * (i as u32 + 1);
            std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        }
    });
    guard
}

/// Stop a `moq-sub` writing an MP4 (SIGINT lets it flush), unless it already exited.
pub fn stop_moq_sub(mut sub: ChildGuard) {
    if let Ok(Some(status)) = sub.child.try_wait() {
        eprintln!("moq-sub already exited: {status}");
    } else {
        assert!(
            sub.interrupt(Duration::from_secs(10)).is_some(),
            "moq-sub did not stop"
        );
    }
}

/// The frames of the MP4 at `out`, checked to hold video in `codec` (ffprobe's name: `h264`,
/// `hevc`) of `size` and 48 kHz AAC: (video frames, audio frames).
pub fn video_aac_frames(out: &Path, codec: &str, size: (u64, u64)) -> (u64, u64) {
    let streams = ffprobe_streams(out);
    let v = stream_of(&streams, "video");
    assert_eq!(v["codec_name"], codec);
    assert_eq!((num(v, "width"), num(v, "height")), size);
    let a = stream_of(&streams, "audio");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(num(a, "sample_rate"), 48_000);
    let frames = (num(v, "nb_read_frames"), num(a, "nb_read_frames"));
    eprintln!("{} video frames, {} audio frames", frames.0, frames.1);
    frames
}

/// The records of `tern subscribe --framing length` output (4-byte big-endian lengths).
pub fn length_records(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let n = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        data = &data[4..];
        let n = n.min(data.len());
        if n > 0 {
            out.push(data[..n].to_vec());
        }
        data = &data[n..];
    }
    out
}

/// A video track read back as a fragmented MP4 with `tern subscribe` (for codecs Cloudflare's
/// moq-sub does not write, such as HEVC): [`TrackReader::start`] takes the init track and
/// subscribes to `track`; [`TrackReader::finish`] waits for the track to end and writes the
/// init segment and every object to `path`.
pub struct TrackReader {
    init: Vec<u8>,
    video: ChildGuard,
    reader: std::thread::JoinHandle<Vec<u8>>,
}

impl TrackReader {
    /// Read `track` of broadcast `ns` at `url` (a relay with a self-signed certificate).
    pub fn start(url: &str, ns: &str, track: &str) -> Self {
        let subscribe = |track: &str| {
            let mut cmd = Command::new(tern());
            cmd.args(["subscribe", url, "--tls-disable-verify", "--namespace", ns])
                .args(["--track", track, "--framing", "length"])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            cmd
        };
        let init = subscribe("0.mp4")
            .args(["--max-objects", "1"])
            .output()
            .expect("tern subscribe (init track)");
        let mut video = ChildGuard::spawn("tern subscribe", &mut subscribe(track));
        let mut stdout = video.child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
            buf
        });
        Self {
            init: init.stdout,
            video,
            reader,
        }
    }

    /// Wait (at most `timeout`) for the track to end, then write the fMP4 to `path`.
    pub fn finish(mut self, timeout: Duration, path: &Path) {
        let done = wait_exit(&mut self.video, timeout).expect("the subscriber ends with the track");
        assert!(done.success(), "tern subscribe: {done}");
        let output = self.reader.join().expect("reader");
        let mut file = length_records(&self.init).concat();
        assert_eq!(&file[4..8], b"ftyp", "the init track holds ftyp + moov");
        for chunk in length_records(&output) {
            file.extend_from_slice(&chunk);
        }
        std::fs::write(path, &file).expect("write the fMP4");
    }
}

/// The frames ffprobe read from `stream` (0 when it read none).
pub fn frames(stream: &serde_json::Value) -> u64 {
    stream["nb_read_frames"]
        .as_str()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
}

/// The frames ffprobe decodes from the audio stream of `path` that has any (an init segment
/// lists every track of its broadcast, a track's objects fill one), checked to be `codec`.
pub fn audio_frames(path: &Path, codec: &str) -> u64 {
    let streams = ffprobe_streams(path);
    let a = streams
        .iter()
        .find(|s| s["codec_type"] == "audio" && frames(s) > 0)
        .unwrap_or_else(|| panic!("no decoded audio in {}: {streams:?}", path.display()));
    assert_eq!(a["codec_name"], codec, "{streams:?}");
    frames(a)
}

/// One entry (`pts`, `pts_time`, …) of each video frame of `path` in decode order, as ffprobe
/// prints it; only the keyframes' with `keys_only`. Entries that do not parse are left out.
pub fn video_frames<T: std::str::FromStr>(path: &Path, entry: &str, keys_only: bool) -> Vec<T> {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-select_streams", "v"]);
    if keys_only {
        cmd.args(["-skip_frame", "nokey"]);
    }
    let out = cmd
        .args(["-show_entries", &format!("frame={entry}"), "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// Text without its ANSI colour sequences.
pub fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// GET `path` from `addr` (HTTP/1.0); the body.
pub fn http_get(addr: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("admin port");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

/// The value of `series` (name and labels, exactly) in a Prometheus text page.
pub fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// The admin address (`host:port`) a relay's log names in its "admin HTTP listening" line.
pub fn admin_address(log: &mut Lines) -> String {
    let line = log.wait_for(1, Duration::from_secs(10), |l| {
        l.contains("admin HTTP listening")
    });
    line.first()
        .map(|l| plain(l))
        .and_then(|l| {
            Some(
                l.split("local=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .to_owned(),
            )
        })
        .unwrap_or_else(|| panic!("admin address in the log: {:?}", log.seen))
}

/// Resident memory of process `pid`, in bytes (`VmRSS`).
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or_else(|| panic!("no VmRSS for {pid}"))
}

/// `tern cluster ca --name NAME` then `tern cluster cert --name` for each of `certs`, in `dir`.
pub fn pki(dir: &Path, name: &str, certs: &[&str]) {
    let run = |args: &[&str]| {
        let out = Command::new(tern())
            .args(args)
            .current_dir(dir)
            .output()
            .expect("tern cluster");
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    run(&["cluster", "ca", "--name", name]);
    for cert in certs {
        run(&["cluster", "cert", "--name", cert]);
    }
}

/// The track names an MSF catalog lists, in order (panics when it has no `tracks` array).
pub fn catalog_track_names(catalog: &serde_json::Value) -> Vec<&str> {
    catalog["tracks"]
        .as_array()
        .expect("the catalog lists tracks")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect()
}

/// The newest object of broadcast `ns`'s catalog track at `url` (a relay with a self-signed
/// certificate), read with tern's own subscriber: its bytes (empty when there is none).
pub fn latest_catalog(url: &str, ns: &str) -> Vec<u8> {
    Command::new(tern())
        .args(["subscribe", url, "--tls-disable-verify", "--namespace", ns])
        .args(["--track", "catalog", "--latest", "--max-objects", "1"])
        .output()
        .expect("tern subscribe (catalog)")
        .stdout
}

/// Read `track` of broadcast `path` through a node's local API (`api`), as a test in the
/// node's process does: asked again every 50 ms until the track exists (at most `wait`).
pub async fn read_local(
    api: &tern_model::local::LocalApi,
    path: &str,
    track: &str,
    wait: Duration,
) -> tern_model::local::Reading {
    let credentials = tern_model::local::Credentials::in_process("test");
    tokio::time::timeout(wait, async {
        loop {
            let name = tern_model::TrackName::from_path(path, track);
            let options = tern_model::local::ReadOptions::default();
            match api.subscribe(name, credentials.clone(), options).await {
                Ok(r) => return r,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("track {path}/{track} within {wait:?}"))
}
