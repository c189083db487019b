//! tern's player in headless Chromium, driven by the tests' `drive.mjs` (its STATUS lines five
//! times a second, FINAL with the whole player state at the end).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

/// The page; node (and its Chromium) killed on drop.
pub struct Page {
    node: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

/// `clients/tests/chromium`, where `drive.mjs` and its playwright-core live.
fn chromium_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/tests/chromium")
}

impl Page {
    /// Open `url`; the page ends by itself after `limit`.
    pub fn open(url: &str, limit: Duration) -> anyhow::Result<Self> {
        let dir = chromium_dir();
        anyhow::ensure!(
            dir.join("node_modules/playwright-core").is_dir(),
            "playwright-core is missing: (cd {} && npm ci)",
            dir.display()
        );
        let mut node = Command::new("node")
            .current_dir(&dir)
            .arg("drive.mjs")
            .arg(url)
            .arg(limit.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("run node (apt-get install nodejs) with drive.mjs")?;
        let stdin = node.stdin.take().context("node's stdin")?;
        let stdout = node.stdout.take().context("node's stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Self { node, stdin, lines })
    }

    /// Wait (at most `limit`) for a status that `pred` accepts.
    pub fn wait(
        &self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + limit;
        let mut last = Value::Null;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            if let Some(json) = line.strip_prefix("STATUS ") {
                last = serde_json::from_str(json).unwrap_or(Value::Null);
                if pred(&last) {
                    return Ok(last);
                }
            } else if let Some(json) = line.strip_prefix("FINAL ") {
                bail!("the page ended before {what}: {json}");
            }
        }
        bail!("no {what} within {limit:?}; last status: {last}")
    }

    /// End the page: the player's whole state (`window.ternPlayer`).
    pub fn finish(mut self) -> anyhow::Result<Value> {
        writeln!(self.stdin, r#"{{"id": 1, "op": "finish"}}"#).context("write to node")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            if let Some(json) = line.strip_prefix("FINAL ") {
                let v: Value = serde_json::from_str(json).context("FINAL is not JSON")?;
                return Ok(v["player"].clone());
            }
        }
        bail!("the page did not finish within 20 s")
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.node.kill();
        let _ = self.node.wait();
    }
}
