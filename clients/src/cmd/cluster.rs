//! `tern cluster ca` and `tern cluster cert`: the private CA that makes relays members of one
//! cluster (see `[cluster]` in the relay's configuration), and the certificates it signs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tern_quic::cert::{self, PemPair};

/// `tern cluster` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a new cluster CA: its certificate goes to every relay's `cluster.ca`, its key
    /// stays with the operator.
    Ca(CaArgs),
    /// Issue a relay's certificate (for `cluster.cert`/`cluster.key`, and usable as its
    /// `relay.tls_cert`/`relay.tls_key`).
    Cert(CertArgs),
}

/// Options of `tern cluster ca`.
#[derive(Debug, clap::Args)]
pub struct CaArgs {
    /// The cluster's name (in the CA's common name).
    #[arg(long)]
    pub name: String,
    /// Where to write the CA certificate (PEM).
    #[arg(long, default_value = "cluster-ca.pem")]
    pub out_cert: PathBuf,
    /// Where to write the CA private key (PEM, mode 0600).
    #[arg(long, default_value = "cluster-ca.key")]
    pub out_key: PathBuf,
    /// Lifetime (`3650d`, `8760h`).
    #[arg(long, default_value = "3650d", value_parser = tern_relay::config::parse_duration)]
    pub valid_for: Duration,
}

/// Options of `tern cluster cert`.
#[derive(Debug, clap::Args)]
pub struct CertArgs {
    /// The relay's DNS name (its certificate's subject and DNS name).
    #[arg(long)]
    pub name: String,
    /// The CA certificate from `tern cluster ca`.
    #[arg(long, default_value = "cluster-ca.pem")]
    pub ca: PathBuf,
    /// The CA private key.
    #[arg(long, default_value = "cluster-ca.key")]
    pub ca_key: PathBuf,
    /// Where to write the certificate (PEM); default `<name>.pem`.
    #[arg(long)]
    pub out_cert: Option<PathBuf>,
    /// Where to write the private key (PEM, mode 0600); default `<name>.key`.
    #[arg(long)]
    pub out_key: Option<PathBuf>,
    /// Lifetime (`365d`).
    #[arg(long, default_value = "365d", value_parser = tern_relay::config::parse_duration)]
    pub valid_for: Duration,
}

/// Run a cluster subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Ca(a) => {
            let pair = cert::cluster_ca(&a.name, a.valid_for)?;
            write_pair(&pair, &a.out_cert, &a.out_key)?;
            eprintln!(
                "tern: cluster CA {} written to {} (key {}); set cluster.ca = {:?} on every relay",
                a.name,
                a.out_cert.display(),
                a.out_key.display(),
                a.out_cert
            );
        }
        Command::Cert(a) => {
            let read = |p: &Path| {
                std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let ca = PemPair {
                cert: read(&a.ca)?,
                key: read(&a.ca_key)?,
            };
            let pair = cert::issue(&ca, &a.name, a.valid_for)
                .with_context(|| format!("--ca {}", a.ca.display()))?;
            let out_cert = a
                .out_cert
                .unwrap_or_else(|| PathBuf::from(format!("{}.pem", a.name)));
            let out_key = a
                .out_key
                .unwrap_or_else(|| PathBuf::from(format!("{}.key", a.name)));
            write_pair(&pair, &out_cert, &out_key)?;
            eprintln!(
                "tern: certificate for {} written to {} (key {}); set cluster.cert and cluster.key",
                a.name,
                out_cert.display(),
                out_key.display()
            );
        }
    }
    Ok(())
}

/// Write both files, refusing to overwrite either; the key is readable by its owner only.
fn write_pair(pair: &PemPair, cert_path: &Path, key_path: &Path) -> anyhow::Result<()> {
    for p in [cert_path, key_path] {
        anyhow::ensure!(!p.exists(), "{} exists: not overwritten", p.display());
    }
    std::fs::write(cert_path, &pair.cert)
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(key_path)
        .and_then(|mut f| f.write_all(pair.key.as_bytes()))
        .with_context(|| format!("cannot write {}", key_path.display()))?;
    Ok(())
}
