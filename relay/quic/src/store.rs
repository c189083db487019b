//! The server's current certificate, swapped without dropping sessions.
//!
//! [`CertStore`] is a rustls [`ResolvesServerCert`]: every handshake reads the current
//! certificate, and a background task replaces it (self-signed: before expiry; PEM: on
//! [`CertStore::reload`]). Sessions already established keep their TLS keys.

use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cert::{self, CertError, Fingerprint, Issued, SelfSignedConfig};
use crate::config::CertSource;

/// The current server certificate, shared with rustls and observable by the application.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    fingerprint: watch::Sender<Fingerprint>,
    source: CertSource,
}

impl CertStore {
    /// Load or generate the first certificate. A self-signed source starts a re-issue task
    /// on the current tokio runtime; it stops when the returned [`CertTask`] is dropped.
    pub fn new(source: CertSource) -> Result<(Arc<Self>, Option<CertTask>), CertError> {
        let issued = issue(&source)?;
        let (fingerprint, _) = watch::channel(issued.fingerprint);
        let store = Arc::new(Self {
            current: RwLock::new(issued.certified),
            fingerprint,
            source: source.clone(),
        });
        let task = match &source {
            CertSource::SelfSigned(config) => {
                let every = config.renew_after()?;
                let weak = Arc::downgrade(&store);
                let config = config.clone();
                Some(CertTask(tokio::spawn(async move {
                    reissue_loop(weak, config, every).await
                })))
            }
            CertSource::Pem { .. } => None,
        };
        Ok((store, task))
    }

    /// SHA-256 of the certificate served now.
    pub fn fingerprint(&self) -> Fingerprint {
        *self.fingerprint.borrow()
    }

    /// A receiver that sees every new fingerprint (the browser pin to hand out).
    pub fn watch(&self) -> watch::Receiver<Fingerprint> {
        self.fingerprint.subscribe()
    }

    /// The chain and key served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Load the PEM files again, or issue a fresh self-signed certificate, and serve it from
    /// the next handshake on. On error the current certificate stays.
    pub fn reload(&self) -> Result<Fingerprint, CertError> {
        let issued = issue(&self.source)?;
        self.install(issued);
        Ok(self.fingerprint())
    }

    fn install(&self, issued: Issued) {
        match self.current.write() {
            Ok(mut guard) => *guard = issued.certified,
            Err(poisoned) => *poisoned.into_inner() = issued.certified,
        }
        self.fingerprint.send_replace(issued.fingerprint);
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The background re-issue task of a self-signed [`CertStore`]; aborted on drop.
#[derive(Debug)]
pub struct CertTask(JoinHandle<()>);

impl Drop for CertTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn issue(source: &CertSource) -> Result<Issued, CertError> {
    match source {
        CertSource::Pem { cert, key } => cert::load_pem(cert, key),
        CertSource::SelfSigned(config) => {
            config.renew_after()?;
            cert::self_signed(config)
        }
    }
}

async fn reissue_loop(
    store: std::sync::Weak<CertStore>,
    config: SelfSignedConfig,
    every: std::time::Duration,
) {
    let mut delay = every;
    loop {
        tokio::time::sleep(delay).await;
        let Some(store) = store.upgrade() else { return };
        match cert::self_signed(&config) {
            Ok(issued) => {
                tracing::info!(fingerprint = %issued.fingerprint, "re-issued self-signed certificate");
                store.install(issued);
                delay = every;
            }
            Err(err) => {
                // Keep serving the old one and try again soon; it is still valid for a while.
                tracing::error!(%err, "cannot re-issue self-signed certificate");
                delay = every.min(std::time::Duration::from_secs(60));
            }
        }
    }
}

/// Paths of a PEM source, for messages.
pub(crate) fn describe(source: &CertSource) -> String {
    match source {
        CertSource::Pem { cert, .. } => cert.display().to_string(),
        CertSource::SelfSigned(_) => "self-signed".into(),
    }
}
