//! Edge plugin benchmark: what the plugin phases cost per call, how fast a looping plugin is
//! stopped, and the relay CPU per delivered Gbit with N subscribers of one track with the
//! watermark plugin on (the track served from its two variants, chosen per group and viewer)
//! and off (no plugin at all).
//!
//! The relay runs in this process on one thread of its own (`tern-relay`, a current-thread
//! runtime); the plugin runs on its worker threads (`tern-wasm-*`, plus the epoch ticker). Relay
//! CPU is the user + system time of exactly those threads (`/proc/self/task/*/stat`), so the
//! publisher and subscribers, on the other runtime, are not counted.
//!
//! Run by hand (release), with the plugins built for wasm32-wasip2:
//! `TERN_PLUGINS_DIR=... cargo run --release -p tern-benches --bin edge-plugins`

#[path = "../fanout/client.rs"]
mod client;
mod phases;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use tern_edge_wasm::PluginHost;

#[derive(Debug, Parser)]
struct Args {
    /// Subscribers of the track.
    #[arg(long, default_value_t = 200)]
    n: usize,
    /// Repetitions of the off/on pair (in ABBA order).
    #[arg(long, default_value_t = 2)]
    reps: usize,
    /// Measurement window per run, seconds.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Track bitrate (each variant's, with the plugin on), bits/s.
    #[arg(long, default_value_t = 2_000_000)]
    bitrate: u64,
    /// Objects per second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Objects per group (one group a second at 30 objects/s).
    #[arg(long, default_value_t = 30)]
    gop: u64,
    /// Calls per phase in the per-call costs.
    #[arg(long, default_value_t = 20_000)]
    calls: u32,
    /// Skip the fan-out runs (phase costs and the loop stop only).
    #[arg(long)]
    phases_only: bool,
}

/// The watermark plugin's configuration: track `video` of the benchmark, one group a second.
const WATERMARK: &str =
    r#"{"key": "a benchmark key, long enough", "tracks": ["video"], "group_ms": 1000}"#;

/// Threads that count as the relay.
fn is_relay_thread(comm: &str) -> bool {
    comm.starts_with("tern-relay") || comm.starts_with("tern-wasm")
}

/// User + system seconds of this process's relay threads.
fn relay_cpu_seconds() -> anyhow::Result<f64> {
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task")? {
        let Ok(stat) = std::fs::read_to_string(task?.path().join("stat")) else {
            continue; // the thread ended
        };
        let (head, after) = stat.rsplit_once(") ").context("stat format")?;
        let comm = head.split_once(" (").map_or("", |(_, c)| c);
        if !is_relay_thread(comm) {
            continue;
        }
        let fields: Vec<&str> = after.split_whitespace().collect();
        // utime and stime (fields 14 and 15) are at 11 and 12 after the command name.
        ticks += fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    }
    // USER_HZ is 100 on Linux.
    Ok(ticks as f64 / 100.0)
}

/// A relay on its own thread, stopped on drop.
struct Relay {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn start(plugin: Option<Arc<PluginHost>>) -> anyhow::Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tern-relay".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .thread_name("tern-relay-blocking")
                    .build();
                let runtime = match runtime {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow::anyhow!(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let config = tern_relay::config::Config::default();
                    let (router, mut settings) = tern_relay::run::node_settings(&config);
                    settings.plugin = plugin;
                    let server = tern_quic::ServerConfig {
                        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                        max_sessions_per_ip: 100_000,
                        new_sessions_per_ip: 100_000,
                        max_sessions: 100_000,
                        retry_threshold: 100_000,
                        accept_queue: 1024,
                        ..tern_quic::ServerConfig::default()
                    };
                    match tern_relay::node::Node::start(server, router, settings) {
                        Ok(node) => {
                            let _ = ready_tx.send(Ok(node.addr));
                            let _ = stopped.await;
                            drop(node);
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.into()));
                        }
                    }
                });
            })?;
        let addr = ready_rx.recv().context("relay thread ended")??;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One fan-out run's figures.
struct Run {
    watermark: bool,
    cpu_s: f64,
    gbit: f64,
    subscribed: usize,
    upstream_subscribes: u64,
}

