//! Fan-out benchmark: 1 publisher (PUBLISH_NAMESPACE), N subscribers of one track through a relay
//! pinned to one core with one runtime thread; tern vs Cloudflare's `moq-relay-ietf` vs moq-dev's
//! `moq-relay`, in ABBA order, repeated.
//!
//! Measures per run: relay CPU-seconds per delivered Gbit (payload bytes received by all
//! subscribers during the window), relay Pss, and objects lost (locations published after a
//! subscriber's first object that it never received, allowing one second for the tail).
//! Memory per subscriber is the Pss slope between the smallest and largest N.
//!
//! Run by hand, as root (it sets 8 MiB UDP buffers):
//! `cargo run --release -p tern-benches --bin fanout -- --relays tern,cloudflare --n 50,200`
//! (`--relays tern,tern-baseline --tern-baseline OLD/tern` compares two builds of tern)

mod client;
mod relay;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;

use relay::{Bins, Kind};

#[derive(Debug, Parser)]
struct Args {
    /// Relays to compare (tern, cloudflare, moqdev).
    #[arg(long, value_delimiter = ',', default_value = "tern,cloudflare")]
    relays: Vec<String>,
    /// Subscriber counts.
    #[arg(long, value_delimiter = ',', default_value = "50,200")]
    n: Vec<usize>,
    /// Repetitions of the ABBA cycle.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Measurement window per run, seconds.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Track bitrate, bits/s.
    #[arg(long, default_value_t = 2_000_000)]
    bitrate: u64,
    /// Objects per second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// `tern` binary (build with --release first).
    #[arg(long, default_value = "target/release/tern")]
    tern: PathBuf,
    /// Another `tern` binary, run as relay `tern-baseline` (the same bench before a change).
    #[arg(long, default_value = "tern-baseline")]
    tern_baseline: PathBuf,
    /// Directory with `moq-relay-ietf`.
    #[arg(long, default_value = "~/.cache/tern/peers/bin")]
    peers: String,
    /// Directory with `moq-relay`.
    #[arg(long, default_value = "~/.cache/tern/bench-peers/bin")]
    bench_peers: String,
}

#[derive(Debug, Clone)]
struct Run {
    relay: Kind,
    n: usize,
    cpu_s_per_gbit: f64,
    gbit: f64,
    pss: u64,
    lost: u64,
    expected: u64,
    subscribed: usize,
    upstream_subscribes: u64,
}

