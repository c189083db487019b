//! `tern plugin replay`: run an edge plugin against recorded sessions (`[plugin] record`) and
//! report the decisions that differ.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tern_edge_wasm::record::{Report, replay};
use tern_edge_wasm::{HostConfig, PluginHost};

/// Largest recording read (bytes).
const MAX_RECORDING: u64 = 1 << 30;

/// `tern plugin` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run each recorded call against a plugin; print the calls whose decision differs and
    /// fail when any does.
    Replay(ReplayArgs),
}

/// Options of `tern plugin replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The plugin component (`.wasm`).
    #[arg(long)]
    pub plugin: PathBuf,
    /// The plugin's configuration (JSON); none: `{}`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Longest run of one call.
    #[arg(long, default_value = "20ms", value_parser = tern_relay::config::parse_duration)]
    pub deadline: Duration,
    /// The recording: JSON lines, one call each.
    pub sessions: PathBuf,
}

/// Run a plugin subcommand.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Replay(args) => {
            let report = replay_file(&args).await?;
            for d in &report.differences {
                println!(
                    "line {}: {}\n  recorded: {}\n  replayed: {}",
                    d.line,
                    serde_json::to_string(&d.input)?,
                    serde_json::to_string(&d.recorded)?,
                    serde_json::to_string(&d.replayed)?
                );
            }
            println!(
                "{} calls replayed, {} decisions differ",
                report.calls,
                report.differences.len()
            );
            if !report.differences.is_empty() {
                bail!("{} decisions differ", report.differences.len());
            }
            Ok(())
        }
    }
}

async fn replay_file(args: &ReplayArgs) -> anyhow::Result<Report> {
    let size = std::fs::metadata(&args.sessions)
        .with_context(|| format!("cannot read {}", args.sessions.display()))?
        .len();
    if size > MAX_RECORDING {
        bail!(
            "{} is {size} bytes; recordings up to {MAX_RECORDING} are replayed",
            args.sessions.display()
        );
    }
    let recording = std::fs::read_to_string(&args.sessions)
        .with_context(|| format!("cannot read {}", args.sessions.display()))?;
    let mut host = HostConfig::new(&args.plugin);
    if let Some(path) = &args.config {
        host.config = std::fs::read_to_string(path)
            .with_context(|| format!("--config: cannot read {}", path.display()))?;
    }
    host.deadline = args.deadline;
    host.reload_interval = None;
    let host = tokio::task::spawn_blocking(move || PluginHost::start(host))
        .await
        .context("plugin loader panicked")?
        .context("--plugin")?;
    Ok(replay(&host, &args.sessions, &recording).await?)
}
