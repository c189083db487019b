//! Soak: a tree of `tern relay` processes on loopback (two roots, two mids, four edges) under a
//! steady load: broadcasts published into the roots, viewers joining and leaving at the edges,
//! publishers reconnecting, and one relay killed (SIGKILL) and restarted every two minutes.
//! Every minute it prints, and appends to a CSV, each relay's RSS, the viewers that received
//! an object against those attached, objects lost on paths that did not lose a relay, and
//! SUBSCRIBEs left without an answer; at the end it draws two plots and prints a summary.
//!
//! Run by hand, never in CI (see benches/README.md):
//! `cargo build --release -p tern -p tern-benches && target/release/soak --minutes 30`

mod chaos;
mod publisher;
mod report;
mod summary;
mod tree;
mod viewer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use tern_peer::ConnectOptions;
use tern_sims::rng::Rng;
use tokio::task::JoinSet;

use chaos::Kills;
use publisher::{Broadcast, Feed};
use report::{Counters, Csv, Minute};
use tree::{Tier, Tree};
use viewer::Registry;

/// How long a viewer or a publisher's log is kept after it is over: past every minute that
/// judges it.
const KEEP: Duration = Duration::from_secs(120);

#[derive(Debug, Parser)]
struct Args {
    /// The `tern` binary (build it with --release first). Default: target/release/tern under
    /// $CARGO_TARGET_DIR, or ./target.
    #[arg(long)]
    tern: Option<PathBuf>,
    /// Where soak.csv, the plots, summary.txt and the relays' logs go. Default: soak/ under
    /// $CARGO_TARGET_DIR, or ./target.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Length of the run after the viewers start, minutes.
    #[arg(long, default_value_t = 30)]
    minutes: u32,
    /// Warm-up, minutes: the summary compares each relay's RSS at its end with the end.
    #[arg(long, default_value_t = 2)]
    warmup: u32,
    /// Viewers at once, over the four edges.
    #[arg(long, default_value_t = 500)]
    viewers: usize,
    /// Broadcasts published.
    #[arg(long, default_value_t = 50)]
    broadcasts: usize,
    /// Bitrate of each broadcast, bits/s.
    #[arg(long, default_value_t = 500_000)]
    bitrate: u64,
    /// Objects per second (and per group: one group a second).
    #[arg(long, default_value_t = 25)]
    fps: u32,
    /// Shortest stay of a viewer, seconds.
    #[arg(long, default_value_t = 20)]
    stay_min: u64,
    /// Longest stay of a viewer, seconds.
    #[arg(long, default_value_t = 120)]
    stay_max: u64,
    /// Seconds over which the first viewers join.
    #[arg(long, default_value_t = 30)]
    ramp: u64,
    /// Mean seconds between the planned reconnections of each publisher feed.
    #[arg(long, default_value_t = 300)]
    reconnect: u64,
    /// Seconds between relay kills (0: none); the first comes at three quarters of it.
    #[arg(long, default_value_t = 120)]
    kill_every: u64,
    /// Seconds a killed relay stays down before its restart.
    #[arg(long, default_value_t = 5)]
    down: u64,
    /// How broadcasts are fed into the roots: spread (each at one root) or both.
    #[arg(long, value_enum, default_value_t = Feed::Spread)]
    feed: Feed,
    /// The relays' log level (`log.level`).
    #[arg(long, default_value = "info")]
    relay_log: String,
    /// Seed of every random choice (stays, broadcasts, edges, reconnection times).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.broadcasts > 0, "--broadcasts must be at least 1");
    anyhow::ensure!(
        args.stay_min <= args.stay_max,
        "--stay-min above --stay-max"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

/// The relays, started roots first; the links get 2 s to come up.
async fn start_tree(args: &Args, tern: &Path, out: &Path) -> anyhow::Result<Arc<Tree>> {
    let scratch = std::env::temp_dir().join(format!("tern-soak-{}", std::process::id()));
    let logs = out.join("logs");
    let tree = Arc::new(Tree::build(tern, &scratch, &logs, &args.relay_log)?);
    for tier in [Tier::Root, Tier::Mid, Tier::Edge] {
        for i in tree.tier(tier) {
            tree.start(i).await?;
            let s = &tree.specs[i];
            println!(
                "{} on {} (admin {}), log {}",
                s.name,
                s.addr,
                s.admin,
                s.log.display()
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(tree)
}

/// The publishers, once every broadcast is fed (and 3 s for the announcements to reach the
/// edges).
async fn start_publishers(
    args: &Args,
    tree: &Tree,
    shared: &Shared,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    let roots = tree.tier(Tier::Root);
    debug_assert_eq!(roots, (0..roots.len()).collect::<Vec<_>>());
    let settings = Arc::new(publisher::Settings {
        fps: args.fps,
        object_size: (args.bitrate / 8 / u64::from(args.fps.max(1))) as usize,
        reconnect: Duration::from_secs(args.reconnect.max(1)),
        feed: args.feed,
        roots: roots.iter().map(|&i| tree.specs[i].url()).collect(),
        connect: ConnectOptions {
            disable_verify: true,
            identity: Some(tree.pki.publisher.clone()),
            implementation: "tern-soak".into(),
            ..ConnectOptions::default()
        },
    });
    for b in shared.broadcasts.iter() {
        let rng = shared.rng.fork(b.index as u64);
        let (b, settings, counters) = (b.clone(), settings.clone(), shared.counters.clone());
        tasks.spawn(publisher::run(b, settings, counters, rng));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !shared.broadcasts.iter().all(|b| b.is_up()) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "publishers not connected within 30 s (see the roots' logs)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "{} broadcasts at {} kbit/s ({} objects/s of {} bytes, one group a second), fed {:?}",
        args.broadcasts,
        args.bitrate / 1000,
        args.fps,
        settings.object_size,
        args.feed
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(())
}

/// The viewer slots, joining over `--ramp` from `start`.
fn start_viewers(
    args: &Args,
    tree: &Tree,
    shared: &Shared,
    start: tokio::time::Instant,
    tasks: &mut JoinSet<()>,
) {
    let settings = Arc::new(viewer::Settings {
        edges: tree
            .tier(Tier::Edge)
            .into_iter()
            .map(|i| (i, tree.specs[i].url()))
            .collect(),
        broadcasts: args.broadcasts,
        stay: (
            Duration::from_secs(args.stay_min),
            Duration::from_secs(args.stay_max),
        ),
        connect: ConnectOptions {
            disable_verify: true,
            implementation: "tern-soak".into(),
            ..ConnectOptions::default()
        },
    });
    let ramp = Duration::from_secs(args.ramp);
    for s in 0..args.viewers {
        let at = start + ramp.mul_f64(s as f64 / args.viewers as f64);
        let rng = shared.rng.fork(1_000_000 + s as u64);
        let (registry, counters) = (shared.registry.clone(), shared.counters.clone());
        tasks.spawn(viewer::slot(registry, settings.clone(), counters, rng, at));
    }
    println!(
        "{} viewers joining over {} s, staying {}–{} s; a relay killed every {} s (down {} s); \
         {} minutes",
        args.viewers,
        args.ramp,
        args.stay_min,
        args.stay_max,
        args.kill_every,
        args.down,
        args.minutes,
    );
}

/// What the tasks of a run share.
struct Shared {
    broadcasts: Arc<Vec<Arc<Broadcast>>>,
    registry: Arc<Registry>,
    kills: Arc<Kills>,
    counters: Arc<Counters>,
    rng: Rng,
}

async fn run(args: Args) -> anyhow::Result<()> {
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
    let out = args.out.clone().unwrap_or_else(|| target.join("soak"));
    std::fs::create_dir_all(&out).with_context(|| format!("create {}", out.display()))?;
    let tree = start_tree(&args, &tern, &out).await?;
    let shared = Shared {
        broadcasts: Arc::new(
            (0..args.broadcasts)
                .map(|i| Arc::new(Broadcast::new(i)))
                .collect(),
        ),
        registry: Arc::new(Registry::default()),
        kills: Arc::new(Kills::default()),
        counters: Arc::new(Counters::default()),
        rng: Rng::new(args.seed),
    };
    let mut tasks = JoinSet::new();
    start_publishers(&args, &tree, &shared, &mut tasks).await?;
    let t0 = Instant::now();
    let start = tokio::time::Instant::from_std(t0);
    start_viewers(&args, &tree, &shared, start, &mut tasks);

    let csv_path = out.join("soak.csv");
    let mut csv = Csv::create(&csv_path, &report::csv_header(&tree))?;
    println!("a line a minute, and a row in {}", csv_path.display());
    let measure = |minute, now| {
        let kills = shared.kills.snapshot();
        let (registry, counters) = (&shared.registry, &shared.counters);
        report::measure(
            minute,
            now,
            &tree,
            registry,
            &shared.broadcasts,
            &kills,
            counters,
        )
    };
    let mut minutes: Vec<Minute> = vec![measure(0, t0)];
    csv.row(&minutes[0].csv())?;

    let end = start + Duration::from_secs(u64::from(args.minutes) * 60);
    let every = Duration::from_secs(args.kill_every);
    let mut next_kill = start + every.mul_f64(0.75);
    let mut killed = 0;
    while minutes.len() <= args.minutes as usize {
        let minute = minutes.len() as u32;
        let next_minute = start + Duration::from_secs(u64::from(minute) * 60);
        tokio::select! {
            _ = tokio::time::sleep_until(next_minute) => {
                let now = Instant::now();
                let m = measure(minute, now);
                println!("{}", m.line(&tree));
                csv.row(&m.csv())?;
                minutes.push(m);
                let before = now.checked_sub(KEEP).unwrap_or(now);
                shared.registry.prune(before);
                for b in shared.broadcasts.iter() {
                    b.prune(before);
                }
            }
            _ = tokio::time::sleep_until(next_kill), if !every.is_zero() && next_kill < end => {
                let relay = chaos::victim(killed);
                killed += 1;
                next_kill += every;
                let (tree, kills) = (tree.clone(), shared.kills.clone());
                let broadcasts = shared.broadcasts.clone();
                let down = Duration::from_secs(args.down);
                tasks.spawn(async move {
                    let name = tree.specs[relay].name.clone();
                    if let Err(e) = chaos::kill_and_restart(tree, kills, broadcasts, relay, down).await {
                        eprintln!("restart of {name} failed: {e:#}");
                    }
                });
            }
            _ = tokio::signal::ctrl_c() => {
                println!("interrupted");
                break;
            }
        }
    }
    tasks.shutdown().await;
    finish(&args, &out, &tree, &minutes, &shared.kills, t0)
}

/// The plots and the summary.
fn finish(
    args: &Args,
    out: &Path,
    tree: &Tree,
    minutes: &[Minute],
    kills: &Kills,
    t0: Instant,
) -> anyhow::Result<()> {
    let kill_marks: Vec<(String, f64)> = kills
        .snapshot()
        .iter()
        .map(|k| (k.name.clone(), (k.at - t0).as_secs_f64() / 60.0))
        .collect();
    let legend = summary::plot(out, tree, minutes, &kill_marks, args.viewers)?;
    let ran = minutes.last().map_or(0, |m| m.minute);
    let warmup = args.warmup.min(ran.saturating_sub(1));
    let summary = summary::summary(tree, minutes, warmup);
    println!("\nsummary ({ran} minutes, warm-up {warmup})\n{summary}{legend}");
    std::fs::write(out.join("summary.txt"), format!("{summary}{legend}\n"))?;
    println!("files in {}", out.display());
    Ok(())
}
