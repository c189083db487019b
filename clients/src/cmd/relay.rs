//! `tern relay`: run a relay node.

use std::net::SocketAddr;
use std::path::PathBuf;

use tern_relay::config::{Config, LogFormat, Overrides, process_env};

/// Options of `tern relay`; every one can also come from the config file or `TERN_*`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// UDP address to listen on (relay.bind).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// PEM certificate chain (relay.tls_cert); without one a 13-day self-signed certificate is made.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM private key (relay.tls_key).
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Admin HTTP address for /metrics and /health (admin.bind).
    #[arg(long)]
    admin_bind: Option<SocketAddr>,
    /// Log format: text or json (log.format).
    #[arg(long)]
    log_format: Option<LogFormat>,
    /// UDP address of the SRT ingest listener (srt.bind), e.g. 0.0.0.0:9000.
    #[arg(long)]
    srt: Option<SocketAddr>,
    /// TCP address of the RTMP ingest listener (rtmp.bind), e.g. 0.0.0.0:1935.
    #[arg(long)]
    rtmp: Option<SocketAddr>,
    /// TCP address of the RTMPS ingest listener (rtmp.tls_bind), e.g. 0.0.0.0:443; TLS with
    /// relay.tls_cert.
    #[arg(long)]
    rtmps: Option<SocketAddr>,
    /// TCP address of the HTTP listener: WHIP, the player and publish pages (http.bind).
    /// Default: the QUIC port's number over TCP.
    #[arg(long)]
    http: Option<SocketAddr>,
}

/// Run until SIGINT/SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let flags = Overrides {
        bind: args.bind,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        admin_bind: args.admin_bind,
        log_format: args.log_format,
        srt: args.srt,
        rtmp: args.rtmp,
        rtmps: args.rtmps,
        http: args.http,
    };
    let config = Config::load(args.config.as_deref(), process_env(), &flags)?;
    tern_relay::logging::init(config.log.format, &config.log.level)?;
    let (node, readiness) = tern_relay::run::start(&config).await?;
    // Before the banner: a SIGTERM from whoever reads it must not be lost while the ingest
    // listeners start.
    let shutdown = tern_relay::run::shutdown_listener();
    println!(
        "tern relay listening on {} (raw QUIC and WebTransport: {})",
        node.addr,
        node.protocols().join(", ")
    );
    println!("certificate sha-256: {}", node.fingerprint.to_hex());
    let ingest = super::ingest::start(&config, &node).await?;
    shutdown.await;
    drop(ingest);
    readiness.drain();
    let (uri, timeout) = (&config.drain.goaway_uri, config.drain.timeout);
    tracing::info!(goaway_uri = %uri, "draining: GOAWAY sent, waiting up to {timeout:?}");
    node.shutdown(uri, timeout).await;
    Ok(())
}
