//! Ingest benchmark: what the relay's RTMP and SRT gateways cost, on `tern relay` child
//! processes on loopback.
//!
//! - **Added latency** per protocol: from the moment the publisher hands a video frame to the
//!   network (the bench is the RTMP client, on the gateway's vendored `rml_rtmp`; for SRT it
//!   writes the TS file into `srt-live-transmit`'s stdin, each frame at its decode time) to the moment a MoQ
//!   viewer receives that frame's object, p50 / p99; and the relay's part alone, from the
//!   gateway's `prft` stamp to the viewer. SRT runs twice: both sides at libsrt's default
//!   latency (120 ms) and both at `--srt-low-latency`.
//! - **CPU per ingested stream** (720p30, about 6 Mbit/s): the relay's CPU seconds per second
//!   over the window, audio transcoding off and on (then the transcoders' CPU too).
//! - **Many RTMP publishers**: ffmpeg publishers of a 360p, 1 Mbit/s input on one relay,
//!   transcoding off; relay CPU and RSS per publisher (the slope between the first and last
//!   step).
//!
//! Run by hand, never in CI (see benches/README.md); it needs ffmpeg (with libx264) and
//! srt-live-transmit (apt package srt-tools):
//! `cargo build --release -p tern -p tern-benches && target/release/ingest`

mod media;
mod relay;
mod rtmp;
mod runs;
mod srt;
mod stats;
mod viewer;

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
    /// What to run: latency, cpu, publishers.
    #[arg(long, value_delimiter = ',', default_value = "latency,cpu,publishers")]
    parts: Vec<String>,
    /// The low SRT latency (milliseconds) of the second SRT latency run, on both sides.
    #[arg(long, default_value_t = 20)]
    srt_low_latency: u64,
    /// Steps of the many-publishers run.
    #[arg(long, value_delimiter = ',', default_value = "10,30,50")]
    publishers: Vec<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
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
    let ctx = Ctx {
        tern,
        logs: logs.clone(),
        window: Duration::from_secs(args.seconds),
        tags: Arc::new(media::flv_tags(&main_input.flv)?),
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
        ] {
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
