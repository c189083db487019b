//! The relay under test: `tern relay` with its MoQ, RTMP, SRT and HTTP listeners on loopback
//! ports it picks, their addresses read from its startup lines, its log in a file.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running relay, killed on drop.
pub struct Relay {
    child: Child,
    /// The RTMP listener.
    pub rtmp: SocketAddr,
    /// The SRT listener.
    pub srt: SocketAddr,
    /// The HTTP listener's base URL (`http://127.0.0.1:PORT`): the player page.
    pub http: String,
}

impl Relay {
    /// Start `tern` as a relay with every listener on loopback, its log (stderr) written to
    /// `log`; waits up to 30 s for its listeners.
    pub fn start(tern: &Path, log: &Path) -> anyhow::Result<Self> {
        let file = File::create(log).with_context(|| format!("create {}", log.display()))?;
        let mut child = Command::new(tern)
            .args([
                "relay",
                "--bind",
                "127.0.0.1:0",
                "--admin-bind",
                "127.0.0.1:0",
            ])
            .args(["--rtmp", "127.0.0.1:0", "--srt", "127.0.0.1:0"])
            .args(["--http", "127.0.0.1:0"])
            // The relay's log filter: info unless the bench's own environment says otherwise.
            .env(
                "TERN_LOG_LEVEL",
                std::env::var("TERN_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .with_context(|| format!("start {}", tern.display()))?;
        let stdout = child.stdout.take().context("the relay's stdout")?;
        let (tx, rx) = mpsc::channel();
        // Read for the relay's whole life (a closed pipe is not what a relay expects).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut rtmp, mut srt, mut http) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while rtmp.is_none() || srt.is_none() || http.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                bail!(
                    "the relay did not print its listeners within 30 s (log: {})",
                    log.display()
                );
            };
            let word = |prefix: &str| {
                line.strip_prefix(prefix)
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_owned)
            };
            rtmp = rtmp.or_else(|| word("RTMP ingest listening on ").and_then(|a| a.parse().ok()));
            srt = srt.or_else(|| word("SRT ingest listening on ").and_then(|a| a.parse().ok()));
            http = http.or_else(|| word("HTTP listening on "));
        }
        Ok(Self {
            child,
            rtmp: rtmp.context("RTMP address")?,
            srt: srt.context("SRT address")?,
            http: http.context("HTTP address")?,
        })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