fn expand(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(rest),
        None => PathBuf::from(p),
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn one(
    kind: Kind,
    n: usize,
    args: &Args,
    bins: &Bins,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<Run> {
    let port = free_port()?;
    let relay = relay::start(kind, bins, port, cert, key, 1)?;
    let url = format!("https://localhost:{port}");
    let publisher = client::Publisher::start(&url, "bench").await?;
    // Some relays route an announced namespace asynchronously after acknowledging it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut subs = Vec::new();
    for _ in 0..n {
        match client::subscribe(&url, "bench", "video").await {
            Ok(s) => subs.push(s),
            Err(e) => eprintln!("  {}: subscriber failed: {e:#}", kind.name()),
        }
    }
    let object_size = (args.bitrate / 8 / args.fps as u64) as usize;
    let warmup = Duration::from_secs(3);
    let start = Instant::now();
    let until = start + warmup + Duration::from_secs(args.seconds) + Duration::from_secs(1);
    let pub_task = {
        let fps = args.fps;
        tokio::spawn(async move {
            publisher
                .run(fps, object_size, 30, until)
                .await
                .map(|s| (s, publisher))
        })
    };
    tokio::time::sleep(warmup).await;
    for (_, r) in &subs {
        r.lock().unwrap_or_else(|e| e.into_inner()).counting = true;
    }
    let cpu0 = relay::cpu_seconds(relay.pid)?;
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let cpu1 = relay::cpu_seconds(relay.pid)?;
    for (_, r) in &subs {
        r.lock().unwrap_or_else(|e| e.into_inner()).counting = false;
    }
    let pss = relay::pss_bytes(relay.pid)?;
    let (sent, publisher) = pub_task.await??;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let bytes: u64 = subs
        .iter()
        .map(|(_, r)| r.lock().unwrap_or_else(|e| e.into_inner()).window_bytes)
        .sum();
    let gbit = bytes as f64 * 8.0 / 1e9;
    // Objects lost: for each subscriber, locations sent after its first received object.
    let (mut lost, mut expected) = (0u64, 0u64);
    for (_, r) in &subs {
        let r = r.lock().unwrap_or_else(|e| e.into_inner());
        let Some(first) = r.locations.iter().min().copied() else {
            expected += sent.len() as u64;
            lost += sent.len() as u64;
            continue;
        };
        for (loc, _) in sent.iter().filter(|(l, _)| *l >= first) {
            expected += 1;
            if !r.locations.contains(loc) {
                lost += 1;
            }
        }
    }
    let upstream_subscribes = *publisher
        .subscribes
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    for (s, _) in subs.iter() {
        s.close(0, "done");
    }
    drop(relay);
    Ok(Run {
        relay: kind,
        n,
        cpu_s_per_gbit: if gbit > 0.0 {
            (cpu1 - cpu0) / gbit
        } else {
            f64::INFINITY
        },
        gbit,
        pss,
        lost,
        expected,
        subscribed: subs.len(),
        upstream_subscribes,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kinds: Vec<Kind> = args
        .relays
        .iter()
        .map(|r| Kind::parse(r))
        .collect::<anyhow::Result<_>>()?;
    let bins = Bins {
        tern: args.tern.clone(),
        tern_baseline: args.tern_baseline.clone(),
        cloudflare: expand(&args.peers).join("moq-relay-ietf"),
        moqdev: expand(&args.bench_peers).join("moq-relay"),
    };
    // 8 MiB UDP buffers, as the peers want.
    for key in ["net.core.rmem_max", "net.core.wmem_max"] {
        let _ = std::process::Command::new("sysctl")
            .arg("-qw")
            .arg(format!("{key}=8388608"))
            .status();
    }
    // The load generator stays off the relay's core.
    let _ = std::process::Command::new("taskset")
        .args(["-cp", "0", &std::process::id().to_string()])
        .status();
    let dir = std::env::temp_dir().join(format!("tern-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem())?;
    std::fs::write(&key_path, cert.signing_key.serialize_pem())?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut runs = Vec::new();
    for rep in 0..args.reps {
        // ABBA: forward on even repetitions, backward on odd ones.
        let order: Vec<Kind> = if rep % 2 == 0 {
            kinds.clone()
        } else {
            kinds.iter().rev().copied().collect()
        };
        for &n in &args.n {
            for &kind in &order {
                match rt.block_on(one(kind, n, &args, &bins, &cert_path, &key_path)) {
                    Ok(r) => {
                        println!(
                            "rep {rep} {:>15} N={:<4} subs={:<4} upstream_subscribes={} cpu/Gbit={:.3}s delivered={:.3}Gbit pss={:.1}MiB lost={}/{}",
                            r.relay.name(),
                            r.n,
                            r.subscribed,
                            r.upstream_subscribes,
                            r.cpu_s_per_gbit,
                            r.gbit,
                            r.pss as f64 / 1048576.0,
                            r.lost,
                            r.expected
                        );
                        runs.push(r);
                    }
                    Err(e) => println!("rep {rep} {:>15} N={n}: failed: {e:#}", kind.name()),
                }
            }
        }
    }
    summarize(&kinds, &args.n, &runs);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn summarize(kinds: &[Kind], ns: &[usize], runs: &[Run]) {
    println!("\nsummary (median over repetitions)");
    let (lo, hi) = (
        ns.iter().min().copied().unwrap_or(0),
        ns.iter().max().copied().unwrap_or(0),
    );
    for &k in kinds {
        for &n in ns {
            let rs: Vec<&Run> = runs.iter().filter(|r| r.relay == k && r.n == n).collect();
            let cpu = median(rs.iter().map(|r| r.cpu_s_per_gbit).collect());
            let lost: u64 = rs.iter().map(|r| r.lost).sum();
            let exp: u64 = rs.iter().map(|r| r.expected).sum();
            println!(
                "{:>15} N={n:<4} cpu-s/Gbit={cpu:.3} lost={lost}/{exp}",
                k.name()
            );
        }
        if lo != hi {
            let pss = |n: usize| {
                median(
                    runs.iter()
                        .filter(|r| r.relay == k && r.n == n)
                        .map(|r| r.pss as f64)
                        .collect(),
                )
            };
            let slope = (pss(hi) - pss(lo)) / (hi - lo) as f64;
            println!(
                "{:>15} memory per subscriber (Pss slope N={lo}..{hi}) = {:.1} KiB",
                k.name(),
                slope / 1024.0
            );
        }
    }
    if let Some(&base) = kinds.first() {
        for &other in &kinds[1..] {
            for &n in ns {
                let ratios: Vec<f64> = (0..)
                    .map_while(|i| {
                        let a = runs.iter().filter(|r| r.relay == base && r.n == n).nth(i)?;
                        let b = runs
                            .iter()
                            .filter(|r| r.relay == other && r.n == n)
                            .nth(i)?;
                        Some(a.cpu_s_per_gbit / b.cpu_s_per_gbit)
                    })
                    .collect();
                if ratios.is_empty() {
                    continue;
                }
                let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
                let max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                println!(
                    "cpu ratio {} / {} at N={n}: median {:.2} [{:.2}–{:.2}]",
                    base.name(),
                    other.name(),
                    median(ratios),
                    min,
                    max
                );
            }
        }
    }
}
