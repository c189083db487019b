//! [`Server`]: one UDP port serving raw QUIC (ALPN `moqt-18`) and WebTransport (ALPN `h3`).
//!
//! A background task accepts connections, applies admission (stateless Retry under load, a
//! per-IP cap), runs each handshake in its own task under a deadline, dispatches on the
//! negotiated ALPN, and queues established sessions for [`Server::accept`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use url::Url;
use web_transport_quinn as wtq;

use crate::admission::{Admission, AdmissionStats, Admitted, Limits};
use crate::cert::{CertError, Fingerprint};
use crate::config::{ALPN_H3, ServerConfig};
use crate::session::{Session, Transport};
use crate::store::{self, CertStore, CertTask};

/// Errors that stop a server from starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The certificate could not be loaded or generated.
    #[error("certificate {source_name}: {error}")]
    Cert {
        /// `self-signed` or the certificate path.
        source_name: String,
        /// What went wrong.
        error: CertError,
    },
    /// TLS could not be configured.
    #[error("tls: {0}")]
    Tls(String),
    /// The UDP socket could not be bound.
    #[error("cannot bind {addr}: {error}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        error: std::io::Error,
    },
    /// The settings contradict each other.
    #[error("invalid server config: {0}")]
    Config(&'static str),
}

/// An established session and what is known about how it arrived.
#[derive(Debug)]
pub struct IncomingSession {
    /// The session, ready for MoQ SETUP.
    pub session: Session,
    /// The negotiated MoQ protocol (`"moqt-18"`).
    pub protocol: String,
    /// Raw QUIC or WebTransport.
    pub transport: Transport,
    /// The client's UDP address.
    pub remote: SocketAddr,
    /// The CONNECT URL of a WebTransport session (path and query carry the broadcast and any
    /// `?jwt=`); `None` for raw QUIC, which has no URL.
    pub url: Option<Url>,
}

impl IncomingSession {
    /// The URL path, `/` for raw QUIC.
    pub fn path(&self) -> &str {
        self.url.as_ref().map_or("/", Url::path)
    }

    /// The URL query without `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.url.as_ref().and_then(Url::query)
    }
}

