//! Glass-to-glass benchmark: from the moment a source makes a picture to the moment tern's
//! browser player draws it, through a `tern relay` child process's RTMP or SRT gateway.
//!
//! The source is this process: it makes 1280x720 pictures at 30 fps, stamps each with the wall
//! clock the moment it is made (a barcode of Unix milliseconds in the top-left corner,
//! [`stamp`]), and pipes them raw into ffmpeg, which encodes them as an encoder would (libx264
//! `-tune zerolatency`, no B-frames, a keyframe every 2 s, a silent AAC track) and publishes
//! them over RTMP (`-f flv`) or SRT (`-f mpegts`, libsrt's default latency, 120 ms). The player
//! page, from the relay's own HTTP listener, plays the broadcast over WebTransport in headless
//! Chromium with `?stamp=1`: after drawing each frame it reads the barcode back from the canvas
//! and takes its glass-to-glass sample, the wall clock then minus the stamp (one machine, one
//! clock). Also reported: the player's own `prft` figure (the gateway's publish stamp to the
//! draw), which splits the path at the gateway. With `--viewers whep` the viewer is Chromium's
//! own WebRTC stack over the relay's WHEP instead (`clients/tests/chromium/whep.mjs` with
//! `TERN_WHEP_STAMP=1`: the same barcode read from each frame the `<video>` shows, after the
//! join's catch-up).
//!
//! Run by hand, never in CI; it needs ffmpeg (libx264, libsrt), node with
//! `clients/tests/chromium`'s packages (`npm ci` there) and Chromium:
//! `cargo build --release -p tern -p tern-benches && target/release/glass`

mod page;
mod relay;
mod source;
mod stamp;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use serde_json::Value;

use source::{Picture, Source};

#[derive(Debug, Parser)]
struct Args {
    /// The `tern` binary (build it with --release first). Default: target/release/tern under
    /// $CARGO_TARGET_DIR, or ./target.
    #[arg(long)]
    tern: Option<PathBuf>,
    /// The measurement window, seconds, after the warm-up.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Seconds of playing before the window (the player's live edge settles).
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// The protocols: rtmp, srt.
    #[arg(long, value_delimiter = ',', default_value = "rtmp,srt")]
    protocols: Vec<String>,
    /// A fixed playout target for the player (`?latency=MS`); adaptive when unset.
    #[arg(long)]
    latency: Option<u32>,
    /// Publish video only (no silent AAC track).
    #[arg(long)]
    no_audio: bool,
    /// The viewers: player (tern's MoQ player over WebTransport), whep (Chromium's WebRTC).
    #[arg(long, value_delimiter = ',', default_value = "player,whep")]
    viewers: Vec<String>,
}

const PICTURE: Picture = Picture {
    width: 1280,
    height: 720,
    fps: 30,
    kbps: 3000,
    gop: 60,
    audio: true,
};

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let tern = args
        .tern
        .clone()
        .unwrap_or_else(|| target.join("release/tern"));
    anyhow::ensure!(
        tern.is_file(),
        "{} not found: `cargo build --release -p tern` first, or pass --tern",
        tern.display()
    );
    let logs = target.join("glass");
    std::fs::create_dir_all(&logs).with_context(|| format!("create {}", logs.display()))?;
    println!(
        "glass-to-glass: picture made -> frame drawn in tern's player ({}x{} {} fps, {} kbit/s, \
         keyframe every {} frames, {}; player target {})",
        PICTURE.width,
        PICTURE.height,
        PICTURE.fps,
        PICTURE.kbps,
        PICTURE.gop,
        if args.no_audio {
            "no audio"
        } else {
            "silent AAC"
        },
        args.latency
            .map(|ms| format!("{ms} ms, fixed"))
            .unwrap_or_else(|| "adaptive".into())
    );
    for proto in &args.protocols {
        for viewer in &args.viewers {
            let name = format!("{proto} -> {viewer}");
            match run(&tern, &logs, proto, viewer, &args) {
                Ok(r) => r.print(&name),
                Err(e) => println!("  {name}: failed: {e:#}"),
            }
        }
    }
    println!("\nlogs and per-frame figures: {}", logs.display());
    Ok(())
}

/// What one protocol's run saw.
struct Run {
    /// Glass-to-glass samples in the window, ms.
    glass: Vec<f64>,
    /// The player's `prft` samples (its last 300), ms.
    prft: Vec<f64>,
    /// The player's state at the end.
    player: Value,
}

impl Run {
    fn print(&self, proto: &str) {
        let n = |k: &str| self.player[k].as_f64().unwrap_or(f64::NAN);
        if self.prft.is_empty() {
            let last = &self.player["samples"]
                .as_array()
                .and_then(|s| s.last())
                .cloned();
            let v = last
                .as_ref()
                .map(|s| s["video"].clone())
                .unwrap_or_default();
            println!(
                "  {}: {} frames: glass-to-glass {}",
                proto.to_uppercase(),
                self.glass.len(),
                summary(&self.glass)
            );
            println!(
                "    whep: {} frames decoded, {} freezes ({:.2} s), jitter buffer {:.0} ms, {} \
                 pictures without a readable stamp",
                v["framesDecoded"],
                v["freezeCount"],
                v["totalFreezesDuration"].as_f64().unwrap_or(f64::NAN),
                v["jitterBufferMs"].as_f64().unwrap_or(f64::NAN),
                n("stampsUnread")
            );
            return;
        }
        println!(
            "  {}: {} frames: glass-to-glass {}; gateway prft -> draw {}",
            proto.to_uppercase(),
            self.glass.len(),
            summary(&self.glass),
            summary(&self.prft)
        );
        println!(
            "    player: target {:.0} ms at the end, {} frames drawn, {} skipped, {} catch-ups, \
             {} pictures without a readable stamp",
            n("targetMs"),
            n("framesDrawn"),
            n("framesSkipped"),
            n("catchUps"),
            n("stampsUnread")
        );
    }
}

