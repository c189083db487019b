//! The relay under test: a `tern relay` child process with its MoQ, RTMP, SRT and HTTP (WHIP)
//! listeners on loopback ports it picks itself, its stdout banner read for their addresses and its log kept
//! in a file; and what `/proc` says about it and its descendants (the audio transcoders).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// What a relay is started with.
#[derive(Debug, Clone)]
pub struct Options {
    /// Audio transcoding (`ingest.transcode_audio`).
    pub transcode_audio: bool,
    /// `srt.latency` in milliseconds; `None`: the default (120 ms).
    pub srt_latency_ms: Option<u64>,
    /// `ingest.ladder`: the renditions made of every broadcast (`360p@800k`, ...).
    pub ladder: Vec<String>,
}

/// Lines of the relay's log the bench looks at.
#[derive(Debug, Default)]
pub struct Log {
    /// Publishers admitted (`... publishes NAMESPACE`).
    pub publishes: AtomicUsize,
    /// The first lines of `srt: ... publishes ...` (they carry the agreed SRT latency).
    pub srt_admissions: Mutex<Vec<String>>,
    /// Warnings and errors, the first ones.
    pub problems: Mutex<Vec<String>>,
}

/// A running relay; stopped (SIGTERM, then SIGKILL after 5 s) on drop.
pub struct Relay {
    child: Child,
    /// Its process ID.
    pub pid: u32,
    /// The MoQ listener (raw QUIC and WebTransport).
    pub moq: SocketAddr,
    /// The RTMP listener.
    pub rtmp: SocketAddr,
    /// The SRT listener.
    pub srt: SocketAddr,
    /// The HTTP listener (WHIP's `POST /whip/NAME`; its media port is in the SDP answer).
    pub http: SocketAddr,
    /// What its log said.
    pub log: Arc<Log>,
}

