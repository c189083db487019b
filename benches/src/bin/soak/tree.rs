//! The relay tree under test: two roots, two mids and four edges, each a `tern relay` child
//! process started from a TOML file of its own, restarted from the same file after a kill.
//! Every edge links to both mids and every mid to both roots. The relays form a throwaway
//! cluster, as `tern demo`'s do: a CA minted at start in a scratch directory (removed on drop)
//! signs each relay's member certificate, the listeners' certificate (for 127.0.0.1) and the
//! publishers' certificate.

use std::fs::OpenOptions;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tern_quic::{Identity, cert};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A relay's place in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Takes the broadcasts from the publishers.
    Root,
    /// Between the roots and the edges.
    Mid,
    /// Faces the viewers.
    Edge,
}

impl Tier {
    /// Lower-case name, as in `deploy/<tier>.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Root => "root",
            Tier::Mid => "mid",
            Tier::Edge => "edge",
        }
    }
}

/// Relays per tier, in the order of [`Tree::specs`]: roots, then mids, then edges.
pub const ROOTS: usize = 2;
/// Mid relays.
pub const MIDS: usize = 2;
/// Edge relays.
pub const EDGES: usize = 4;

/// What a relay is started (and restarted) with.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `root-1`, `mid-2`, `edge-3`, ...: its `relay.name` and its member certificate's name.
    pub name: String,
    /// Its tier.
    pub tier: Tier,
    /// The MoQ listener (UDP).
    pub addr: SocketAddr,
    /// The admin HTTP listener (`/metrics`, `/health`).
    pub admin: SocketAddr,
    /// Its TOML file.
    pub config: PathBuf,
    /// Its stdout and stderr, appended across restarts.
    pub log: PathBuf,
}

impl Spec {
    /// `moqt://` URL of its listener.
    pub fn url(&self) -> String {
        format!("moqt://{}", self.addr)
    }
}

/// The throwaway cluster's files, in a scratch directory removed on drop.
pub struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    /// The listeners' certificate (name 127.0.0.1, which upstream links verify).
    server: Identity,
    /// The publishers' member certificate.
    pub publisher: Identity,
}

impl Pki {
    fn make(dir: &Path) -> anyhow::Result<(Self, cert::PemPair)> {
        const DAY: Duration = Duration::from_secs(86_400);
        std::fs::create_dir_all(dir)?;
        let ca = cert::cluster_ca("soak", DAY)?;
        let ca_path = dir.join("cluster-ca.pem");
        std::fs::write(&ca_path, &ca.cert)?;
        let pki = Self {
            dir: dir.to_path_buf(),
            ca: ca_path,
            server: member(dir, &ca, "127.0.0.1")?,
            publisher: member(dir, &ca, "publisher")?,
        };
        Ok((pki, ca))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A certificate the cluster CA issues for `name`, written as `<name>.pem` and `<name>.key`.
fn member(dir: &Path, ca: &cert::PemPair, name: &str) -> anyhow::Result<Identity> {
    const DAY: Duration = Duration::from_secs(86_400);
    let pair = cert::issue(ca, name, DAY)?;
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, &pair.cert)?;
    std::fs::write(&key, &pair.key)?;
    Ok(Identity { cert, key })
}

struct Running {
    child: Child,
    pid: u32,
}

struct Procs {
    running: Vec<Option<Running>>,
    restarts: Vec<u32>,
}

/// The eight relays. Every child is killed when the tree is dropped.
pub struct Tree {
    /// The relays, roots first, then mids, then edges.
    pub specs: Vec<Spec>,
    procs: Mutex<Procs>,
    tern: PathBuf,
    /// The cluster's files.
    pub pki: Pki,
}

fn free_udp() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn free_tcp() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

impl Tree {
    /// Mint the cluster in `scratch`, pick ports and write each relay's TOML there; logs go to
    /// `logs`. Nothing is started yet.
    pub fn build(
        tern: &Path,
        scratch: &Path,
        logs: &Path,
        log_level: &str,
    ) -> anyhow::Result<Self> {
        let (pki, ca) = Pki::make(scratch)?;
        std::fs::create_dir_all(logs)?;
        let mut specs = Vec::new();
        for (tier, n) in [(Tier::Root, ROOTS), (Tier::Mid, MIDS), (Tier::Edge, EDGES)] {
            for i in 1..=n {
                let name = format!("{}-{i}", tier.name());
                specs.push(Spec {
                    config: scratch.join(format!("{name}.toml")),
                    log: logs.join(format!("{name}.log")),
                    addr: SocketAddr::from((Ipv4Addr::LOCALHOST, free_udp()?)),
                    admin: SocketAddr::from((Ipv4Addr::LOCALHOST, free_tcp()?)),
                    name,
                    tier,
                });
            }
        }
        for spec in &specs {
            let upstreams: Vec<String> = match spec.tier {
                Tier::Root => Vec::new(),
                Tier::Mid => tier_urls(&specs, Tier::Root),
                Tier::Edge => tier_urls(&specs, Tier::Mid),
            };
            let own = member(scratch, &ca, &spec.name)?;
            let text = config_text(spec, &upstreams, &pki, &own, log_level);
            std::fs::write(&spec.config, text)
                .with_context(|| format!("write {}", spec.config.display()))?;
        }
        let n = specs.len();
        Ok(Self {
            specs,
            procs: Mutex::new(Procs {
                running: (0..n).map(|_| None).collect(),
                restarts: vec![0; n],
            }),
            tern: tern.to_path_buf(),
            pki,
        })
    }

