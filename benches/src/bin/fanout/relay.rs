//! Relay processes under test: started pinned to one core with one runtime thread, measured
//! through /proc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// Which relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `tern relay`.
    Tern,
    /// `tern relay` of another build (`--tern-baseline`): the same code path before a change.
    TernBaseline,
    /// Cloudflare's `moq-relay-ietf`.
    Cloudflare,
    /// moq-dev's `moq-relay`.
    MoqDev,
}

impl Kind {
    /// Parse a name from the command line.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "tern" => Kind::Tern,
            "tern-baseline" => Kind::TernBaseline,
            "cloudflare" | "moq-relay-ietf" => Kind::Cloudflare,
            "moqdev" | "moq-relay" => Kind::MoqDev,
            other => bail!("unknown relay {other:?} (tern, tern-baseline, cloudflare, moqdev)"),
        })
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tern => "tern",
            Kind::TernBaseline => "tern-baseline",
            Kind::Cloudflare => "moq-relay-ietf",
            Kind::MoqDev => "moq-relay",
        }
    }
}

/// Where the binaries are.
#[derive(Debug, Clone)]
pub struct Bins {
    /// `tern`.
    pub tern: PathBuf,
    /// `tern` of the baseline build.
    pub tern_baseline: PathBuf,
    /// `moq-relay-ietf`.
    pub cloudflare: PathBuf,
    /// `moq-relay`.
    pub moqdev: PathBuf,
}

/// A running relay, killed on drop.
pub struct Running {
    child: Child,
    /// Its pid.
    pub pid: u32,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `kind` on `127.0.0.1:port` pinned to `core`.
pub fn start(
    kind: Kind,
    bins: &Bins,
    port: u16,
    cert: &Path,
    key: &Path,
    core: u32,
) -> anyhow::Result<Running> {
    let addr = format!("127.0.0.1:{port}");
    let (bin, args): (&Path, Vec<String>) = match kind {
        Kind::Tern | Kind::TernBaseline => (
            if kind == Kind::Tern {
                &bins.tern
            } else {
                &bins.tern_baseline
            },
            vec![
                "relay".into(),
                "--bind".into(),
                addr,
                "--tls-cert".into(),
                cert.display().to_string(),
                "--tls-key".into(),
                key.display().to_string(),
                "--admin-bind".into(),
                "127.0.0.1:0".into(),
            ],
        ),
        Kind::Cloudflare => (
            &bins.cloudflare,
            vec![
                "--bind".into(),
                addr,
                "--tls-cert".into(),
                cert.display().to_string(),
                "--tls-key".into(),
                key.display().to_string(),
            ],
        ),
        Kind::MoqDev => (
            &bins.moqdev,
            vec![
                "--listen".into(),
                addr,
                "--listen-tls-cert".into(),
                cert.display().to_string(),
                "--listen-tls-key".into(),
                key.display().to_string(),
                "--auth-public".into(),
                "**".into(),
                "--listen-version".into(),
                "moq-transport-18".into(),
            ],
        ),
    };
    let child = Command::new("taskset")
        .arg("-c")
        .arg(core.to_string())
        .arg(bin)
        .args(&args)
        .env("TOKIO_WORKER_THREADS", "1")
        .env("TERN_LOG_LEVEL", "warn")
        // Every subscriber comes from 127.0.0.1: lift tern's per-IP session cap (the peers
        // have none).
        .env("TERN_LIMITS_MAX_SESSIONS_PER_IP", "100000")
        .env("TERN_LIMITS_NEW_SESSIONS_PER_IP", "100000")
        .env("TERN_LIMITS_MAX_SESSIONS", "100000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(700));
    Ok(Running { child, pid })
}

/// User + system CPU time of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .context("stat format")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// Proportional set size of a process, in bytes.
pub fn pss_bytes(pid: u32) -> anyhow::Result<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    for line in rollup.lines() {
        if let Some(rest) = line.strip_prefix("Pss:") {
            let kb: u64 = rest.trim().trim_end_matches(" kB").trim().parse()?;
            return Ok(kb * 1024);
        }
    }
    bail!("no Pss in smaps_rollup")
}
