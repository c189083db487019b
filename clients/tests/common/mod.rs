//! Helpers for end-to-end tests: child processes killed on drop, peers from the cache,
//! a relay on an ephemeral port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

/// Directory of the foreign peers installed by `.ci/install-peers.sh`. Panics (never skips)
/// when a peer is missing: the test command installs them.
pub fn peer(bin: &str) -> PathBuf {
    let dir = std::env::var_os("TERN_PEERS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            std::env::var_os("TERN_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".cache/tern"))
                .join("peers/bin")
        });
    let path = dir.join(bin);
    assert!(
        path.is_file(),
        "peer {bin} is not installed at {}: run .ci/install-peers.sh (the test command does)",
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
}

impl Relay {
    /// Start `tern relay --bind 127.0.0.1:0` plus `extra` args; waits for its banner (≤ 30 s).
    pub fn start(extra: &[&str]) -> Self {
        let mut cmd = Command::new(tern());
        cmd.args(["relay", "--bind", "127.0.0.1:0"]);
        Self::start_cmd(cmd, extra)
    }

    /// Start the relay as `cmd` (a `tern relay --bind ...` command, possibly wrapped, e.g. in
    /// `ip netns exec`) plus `extra` args; waits for its banner (≤ 30 s).
    pub fn start_cmd(mut cmd: Command, extra: &[&str]) -> Self {
        cmd.args(["--admin-bind", "127.0.0.1:0"])
            .args(extra)
            .env("TERN_LOG_LEVEL", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
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
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while addr.is_none() || fingerprint.is_none() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx.recv_timeout(left).expect("relay banner within 30 s");
            if let Some(rest) = line.strip_prefix("tern relay listening on ") {
                addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = line.strip_prefix("certificate sha-256: ") {
                fingerprint = Some(rest.trim().to_owned());
            }
        }
        Self {
            guard,
            addr: addr.expect("addr"),
            fingerprint: fingerprint.expect("fp"),
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

/// A UDP port that was free a moment ago (bound to 127.0.0.1:0, then released).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral UDP port")
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
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
        let addr = format!("127.0.0.1:{}", free_udp_port());
        let mut cmd = Command::new(peer("moq-relay-ietf"));
        cmd.arg("--bind")
            .arg(&addr)
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
        let listening = |l: &str| l.contains("listening on");
        let mut ready = false;
        for _ in 0..100 {
            ready = !out
                .wait_for(1, Duration::from_millis(50), listening)
                .is_empty()
                || !err
                    .wait_for(1, Duration::from_millis(50), listening)
                    .is_empty();
            if ready {
                break;
            }
        }
        assert!(
            ready,
            "moq-relay-ietf did not start: {:?} {:?}",
            out.seen, err.seen
        );
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