impl Relay {
    /// Start `tern relay` (`tern` is the binary) with `options`, its log appended to
    /// `log_file`; waits up to 30 s for its listeners.
    pub fn start(tern: &Path, options: &Options, log_file: &Path) -> anyhow::Result<Self> {
        let mut cmd = Command::new(tern);
        cmd.args(["relay", "--bind", "127.0.0.1:0"])
            .args(["--rtmp", "127.0.0.1:0", "--srt", "127.0.0.1:0"])
            .args(["--http", "127.0.0.1:0"])
            .args(["--admin-bind", "127.0.0.1:0"])
            .env("TERN_LOG_LEVEL", "info")
            .env(
                "TERN_INGEST_TRANSCODE_AUDIO",
                options.transcode_audio.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ms) = options.srt_latency_ms {
            cmd.env("TERN_SRT_LATENCY", format!("{ms}ms"));
        }
        if !options.ladder.is_empty() {
            cmd.env("TERN_INGEST_LADDER", options.ladder.join(","));
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", tern.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("the relay's stdout")?;
        let stderr = child.stderr.take().context("the relay's stderr")?;
        let log = Arc::new(Log::default());
        let file = File::options()
            .create(true)
            .append(true)
            .open(log_file)
            .with_context(|| format!("open {}", log_file.display()))?;
        spawn_log_reader(stderr, file, log.clone());
        let (tx, rx) = mpsc::channel();
        // Read for the relay's whole life: it prints more later (a closed pipe would end it).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut relay = Self {
            child,
            pid,
            moq: SocketAddr::from(([0, 0, 0, 0], 0)),
            rtmp: SocketAddr::from(([0, 0, 0, 0], 0)),
            srt: SocketAddr::from(([0, 0, 0, 0], 0)),
            http: SocketAddr::from(([0, 0, 0, 0], 0)),
            log,
        };
        let (mut moq, mut rtmp, mut srt, mut http) = (None, None, None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while moq.is_none() || rtmp.is_none() || srt.is_none() || http.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                bail!(
                    "the relay did not print its listeners within 30 s (log: {})",
                    log_file.display()
                );
            };
            let addr = |prefix: &str| {
                line.strip_prefix(prefix)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|a| a.parse::<SocketAddr>().ok())
            };
            moq = moq.or_else(|| addr("tern relay listening on "));
            rtmp = rtmp.or_else(|| addr("RTMP ingest listening on "));
            srt = srt.or_else(|| addr("SRT ingest listening on "));
            // Plain HTTP: the listener is on loopback.
            http = http.or_else(|| addr("HTTP listening on http://"));
        }
        (relay.moq, relay.rtmp, relay.srt, relay.http) = (
            moq.context("MoQ address")?,
            rtmp.context("RTMP address")?,
            srt.context("SRT address")?,
            http.context("HTTP address")?,
        );
        Ok(relay)
    }

    /// `moqt://` URL of the MoQ listener.
    pub fn moqt_url(&self) -> String {
        format!("moqt://{}", self.moq)
    }

    /// Wait (at most `limit`) until the log has shown `n` publishers admitted in all.
    pub fn wait_publishes(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while self.log.publishes.load(Ordering::Relaxed) < n {
            if Instant::now() > deadline {
                bail!(
                    "{} of {n} publishers admitted after {limit:?}; problems logged: {:?}",
                    self.log.publishes.load(Ordering::Relaxed),
                    self.problems()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The warnings and errors logged so far (the first 20).
    pub fn problems(&self) -> Vec<String> {
        self.log
            .problems
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // SIGTERM first: the relay stops its transcoders itself.
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copy the relay's stderr to `file`, counting what [`Log`] keeps.
fn spawn_log_reader(stderr: impl std::io::Read + Send + 'static, file: File, log: Arc<Log>) {
    std::thread::spawn(move || {
        let mut file = std::io::BufWriter::new(file);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let line = strip_ansi(&line);
            let _ = writeln!(file, "{line}");
            if line.contains(" publishes ") {
                log.publishes.fetch_add(1, Ordering::Relaxed);
                if line.contains("srt: ") {
                    push_bounded(&log.srt_admissions, &line);
                }
            }
            if line.contains("WARN") || line.contains("ERROR") {
                push_bounded(&log.problems, &line);
            }
        }
        let _ = file.flush();
    });
}

/// `line` without its terminal colour sequences (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Up to and including the sequence's final letter.
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

fn push_bounded(list: &Mutex<Vec<String>>, line: &str) {
    let mut list = list.lock().unwrap_or_else(|e| e.into_inner());
    if list.len() < 20 {
        list.push(line.to_owned());
    }
}

/// USER_HZ: the clock ticks of `/proc/PID/stat` (100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the CPU time of a process and its descendants.
#[derive(Debug, Clone, Default)]
pub struct CpuSample {
    /// The process itself, seconds.
    pub own: f64,
    /// Each descendant's, seconds, by PID.
    pub descendants: HashMap<u32, f64>,
}

impl CpuSample {
    /// Read `/proc` for `pid` and every process under it.
    pub fn read(pid: u32) -> anyhow::Result<Self> {
        let mut parent_of = HashMap::new();
        let mut cpu_of = HashMap::new();
        for entry in std::fs::read_dir("/proc").context("read /proc")? {
            let Ok(entry) = entry else { continue };
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            // A process may end between the listing and the read.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let Some((ppid, cpu)) = parse_stat(&stat) else {
                continue;
            };
            parent_of.insert(p, ppid);
            cpu_of.insert(p, cpu);
        }
        let own = *cpu_of
            .get(&pid)
            .with_context(|| format!("process {pid} is gone"))?;
        let mut descendants = HashMap::new();
        for (&p, &cpu) in &cpu_of {
            let mut up = parent_of.get(&p).copied();
            // Bounded walk up the tree.
            for _ in 0..64 {
                match up {
                    Some(q) if q == pid => {
                        descendants.insert(p, cpu);
                        break;
                    }
                    Some(q) if q > 1 => up = parent_of.get(&q).copied(),
                    _ => break,
                }
            }
        }
        Ok(Self { own, descendants })
    }

    /// CPU seconds the process and its descendants spent since `earlier` (a descendant that
    /// started since counts from zero; one that ended since is not counted).
    pub fn since(&self, earlier: &CpuSample) -> (f64, f64) {
        let children = self
            .descendants
            .iter()
            .map(|(p, cpu)| cpu - earlier.descendants.get(p).copied().unwrap_or(0.0))
            .fold(0.0, |a, b| a + b);
        (self.own - earlier.own, children)
    }
}

/// (parent PID, utime + stime in seconds) of a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(u32, f64)> {
    let (_, after) = stat.rsplit_once(") ")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: state, ppid (field 4), ..., utime and stime (fields 14, 15).
    let ppid = fields.get(1)?.parse().ok()?;
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some((ppid, ticks / TICKS_PER_SECOND))
}

/// Resident set size (`VmRSS`) of a process, bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmRSS in /proc/PID/status")?;
    Ok(kb * 1024)
}

/// The default `tern` binary: `release/tern` under `$CARGO_TARGET_DIR`, or `./target`.
pub fn default_tern() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("release/tern")
}
