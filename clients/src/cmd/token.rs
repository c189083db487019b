//! `tern token mint`: tokens for the token plugin, for operators and tests.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;

/// `tern token` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print a signed JWT that the token plugin accepts (pass it as `?jwt=` or in SETUP).
    Mint(MintArgs),
}

/// Options of `tern token mint`.
#[derive(Debug, clap::Args)]
pub struct MintArgs {
    /// Signing algorithm: HS256 (shared secret) or ES256 (P-256 private key).
    #[arg(long, default_value = "ES256")]
    pub alg: tern_edge_wasm::Alg,
    /// HS256: a file holding the secret (32 bytes or more); ES256: the private key (PKCS#8 PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// Key id (`kid`) the plugin's configuration names the key by.
    #[arg(long)]
    pub kid: Option<String>,
    /// Subject (`sub`): the viewer or publisher.
    #[arg(long)]
    pub subject: String,
    /// Audience (`aud`): the relays that accept the token.
    #[arg(long)]
    pub audience: String,
    /// Issuer (`iss`).
    #[arg(long)]
    pub issuer: String,
    /// Namespace prefix the holder may publish under (`live/room`); repeat for more.
    #[arg(long = "publish")]
    pub publish: Vec<String>,
    /// Namespace prefix the holder may subscribe under; repeat for more.
    #[arg(long = "subscribe")]
    pub subscribe: Vec<String>,
    /// Lifetime (`30s`, `10m`, `12h`).
    #[arg(long, default_value = "1h", value_parser = tern_relay::config::parse_duration)]
    pub valid_for: Duration,
}

/// Run a token subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Mint(args) => {
            println!("{}", mint(&args)?);
            Ok(())
        }
    }
}

fn mint(args: &MintArgs) -> anyhow::Result<String> {
    let mut key = std::fs::read(&args.key)
        .with_context(|| format!("--key: cannot read {}", args.key.display()))?;
    if args.alg == tern_edge_wasm::Alg::Hs256 {
        // A secret file usually ends with a newline that is not part of the secret.
        while key.last().is_some_and(u8::is_ascii_whitespace) {
            key.pop();
        }
    }
    let m = tern_edge_wasm::Mint {
        alg: args.alg,
        key,
        kid: args.kid.clone(),
        subject: args.subject.clone(),
        audience: args.audience.clone(),
        issuer: args.issuer.clone(),
        publish: args.publish.clone(),
        subscribe: args.subscribe.clone(),
        now: SystemTime::now(),
        valid_for: args.valid_for,
    };
    tern_edge_wasm::mint(&m).with_context(|| format!("--key {}", args.key.display()))
}
