//! Ingest benchmark: what the relay's RTMP, SRT and WHIP gateways cost, on `tern relay` child
//! processes on loopback.
//!
//! - **Added latency** per protocol: from the moment the publisher hands a video frame to the
//!   network (the bench is the RTMP client, on the gateway's vendored `rml_rtmp`; for SRT it
//!   writes the TS file into `srt-live-transmit`'s stdin, each frame at its decode time; for
//!   WHIP it is the WebRTC client, on str0m: it POSTs its offer to `/whip/bench/whip`, runs
//!   ICE and DTLS over a UDP socket of its own and writes each H.264 access unit at its decode
//!   time, the send time being when the frame's last RTP packet went to the socket) to the
//!   moment a MoQ viewer receives that frame's object, p50 / p99; and the relay's part alone,
//!   from the gateway's `prft` stamp to the viewer. SRT runs twice: both sides at libsrt's
//!   default latency (120 ms) and both at `--srt-low-latency`. WHIP publishes video only.
//! - **CPU per ingested stream** (720p30, about 6 Mbit/s): the relay's CPU seconds per second
//!   over the window, audio transcoding off and on (then the transcoders' CPU too).
//! - **CPU of the ladder** (`ingest.ladder`): the same 720p RTMP stream with no ladder and with
//!   one, two and three rungs, the relay's CPU and its ladder ffmpeg's; each rung's cost is the
//!   step from the ladder before.
//! - **Many RTMP publishers**: ffmpeg publishers of a 360p, 1 Mbit/s input on one relay,
//!   transcoding off; relay CPU and RSS per publisher (the slope between the first and last
//!   step).
//!
//! Run by hand, never in CI (see benches/README.md); it needs ffmpeg (with libx264) and
//! srt-live-transmit (apt package srt-tools):
//! `cargo build --release -p tern -p tern-benches && target/release/ingest`; `--parts` and
//! `--protocols` pick what runs (e.g. `--parts latency --protocols whip`).

mod http;
mod media;
mod relay;
mod rtmp;
mod runs;
mod srt;
mod stats;
mod viewer;
mod whip;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use runs::{Ctx, Proto};
use stats::summary;

#[derive(Debug, Parser)]
struct Args {
    /// The `tern` binary (build it with --release first). Default: target/release/tern under
    /// $CARGO_TARGET_DIR, or ./target.
    #[arg(long)]
    tern: Option<PathBuf>,
    /// Where the inputs (encoded once, then reused) and the relays' logs go. Default: ingest/
    /// under $CARGO_TARGET_DIR, or ./target.
    #[arg(long)]
    work: Option<PathBuf>,
    /// The measurement window, seconds (latency: the frames sent in it, 30 per second).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// What to run: latency, cpu, ladder, publishers.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "latency,cpu,ladder,publishers"
    )]
    parts: Vec<String>,
    /// The publishers of the latency and CPU parts: rtmp, srt (both SRT latencies), whip (the
    /// latency part only).
    #[arg(long, value_delimiter = ',', default_value = "rtmp,srt,whip")]
    protocols: Vec<String>,
    /// The low SRT latency (milliseconds) of the second SRT latency run, on both sides.
    #[arg(long, default_value_t = 20)]
    srt_low_latency: u64,
    /// Steps of the many-publishers run.
    #[arg(long, value_delimiter = ',', default_value = "10,30,50")]
    publishers: Vec<usize>,
}