    fn procs(&self) -> MutexGuard<'_, Procs> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Indices of the relays of `tier`.
    pub fn tier(&self, tier: Tier) -> Vec<usize> {
        (0..self.specs.len())
            .filter(|&i| self.specs[i].tier == tier)
            .collect()
    }

    /// Start relay `i` and wait until its `/health` answers 200.
    pub async fn start(&self, i: usize) -> anyhow::Result<()> {
        let spec = &self.specs[i];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .with_context(|| format!("open {}", spec.log.display()))?;
        let child = Command::new(&self.tern)
            .arg("relay")
            .arg("--config")
            .arg(&spec.config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", self.tern.display()))?;
        let pid = child.id();
        self.procs().running[i] = Some(Running { child, pid });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = http_get(spec.admin, "/health").await {
                return Ok(());
            }
            let exited = match self.procs().running[i].as_mut() {
                Some(r) => r.child.try_wait()?.is_some(),
                None => true,
            };
            if exited || Instant::now() > deadline {
                bail!(
                    "{} did not become healthy (see {})",
                    spec.name,
                    spec.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL relay `i` and reap it.
    pub fn kill(&self, i: usize) {
        let running = self.procs().running[i].take();
        if let Some(mut r) = running {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }

    /// [`Tree::start`] after a kill, counted.
    pub async fn restart(&self, i: usize) -> anyhow::Result<()> {
        self.procs().restarts[i] += 1;
        self.start(i).await
    }

    /// Times relay `i` was restarted.
    pub fn restarts(&self, i: usize) -> u32 {
        self.procs().restarts[i]
    }

    /// Resident memory of relay `i` in bytes (`VmRSS`), `None` while it is down.
    pub fn rss(&self, i: usize) -> Option<u64> {
        let pid = self.procs().running[i].as_ref()?.pid;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        for i in 0..self.specs.len() {
            self.kill(i);
        }
    }
}

fn tier_urls(specs: &[Spec], tier: Tier) -> Vec<String> {
    specs
        .iter()
        .filter(|s| s.tier == tier)
        .map(Spec::url)
        .collect()
}

/// A relay's TOML: the tier's settings from `deploy/<tier>.toml` (cache, publishing policy,
/// upstream linger and depth), the cluster's files, loopback addresses, and session limits
/// lifted because every client of the soak comes from 127.0.0.1.
fn config_text(
    spec: &Spec,
    upstreams: &[String],
    pki: &Pki,
    own: &Identity,
    level: &str,
) -> String {
    let quoted = |p: &Path| format!("{:?}", p.display().to_string());
    let upstreams: Vec<String> = upstreams.iter().map(|u| format!("{u:?}")).collect();
    let (cache_bytes, cache_duration, publish) = match spec.tier {
        Tier::Root => (1_073_741_824u64, "60s", "cluster"),
        Tier::Mid => (536_870_912, "30s", "cluster"),
        Tier::Edge => (268_435_456, "10s", "any"),
    };
    let subscriber = match spec.tier {
        Tier::Edge => "\n[subscriber]\nmax_queued_bytes = 4194304\nmax_lag_groups = 2\n",
        _ => "",
    };
    format!(
        r#"# {name}: a {tier} relay of the soak tree (tier settings as in deploy/{tier}.toml).
upstreams = [{upstreams}]

[relay]
bind = "{addr}"
name = "{name}"
tls_cert = {tls_cert}
tls_key = {tls_key}

[admin]
bind = "{admin}"
enabled = true

[log]
format = "text"
level = {level:?}

[limits]
# Every viewer and publisher of the soak connects from 127.0.0.1.
max_sessions_per_ip = 100000
new_sessions_per_ip = 100000

[cache]
max_bytes = {cache_bytes}
max_duration = "{cache_duration}"
{subscriber}
[upstream]
max_depth = 8
linger = "5s"

[cluster]
ca = {ca}
cert = {cert}
key = {key}
publish = "{publish}"
"#,
        name = spec.name,
        tier = spec.tier.name(),
        upstreams = upstreams.join(", "),
        addr = spec.addr,
        admin = spec.admin,
        tls_cert = quoted(&pki.server.cert),
        tls_key = quoted(&pki.server.key),
        ca = quoted(&pki.ca),
        cert = quoted(&own.cert),
        key = quoted(&own.key),
    )
}

/// GET `path` from an admin listener (HTTP/1.0, 3 s at most): status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let get = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(3), get).await??;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The namespaces a relay's `/metrics` shows at least one viewer session for
/// (`tern_broadcast_viewers{namespace="…"} N`, N ≥ 1).
pub fn watched_namespaces(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("tern_broadcast_viewers{namespace=\"")?;
            let (ns, value) = rest.split_once("\"}")?;
            let n: f64 = value.trim().parse().ok()?;
            (n >= 1.0).then(|| ns.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::watched_namespaces;

    #[test]
    fn watched_namespaces_are_those_with_a_viewer() {
        let page = "# TYPE tern_broadcast_viewers gauge\n\
                    tern_broadcast_viewers{namespace=\"soak/b03\"} 2\n\
                    tern_broadcast_viewers{namespace=\"soak/b07\"} 0\n\
                    tern_sessions 4\n";
        assert_eq!(watched_namespaces(page), ["soak/b03"]);
    }
}
