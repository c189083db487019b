//! Subcommands.

mod client;
mod clock;
mod cluster;
mod demo;
mod events;
mod http;
mod ingest;
mod origin;
mod plugin;
mod publish;
mod relay;
mod subscribe;
mod tls;
mod token;
mod watermark;
mod websocket;

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
    /// Publish a broadcast (media tracks, init track, catalogs) from fMP4, a file, the sample
    /// clip or a live ffmpeg ladder.
    Origin(origin::Args),
    /// Publish objects read from stdin as a track (see --framing).
    Publish(publish::Args),
    /// Write a track's objects to stdout (see --framing).
    Subscribe(subscribe::Args),
    /// The clock of Cloudflare's moq-clock-ietf: publish or print it.
    #[command(subcommand)]
    Clock(clock::Command),
    /// A broadcast's events (chat, reactions, bids): send them as a viewer, or watch them in
    /// the order the origin gave them.
    #[command(subcommand)]
    Events(events::Command),
    /// A relay, a clock publisher and the web player in one process.
    Demo(demo::Args),
    /// Tokens for the token plugin.
    #[command(subcommand)]
    Token(token::Command),
    /// The private CA and certificates that make relays members of one cluster.
    #[command(subcommand)]
    Cluster(cluster::Command),
    /// Edge plugins: replay recorded sessions against a plugin.
    #[command(subcommand)]
    Plugin(plugin::Command),
    /// Forensic watermarking: recover a viewer's id from a capture, print viewers' ids.
    #[command(subcommand)]
    Watermark(watermark::Command),
}

/// Run the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Relay(args) => relay::run(args).await,
        Command::Origin(args) => {
            client::init_logging();
            origin::run(args).await
        }
        Command::Publish(args) => {
            client::init_logging();
            publish::run(args).await
        }
        Command::Subscribe(args) => {
            client::init_logging();
            subscribe::run(args).await
        }
        Command::Clock(c) => {
            client::init_logging();
            clock::run(c).await
        }
        Command::Events(c) => {
            client::init_logging();
            events::run(c).await
        }
        Command::Demo(args) => demo::run(args).await,
        Command::Token(c) => token::run(c),
        Command::Cluster(c) => cluster::run(c),
        Command::Plugin(c) => plugin::run(c).await,
        Command::Watermark(c) => watermark::run(c),
    }
}