/// The ladders of the ladder part, a rung more each time.
const LADDERS: [&[&str]; 4] = [
    &[],
    &["360p@800k"],
    &["540p@1.8M", "360p@800k"],
    &["540p@1.8M", "360p@800k", "180p@300k"],
];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for p in &args.protocols {
        anyhow::ensure!(
            ["rtmp", "srt", "whip"].contains(&p.as_str()),
            "--protocols: {p}? (rtmp, srt, whip)"
        );
    }
    let picked = |proto: Proto| args.protocols.iter().any(|p| p == proto.name());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let tern = args.tern.clone().unwrap_or_else(relay::default_tern);
    anyhow::ensure!(
        tern.is_file(),
        "{} not found: `cargo build --release -p tern` first, or pass --tern",
        tern.display()
    );
    let work = args.work.clone().unwrap_or_else(|| target.join("ingest"));
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("create {}", logs.display()))?;
    let main_input = media::prepare(&work, &media::MAIN)?;
    let bitrate = |path: &std::path::Path, secs: u32| -> anyhow::Result<f64> {
        Ok(std::fs::metadata(path)?.len() as f64 * 8.0 / f64::from(secs) / 1e6)
    };
    println!(
        "input: {} ({:.2} Mbit/s as FLV, {:.2} Mbit/s as TS)",
        main_input.flv.display(),
        bitrate(&main_input.flv, media::MAIN.seconds)?,
        bitrate(&main_input.ts, media::MAIN.seconds)?
    );
    let tags = media::flv_tags(&main_input.flv)?;
    let ctx = Ctx {
        tern,
        logs: logs.clone(),
        window: Duration::from_secs(args.seconds),
        frames: Arc::new(media::annexb_frames(&tags)?),
        tags: Arc::new(tags),
        chunks: Arc::new(media::ts_chunks(&main_input.ts)?),
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?,
    };
    let wants = |part: &str| args.parts.iter().any(|p| p == part);
    if wants("latency") {
        println!("\nadded latency, publisher send to MoQ viewer receive (video frames)");
        let srt_low = Some(args.srt_low_latency);
        for proto in [
            Proto::Rtmp,
            Proto::Srt { latency_ms: None },
            Proto::Srt {
                latency_ms: srt_low,
            },
            Proto::Whip,
        ] {
            if !picked(proto) {
                continue;
            }
            match runs::latency(&ctx, proto) {
                Ok(r) => {
                    let l = &r.latencies;
                    println!(
                        "  {}: track {}, {} of {} frames matched ({} objects received){}",
                        proto.label(),
                        r.track,
                        l.rows.len(),
                        l.sent,
                        r.received,
                        r.agreed
                            .map(|ms| format!(", relay agreed SRT latency {ms} ms"))
                            .unwrap_or_default()
                    );
                    println!("    send -> receive: {}", summary(&l.end_to_end(true)));
                    println!("    prft -> receive: {}", summary(&l.relay_side(true)));
                    // See `stats::Row::group_head`: a wait of the viewer's library.
                    println!("    without the first two objects of each group:");
                    println!("      send -> receive: {}", summary(&l.end_to_end(false)));
                    println!("      prft -> receive: {}", summary(&l.relay_side(false)));
                }
                Err(e) => println!("  {}: failed: {e:#}", proto.label()),
            }
        }
    }
    if wants("cpu") {
        println!(
            "\nCPU per ingested stream ({} s window, nobody watching), CPU-seconds per second",
            args.seconds
        );
        for proto in [Proto::Rtmp, Proto::Srt { latency_ms: None }] {
            if !picked(proto) {
                continue;
            }
            for transcode in [false, true] {
                let name = if proto == Proto::Rtmp { "RTMP" } else { "SRT" };
                let on = if transcode { "on" } else { "off" };
                match runs::cpu(&ctx, proto, transcode) {
                    Ok(c) => println!(
                        "  {name}, audio transcoding {on}: relay {:.4}, transcoders {:.4}, total {:.4}",
                        c.relay,
                        c.children,
                        c.relay + c.children
                    ),
                    Err(e) => println!("  {name}, audio transcoding {on}: failed: {e:#}"),
                }
            }
        }
    }
    if wants("ladder") {
        println!(
            "\nCPU of the ingest ladder (one 720p RTMP stream, audio transcoding off, {} s window), \
             CPU-seconds per second",
            args.seconds
        );
        let mut previous: Option<f64> = None;
        for rungs in LADDERS {
            match runs::ladder(&ctx, rungs) {
                Ok(c) => {
                    let total = c.relay + c.children;
                    println!(
                        "  {:<32} relay {:.4}, ladder ffmpeg {:.4}, total {:.4}{}",
                        if rungs.is_empty() {
                            "no ladder".to_string()
                        } else {
                            rungs.join(", ")
                        },
                        c.relay,
                        c.children,
                        total,
                        previous
                            .map(|p| format!(" (+{:.4} for the last rung)", total - p))
                            .unwrap_or_default()
                    );
                    previous = Some(total);
                }
                Err(e) => println!("  {rungs:?}: failed: {e:#}"),
            }
        }
    }
    if wants("publishers") {
        let small = media::prepare(&work, &media::SMALL)?;
        println!(
            "\nmany RTMP publishers ({}, {:.2} Mbit/s, transcoding off, {} s windows)",
            small.flv.display(),
            bitrate(&small.flv, media::SMALL.seconds)?,
            args.seconds
        );
        match runs::publishers(&ctx, &small, &args.publishers) {
            Ok(steps) => {
                if let (Some(a), Some(b)) = (steps.first(), steps.last())
                    && b.publishers > a.publishers
                {
                    let n = (b.publishers - a.publishers) as f64;
                    let cpu = (b.cpu - a.cpu) / n;
                    let rss = (b.rss as f64 - a.rss as f64) / n;
                    println!(
                        "  per publisher ({}..{}): CPU {:.5} s/s ({:.0} publishers per core), RSS {:.1} KiB",
                        a.publishers,
                        b.publishers,
                        cpu,
                        1.0 / cpu,
                        rss / 1024.0
                    );
                }
            }
            Err(e) => println!("  failed: {e:#}"),
        }
    }
    println!("\nrelay logs: {}", logs.display());
    Ok(())
}
