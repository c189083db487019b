//! How the HTTP listener serves: plain HTTP on a loopback address, HTTPS elsewhere (a browser
//! publishes a camera only from a secure context, and tokens ride in its requests) with the
//! relay's certificate (`relay.tls_cert`), or a self-signed one that browsers refuse, said at
//! start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tern_quic::SelfSignedConfig;
use tern_quic::cert::{load_pem, self_signed};
use tern_relay::config::Config;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// How long a client has for the TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// `http` on loopback, `https` elsewhere.
pub fn scheme(addr: SocketAddr) -> &'static str {
    if addr.ip().is_loopback() {
        "http"
    } else {
        "https"
    }
}

#[derive(Debug)]
struct One(Arc<CertifiedKey>);

impl ResolvesServerCert for One {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Said at start when a TLS listener `what` on `addr` has the relay's self-signed certificate:
/// who will refuse it (`refusers`).
pub fn warn_self_signed(what: &str, addr: SocketAddr, refusers: &str) {
    eprintln!(
        "{what} on {addr} uses a self-signed certificate: {refusers} will refuse it (set \
         relay.tls_cert and relay.tls_key to a certificate they trust)"
    );
}

/// The TLS configuration of a TCP listener (`what`: its protocol and the key its errors name):
/// the relay's certificate (`relay.tls_cert`), or a self-signed one (then `true`: say so with
/// [`warn_self_signed`]). ALPN `http/1.1` for HTTPS.
pub fn server_config(
    config: &Config,
    (what, key): (&str, &str),
) -> anyhow::Result<(Arc<rustls::ServerConfig>, bool)> {
    let (issued, self_signed_cert) = match (&config.relay.tls_cert, &config.relay.tls_key) {
        (Some(cert), Some(tls_key)) => (
            load_pem(cert, tls_key)
                .with_context(|| format!("{key}: relay.tls_cert {}", cert.display()))?,
            false,
        ),
        _ => (
            self_signed(&SelfSignedConfig::default())
                .with_context(|| format!("{key}: self-signed certificate"))?,
            true,
        ),
    };
    let mut tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(One(issued.certified.clone())));
    if what == "HTTPS" {
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    Ok((Arc::new(tls), self_signed_cert))
}

/// Serve `app` on `listener` until the task is aborted.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &Config,
) -> anyhow::Result<JoinHandle<()>> {
    let addr = listener.local_addr()?;
    if scheme(addr) == "http" {
        return Ok(tokio::spawn(async move {
            if let Err(e) = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            {
                tracing::warn!("http: the listener stopped: {e}");
            }
        }));
    }
    let (tls, self_signed_cert) = server_config(config, ("HTTPS", "http"))?;
    if self_signed_cert {
        warn_self_signed("HTTPS", addr, "browsers");
    }
    let acceptor = TlsAcceptor::from(tls);
    Ok(tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("http: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let stream = match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "http: TLS handshake with {peer}: {e}");
                        return;
                    }
                    Err(_) => return,
                };
                let app = app.layer(axum::Extension(ConnectInfo(peer)));
                let service = TowerToHyperService::new(app);
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = conn {
                    tracing::debug!(%peer, "http: {peer}: {e}");
                }
            });
        }
    }))
}