/// A bound QUIC endpoint accepting MoQ sessions over raw QUIC and WebTransport.
///
/// Dropping the server stops accepting; established sessions live on until closed.
#[derive(Debug)]
pub struct Server {
    endpoint: quinn::Endpoint,
    accepted: mpsc::Receiver<IncomingSession>,
    certs: Arc<CertStore>,
    transport: Arc<quinn::TransportConfig>,
    admission: Arc<Admission>,
    _cert_task: Option<CertTask>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl Server {
    /// Load the certificate, bind the UDP port and start accepting. Needs a tokio runtime.
    pub fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        if config.protocols.is_empty() {
            return Err(ServerError::Config("protocols must not be empty"));
        }
        if config.max_sessions_per_ip == 0 || config.accept_queue == 0 {
            return Err(ServerError::Config(
                "max_sessions_per_ip and accept_queue must be positive",
            ));
        }
        let (certs, cert_task) =
            CertStore::new(config.cert.clone()).map_err(|error| ServerError::Cert {
                source_name: store::describe(&config.cert),
                error,
            })?;

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        let builder = if config.client_roots.is_empty() {
            builder.with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            crate::verify::add_roots(&mut roots, &config.client_roots)
                .map_err(|e| ServerError::Tls(format!("client_roots: {e}")))?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| ServerError::Tls(format!("client_roots: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        };
        let mut tls = builder.with_cert_resolver(certs.clone());
        tls.alpn_protocols = config
            .protocols
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .chain([ALPN_H3.as_bytes().to_vec()])
            .collect();
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        let transport = Arc::new(config.transport.to_quinn());
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server_config.transport_config(transport.clone());

        let endpoint = quinn::Endpoint::server(server_config, config.bind).map_err(|error| {
            ServerError::Bind {
                addr: config.bind,
                error,
            }
        })?;
        let admission = Arc::new(Admission::new(
            Limits {
                per_source: config.max_sessions_per_ip,
                total: config.max_sessions,
                rate_per_source: config.new_sessions_per_ip,
            },
            config.retry_threshold,
        ));
        let (tx, accepted) = mpsc::channel(config.accept_queue);
        let accept_task = tokio::spawn(accept_loop(
            endpoint.clone(),
            admission.clone(),
            Arc::new(config),
            tx,
        ));
        Ok(Self {
            endpoint,
            accepted,
            certs,
            transport,
            admission,
            _cert_task: cert_task,
            accept_task,
        })
    }

    /// The bound UDP address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// The next established session; `None` once the endpoint is closed.
    pub async fn accept(&mut self) -> Option<IncomingSession> {
        self.accepted.recv().await
    }

    /// The certificate store: current fingerprint, a watch of re-issues, PEM reload.
    pub fn certs(&self) -> &Arc<CertStore> {
        &self.certs
    }

    /// SHA-256 of the certificate served now (what browsers pin).
    pub fn fingerprint(&self) -> Fingerprint {
        self.certs.fingerprint()
    }

    /// The transport config every connection of this server uses.
    pub fn transport_config(&self) -> Arc<quinn::TransportConfig> {
        self.transport.clone()
    }

    /// Sessions currently admitted (handshaking or established).
    pub fn admitted(&self) -> usize {
        self.admission.admitted()
    }

    /// This server's admission for sessions arriving over another listener (WebSocket).
    pub fn stream_admission(&self) -> crate::admission::StreamAdmission {
        crate::admission::StreamAdmission(self.admission.clone())
    }

    /// Refusals and Retries so far (shared; read it while the server runs).
    pub fn admission_stats(&self) -> Arc<AdmissionStats> {
        self.admission.stats.clone()
    }

    /// Close every connection with `code` and stop accepting.
    pub fn close(&self, code: u32, reason: &str) {
        self.endpoint.close(code.into(), reason.as_bytes());
    }

    /// Wait until every connection has been closed and its close acknowledged or timed out.
    pub async fn wait_idle(&self) {
        self.endpoint.wait_idle().await;
    }
}

/// Failed-handshake log lines: at most 10 per 10 s.
static HANDSHAKE_LOG: crate::LogBudget =
    crate::LogBudget::new(10, std::time::Duration::from_secs(10));

async fn accept_loop(
    endpoint: quinn::Endpoint,
    admission: Arc<Admission>,
    config: Arc<ServerConfig>,
    tx: mpsc::Sender<IncomingSession>,
) {
    while let Some(incoming) = endpoint.accept().await {
        let Some(Admitted {
            incoming,
            slot,
            handshake,
        }) = admission.admit(incoming)
        else {
            continue;
        };
        let config = config.clone();
        let tx = tx.clone();
        let stats = admission.stats.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let result =
                tokio::time::timeout(config.handshake_timeout, handshake_one(incoming, &config))
                    .await;
            drop(handshake);
            let mut accepted = match result {
                Ok(Ok(accepted)) => accepted,
                Ok(Err(reason)) => {
                    // Includes raw QUIC clients refused at TLS for offering no known ALPN.
                    if let Some(suppressed) = HANDSHAKE_LOG.allow(std::time::Instant::now()) {
                        let speaks = config.protocols.join(", ");
                        tracing::info!(%remote, %reason, speaks, suppressed, "handshake failed");
                    }
                    let counter = if reason.contains("protocol") {
                        &stats.refused_version
                    } else {
                        &stats.failed_handshakes
                    };
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
                Err(_) => {
                    if let Some(suppressed) = HANDSHAKE_LOG.allow(std::time::Instant::now()) {
                        tracing::info!(%remote, timeout = ?config.handshake_timeout, suppressed, "handshake timed out");
                    }
                    stats
                        .failed_handshakes
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
            };
            accepted.session = accepted.session.hold(slot);
            tracing::debug!(%remote, transport = %accepted.transport, protocol = %accepted.protocol, "session established");
            if let Err(mpsc::error::SendError(lost)) = tx.send(accepted).await {
                lost.session.close(0, "server shutting down");
            }
        });
    }
}

/// Complete the QUIC handshake, then either wrap the raw connection or run the WebTransport
/// CONNECT exchange and choose a protocol. Errors are log text.
async fn handshake_one(
    incoming: quinn::Incoming,
    config: &ServerConfig,
) -> Result<IncomingSession, String> {
    let conn = incoming
        .accept()
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let remote = conn.remote_address();
    let alpn = conn
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol)
        .and_then(|p| String::from_utf8(p).ok())
        .unwrap_or_default();

    if alpn != ALPN_H3 {
        // rustls only negotiates an ALPN from our list, so this is a MoQ protocol.
        let session = Session::raw(conn, alpn.clone());
        return Ok(IncomingSession {
            session,
            protocol: alpn,
            transport: Transport::RawQuic,
            remote,
            url: None,
        });
    }

    let request = wtq::Request::accept(conn.clone())
        .await
        .map_err(|e| format!("webtransport request: {e}"))?;
    let url = request.url.clone();
    let Some(protocol) = config
        .protocols
        .iter()
        .find(|p| request.protocols.contains(p))
        .cloned()
    else {
        tracing::warn!(%remote, offered = ?request.protocols, speaks = ?config.protocols,
            path = url.path(), "refused webtransport session: no supported protocol offered (406)");
        request
            .reject(wtq::http::StatusCode::NOT_ACCEPTABLE)
            .await
            .map_err(|e| e.to_string())?;
        // Let the 406 reach the client before the connection goes away.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), conn.closed()).await;
        conn.close(0x100u32.into(), b"no supported protocol");
        return Err("no supported protocol".into());
    };
    let response =
        wtq::proto::ConnectResponse::new(wtq::http::StatusCode::OK).with_protocol(protocol.clone());
    let inner = request
        .respond(response)
        .await
        .map_err(|e| format!("webtransport response: {e}"))?;
    Ok(IncomingSession {
        session: Session::web_transport(inner, protocol.clone()),
        protocol,
        transport: Transport::WebTransport,
        remote,
        url: Some(url),
    })
}
