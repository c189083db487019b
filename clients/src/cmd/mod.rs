//! Subcommands.

mod relay;

use clap::{Parser, Subcommand};

/// tern: a Media-over-QUIC CDN.
#[derive(Debug, Parser)]
#[command(name = "tern", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a relay node (raw QUIC and WebTransport on one UDP port).
    Relay(relay::Args),
}

/// Run the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Relay(args) => relay::run(args).await,
    }
}
