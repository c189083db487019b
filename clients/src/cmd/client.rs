//! What every client subcommand shares: the relay URL, TLS flags, connecting, and turning
//! failures into the one-line messages users see.

use std::time::Duration;

use tern::client::{ConnectOptions, Error, Session};
use tern_moq::TrackNamespace;
use tern_quic::{ConnectError, Fingerprint};

/// Where to connect and how to trust the relay.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Relay URL: `https://host:port` (WebTransport) or `moqt://host:port` (raw QUIC).
    pub url: String,
    /// Accept any relay certificate (self-signed relays and tests only).
    #[arg(long)]
    pub tls_disable_verify: bool,
    /// Accept only the certificate with this SHA-256 (64 hex digits, colons allowed; `tern
    /// relay` prints it). Repeat to allow several.
    #[arg(long = "cert-hash", value_name = "HEX")]
    pub cert_hash: Vec<String>,
    /// Seconds to wait for the relay to answer.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub connect_timeout: u64,
    /// Certificate to show a relay that asks for one (mutual TLS): an origin publishing into
    /// a cluster's root relay uses one from `tern cluster cert`.
    #[arg(long, value_name = "PEM", requires = "client_key")]
    pub client_cert: Option<std::path::PathBuf>,
    /// Private key of --client-cert.
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    pub client_key: Option<std::path::PathBuf>,
    /// Speak only this MoQ Transport draft (14, 16, 18, 20 or 22). Default: offer all, newest
    /// first; the relay picks the newest it speaks.
    #[arg(long, value_name = "N")]
    pub draft: Option<u32>,
}

/// Split `a/b` into the namespace tuple `("a", "b")`.
pub fn namespace(path: &str) -> TrackNamespace {
    TrackNamespace::from_path(path)
}

impl ConnectArgs {
    /// Connect and exchange SETUP; errors are the user-facing sentences.
    pub async fn connect(&self) -> anyhow::Result<Session> {
        let opts = self.options()?;
        Session::connect(&self.url, &opts)
            .await
            .map_err(|e| anyhow::anyhow!(self.describe(&e)))
    }

    /// The client options these flags describe.
    pub fn options(&self) -> anyhow::Result<ConnectOptions> {
        let mut cert_hashes = Vec::new();
        for h in &self.cert_hash {
            let fp = Fingerprint::from_hex(h).ok_or_else(|| {
                anyhow::anyhow!("--cert-hash {h:?} is not a SHA-256 (64 hex digits)")
            })?;
            cert_hashes.push(fp);
        }
        let protocols = match self.draft {
            None => ConnectOptions::default().protocols,
            Some(n) => match tern_moq::Version::from_number(n) {
                Some(v) => vec![v.alpn().to_owned()],
                None => {
                    let spoken: Vec<String> = tern_moq::Version::ALL
                        .iter()
                        .map(|v| v.number().to_string())
                        .collect();
                    anyhow::bail!("--draft {n}: tern speaks drafts {}", spoken.join(", "));
                }
            },
        };
        let opts = ConnectOptions {
            protocols,
            disable_verify: self.tls_disable_verify,
            cert_hashes,
            connect_timeout: Duration::from_secs(self.connect_timeout.max(1)),
            identity: self
                .client_cert
                .clone()
                .zip(self.client_key.clone())
                .map(|(cert, key)| tern_quic::Identity { cert, key }),
            ..ConnectOptions::default()
        };
        Ok(opts)
    }

    /// A one-line explanation of a connection failure.
    pub fn describe(&self, e: &Error) -> String {
        let url = &self.url;
        match e {
            Error::Connect(ConnectError::Unreachable { addr, .. }) => format!(
                "cannot reach {addr} (no answer within {}s)",
                self.connect_timeout.max(1)
            ),
            Error::Connect(ConnectError::Tls { reason }) if !self.cert_hash.is_empty() => {
                let reason = reason.trim_start_matches("unexpected error: ");
                format!("the certificate of {url} did not match --cert-hash ({reason})")
            }
            Error::Connect(ConnectError::Tls { reason }) => format!(
                "the certificate of {url} is not trusted ({reason}); for a self-signed relay pass \
                 --cert-hash HEX (printed by `tern relay`) or --tls-disable-verify"
            ),
            Error::Connect(ConnectError::InvalidUrl { reason, .. }) => {
                format!("invalid relay URL {url:?}: {reason}")
            }
            Error::Connect(e) => format!("cannot connect to {url}: {e}"),
            Error::Setup(why) => format!("{url} did not complete the MoQ SETUP: {why}"),
            other => format!("{url}: {other}"),
        }
    }

    /// The message for a failed SUBSCRIBE.
    pub fn describe_subscribe(&self, ns: &str, track: &str, e: &Error) -> String {
        match e {
            Error::NotFound { .. } => format!("track {ns}/{track} not found at {}", self.url),
            Error::Refused { .. } => format!("subscription to {ns}/{track} {e}"),
            other => self.describe(other),
        }
    }
}

/// Wait for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Client logging: warnings to stderr unless `TERN_LOG` says otherwise.
pub fn init_logging() {
    let level = std::env::var("TERN_LOG").unwrap_or_else(|_| "warn".to_owned());
    let _ = tern_relay::logging::init(tern_relay::config::LogFormat::Text, &level);
}