impl Run {
    fn cpu_s_per_gbit(&self) -> f64 {
        self.cpu_s / self.gbit
    }
}

async fn fanout(args: &Args, watermark: bool) -> anyhow::Result<Run> {
    let plugin = if watermark {
        let host = tokio::task::spawn_blocking(|| {
            phases::host("watermark", WATERMARK, Duration::from_millis(20))
        })
        .await??;
        Some(host)
    } else {
        None
    };
    let relay = Relay::start(plugin)?;
    let base = format!("https://localhost:{}", relay.addr.port());
    // With the plugin on, every session's token is its viewer id.
    let publisher = client::Publisher::start(&format!("{base}/?jwt=origin"), "bench").await?;
    let mut subs = Vec::new();
    for i in 0..args.n {
        let url = format!("{base}/?jwt=viewer-{i}");
        subs.push(client::subscribe(&url, "bench", "video").await?);
    }
    let object_size = (args.bitrate / 8 / u64::from(args.fps)) as usize;
    let warmup = Duration::from_secs(3);
    let until = Instant::now() + warmup + Duration::from_secs(args.seconds + 1);
    let (fps, gop) = (args.fps, args.gop);
    let pub_task = tokio::spawn(async move {
        publisher
            .run(fps, object_size, gop, until)
            .await
            .map(|_| publisher)
    });
    tokio::time::sleep(warmup).await;
    let counting = |on: bool| {
        for (_, r) in &subs {
            r.lock().unwrap_or_else(|e| e.into_inner()).counting = on;
        }
    };
    counting(true);
    let cpu0 = relay_cpu_seconds()?;
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let cpu1 = relay_cpu_seconds()?;
    counting(false);
    let publisher = pub_task.await??;
    let bytes: u64 = subs
        .iter()
        .map(|(_, r)| r.lock().unwrap_or_else(|e| e.into_inner()).window_bytes)
        .sum();
    let upstream_subscribes = *publisher
        .subscribes
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    for (s, _) in &subs {
        s.close(0, "done");
    }
    let subscribed = subs.len();
    drop(subs);
    drop(relay);
    Ok(Run {
        watermark,
        cpu_s: cpu1 - cpu0,
        gbit: bytes as f64 * 8.0 / 1e9,
        subscribed,
        upstream_subscribes,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-clients")
        .enable_all()
        .build()?;
    runtime.block_on(async {
        println!("phase costs ({} sequential calls each, mean round trip):", args.calls);
        for c in phases::costs(WATERMARK, args.calls).await? {
            println!("  {:<40} {:>9.0} ns/call", c.phase, c.ns_per_call);
        }
        let deadline = Duration::from_millis(20);
        let stops = phases::loop_stops(deadline, 20).await?;
        println!(
            "looping plugin, deadline {deadline:?}: answered after the deadline + {:?} (p50), + {:?} (max) over {} runs",
            stops[stops.len() / 2],
            stops[stops.len() - 1],
            stops.len()
        );
        if args.phases_only {
            return Ok(());
        }
        println!(
            "fan-out: N = {}, {} bit/s, {} objects/s, {} s windows",
            args.n, args.bitrate, args.fps, args.seconds
        );
        let mut runs = Vec::new();
        for rep in 0..args.reps {
            // ABBA: off, on, on, off, ...
            let order = if rep % 2 == 0 { [false, true] } else { [true, false] };
            for watermark in order {
                let run = fanout(&args, watermark).await?;
                println!(
                    "  watermark {:<3} subscribed {:>4}, upstream SUBSCRIBEs {}, relay CPU {:.2} s, delivered {:.3} Gbit: {:.3} CPU-s/Gbit",
                    if run.watermark { "on" } else { "off" },
                    run.subscribed,
                    run.upstream_subscribes,
                    run.cpu_s,
                    run.gbit,
                    run.cpu_s_per_gbit()
                );
                runs.push(run);
            }
        }
        let of = |on: bool| median(runs.iter().filter(|r| r.watermark == on).map(Run::cpu_s_per_gbit).collect());
        let (off, on) = (of(false), of(true));
        println!("median CPU-s per delivered Gbit: off {off:.3}, on {on:.3}, on/off {:.2}", on / off);
        anyhow::Ok(())
    })
}
