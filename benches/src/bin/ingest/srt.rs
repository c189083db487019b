//! An SRT publisher: libsrt's `srt-live-transmit` (apt package srt-tools) reading MPEG-TS from
//! its stdin, which this bench writes each video frame at its decode time, noting when each video
//! frame's last packet was written.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::media::Chunk;
use crate::rtmp::Sent;

/// `srt-live-transmit`, killed on drop.
struct Transmit(Child);

impl Drop for Transmit {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Publish `chunks` to the SRT listener `addr` as broadcast `path`, each chunk when it is due,
/// for `limit` of media; `latency_ms` is the caller's SRT latency (`None`: libsrt's default,
/// 120 ms). Returns every video frame sent (its decode time from the first, 90 kHz) with its
/// send time.
pub fn publish(
    addr: SocketAddr,
    path: &str,
    latency_ms: Option<u64>,
    chunks: &[Chunk],
    limit: Duration,
) -> anyhow::Result<Vec<Sent>> {
    let mut url = format!("srt://{addr}?streamid=publish:{path}");
    if let Some(ms) = latency_ms {
        url.push_str(&format!("&latency={ms}"));
    }
    let mut child = Command::new("srt-live-transmit")
        .args(["-a:no", "-chunk:1316", "file://con", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("run srt-live-transmit (apt-get install srt-tools)")?;
    let mut stdin = child.stdin.take().context("srt-live-transmit's stdin")?;
    let stderr = child.stderr.take().context("srt-live-transmit's stderr")?;
    let _guard = Transmit(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // libsrt connects before it reads its input.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .context("srt-live-transmit did not connect within 10 s")?;
        if line.contains("REJECT") || line.contains("ERROR") {
            bail!("srt-live-transmit: {line}");
        }
        if line.contains("connected") {
            break;
        }
    }
    let first_dts = chunks.iter().find_map(|c| c.frame_dts).unwrap_or(0);
    let start = Instant::now();
    let mut sent = Vec::new();
    for chunk in chunks {
        if chunk.due > limit {
            break;
        }
        let due = start + chunk.due;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        stdin
            .write_all(&chunk.bytes)
            .context("write to srt-live-transmit")?;
        if let Some(dts) = chunk.frame_dts {
            stdin.flush()?;
            sent.push((
                dts.wrapping_sub(first_dts) & ((1 << 33) - 1),
                Instant::now(),
            ));
        }
    }
    drop(stdin);
    // Let it send what it holds before it is killed.
    std::thread::sleep(Duration::from_millis(500));
    Ok(sent)
}