fn run(
    tern: &std::path::Path,
    logs: &std::path::Path,
    proto: &str,
    viewer: &str,
    args: &Args,
) -> anyhow::Result<Run> {
    let relay = relay::Relay::start(tern, &logs.join(format!("relay-{proto}-{viewer}.log")))?;
    let path = format!("bench/glass-{proto}");
    let (format, url) = match proto {
        "rtmp" => ("flv", format!("rtmp://{}/{path}", relay.rtmp)),
        "srt" => (
            "mpegts",
            format!("srt://{}?streamid=publish:{path}", relay.srt),
        ),
        other => anyhow::bail!("unknown protocol {other} (rtmp, srt)"),
    };
    let picture = Picture {
        audio: !args.no_audio,
        ..PICTURE
    };
    let source = Source::start(picture, format, &url)?;
    // The broadcast exists once the gateway has the first keyframe.
    std::thread::sleep(Duration::from_secs(2));
    let total = Duration::from_secs(args.warmup + args.seconds);
    match viewer {
        "player" => {}
        "whep" => {
            return whep(
                &relay.http,
                &path,
                total,
                args,
                &logs.join(format!("glass-{proto}-whep.csv")),
            );
        }
        other => anyhow::bail!("unknown viewer {other} (player, whep)"),
    }
    let mut query = format!("?namespace={path}&stamp=1");
    if let Some(ms) = args.latency {
        query.push_str(&format!("&latency={ms}"));
    }
    let page = page::Page::open(
        &format!("{}/player.html{query}", relay.http),
        total + Duration::from_secs(60),
    )?;
    page.wait(Duration::from_secs(30), "a frame drawn", |s| {
        s["framesDrawn"].as_u64().unwrap_or(0) > 0
    })?;
    std::thread::sleep(total);
    let player = page.finish()?;
    drop(source);
    let ring = |k: &str| -> Vec<f64> {
        player[k]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let mut glass = ring("glassMs");
    let keep = (args.seconds * u64::from(PICTURE.fps)) as usize;
    if glass.len() > keep {
        glass.drain(..glass.len() - keep);
    }
    anyhow::ensure!(!glass.is_empty(), "no glass-to-glass sample: {player}");
    let csv: String = glass.iter().map(|g| format!("{g:.1}\n")).collect();
    let file = logs.join(format!("glass-{proto}.csv"));
    std::fs::write(&file, format!("glass_ms\n{csv}"))
        .with_context(|| format!("write {}", file.display()))?;
    Ok(Run {
        glass,
        prft: ring("latencyMs"),
        player,
    })
}

/// Chromium watching `path` over WHEP for `total`: the glass-to-glass samples of the window.
fn whep(
    http: &str,
    path: &str,
    total: Duration,
    args: &Args,
    csv: &std::path::Path,
) -> anyhow::Result<Run> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/tests/chromium");
    let out = std::process::Command::new("node")
        .current_dir(&dir)
        .arg("whep.mjs")
        .arg(format!("{http}/whep/{path}"))
        .arg(total.as_secs().to_string())
        .arg("pc")
        .env("TERN_WHEP_STAMP", "1")
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("run node with whep.mjs (npm ci in clients/tests/chromium)")?;
    let report: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("whep.mjs said: {}", String::from_utf8_lossy(&out.stdout)))?;
    anyhow::ensure!(
        report["answer"]["status"] == 201,
        "WHEP answer: {}",
        report["answer"]
    );
    // The whole report (getStats every 500 ms, every frame's figure) beside the CSV.
    let json = csv.with_extension("json");
    std::fs::write(&json, &out.stdout).with_context(|| format!("write {}", json.display()))?;
    let mut glass: Vec<f64> = report["glassMs"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let keep = (args.seconds * u64::from(PICTURE.fps)) as usize;
    if glass.len() > keep {
        glass.drain(..glass.len() - keep);
    }
    anyhow::ensure!(!glass.is_empty(), "no glass-to-glass sample: {report}");
    let lines: String = glass.iter().map(|g| format!("{g:.1}\n")).collect();
    std::fs::write(csv, format!("glass_ms\n{lines}"))
        .with_context(|| format!("write {}", csv.display()))?;
    Ok(Run {
        glass,
        prft: Vec::new(),
        player: report,
    })
}

/// `p50 … ms, p99 … ms (min … max …)` of `xs`.
fn summary(xs: &[f64]) -> String {
    if xs.is_empty() {
        return "no samples".into();
    }
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
    format!(
        "p50 {:.1} ms, p99 {:.1} ms (min {:.1}, max {:.1})",
        at(0.5),
        at(0.99),
        s[0],
        s[s.len() - 1]
    )
}
