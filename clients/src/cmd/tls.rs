//! How the HTTP listener serves: plain HTTP on a loopback address, HTTPS elsewhere (a browser
//! publishes a camera only from a secure context, and tokens ride in its requests) with the
//! relay's certificate (`relay.tls_cert`), or a self-signed one that browsers refuse, said at
//! start. HTTP/1.1 and HTTP/2 both: with TLS, HTTP/2 by ALPN (`h2`); in clear text, HTTP/2 with
//! prior knowledge (h2c, as a CDN's origin fetch or `curl --http2-prior-knowledge` speaks it).
//! An LL-HLS viewer's blocking playlist reloads and part requests then share one connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
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
/// [`warn_self_signed`]). ALPN `h2` and `http/1.1` for HTTPS.
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
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
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
    Ok(serve_tls(listener, app, TlsAcceptor::from(tls)))
}

/// Serve `app` over TLS on `listener`, HTTP/1.1 or HTTP/2 as ALPN chose, until the task is
/// aborted.
fn serve_tls(listener: TcpListener, app: Router, acceptor: TlsAcceptor) -> JoinHandle<()> {
    tokio::spawn(async move {
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
                // HTTP/1.1 or HTTP/2, as the client's first bytes say (ALPN chose before).
                let conn = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = conn {
                    tracing::debug!(%peer, "http: {peer}: {e}");
                }
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use axum::routing::get;

    use super::*;

    /// `curl` (`args`) of `url` in a blocking thread: the body, then the HTTP version it spoke.
    async fn curl(args: &'static [&'static str], url: String) -> String {
        let out = tokio::task::spawn_blocking(move || {
            Command::new("curl")
                .args(["-sS", "--max-time", "10", "-w", "\n%{http_version}"])
                .args(args)
                .arg(url)
                .output()
                .expect("curl (apt-get install curl)")
        })
        .await
        .expect("curl thread");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn https_speaks_http2_by_alpn_and_http_1_1_still() {
        let (tls, self_signed) =
            server_config(&Config::default(), ("HTTPS", "http")).expect("TLS config");
        assert!(self_signed);
        assert_eq!(tls.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("https://{}/held", listener.local_addr().expect("address"));
        // A held answer, as a blocking playlist reload is: the stream stays open meanwhile.
        let app = Router::new().route(
            "/held",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "held"
            }),
        );
        let task = serve_tls(listener, app, TlsAcceptor::from(tls));
        assert_eq!(curl(&["-k", "--http2"], url.clone()).await, "held\n2");
        assert_eq!(curl(&["-k", "--http1.1"], url).await, "held\n1.1");
        task.abort();
    }
}
