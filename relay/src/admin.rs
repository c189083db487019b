//! The internal HTTP port: `GET /metrics` (Prometheus text) and `GET /health`.
//!
//! `/health` answers 200 `ok` while the node is ready and 503 `draining` once its [`Readiness`]
//! is cleared (on SIGTERM the relay drains: load balancers stop sending new viewers while the
//! current ones finish). This module, not the sans-IO core, owns the tokio and axum parts.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How often histogram buffers are folded even when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Content type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The admin server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The Prometheus recorder could not be installed (another global recorder is).
    #[error("cannot install the Prometheus recorder: {0}")]
    Recorder(String),
    /// The TCP port could not be bound.
    #[error("admin.bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

/// Whether the node takes new sessions; shared by the relay (which clears it to drain) and
/// `/health` (which reports it). Starts ready; clones share the flag.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// A flag that starts ready.
    pub fn new() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    /// Whether the node is ready (`/health` answers 200).
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the node as draining: `/health` answers 503 from now on.
    pub fn drain(&self) {
        self.0.store(false, Ordering::Release);
    }

    /// Marks the node ready again (after a reload, say).
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

/// The process-wide Prometheus recorder, installed on first use (with metric descriptions).
pub fn prometheus() -> Result<PrometheusHandle, AdminError> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| e.to_string())?;
            crate::metrics::describe();
            Ok(handle)
        })
        .clone()
        .map_err(AdminError::Recorder)
}

/// The admin HTTP service: the metrics handle and the readiness flag.
#[derive(Debug, Clone)]
pub struct Admin {
    metrics: PrometheusHandle,
    readiness: Readiness,
}

impl Admin {
    /// Installs the Prometheus recorder (once per process) and reports `readiness`.
    pub fn new(readiness: Readiness) -> Result<Self, AdminError> {
        Ok(Self {
            metrics: prometheus()?,
            readiness,
        })
    }

    /// The routes, to serve alone ([`Admin::serve`]) or to nest in another router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/metrics", get(render_metrics))
            .route("/health", get(health))
            .with_state(self.clone())
    }

    /// Binds `bind` (port 0 picks one) and serves in a spawned task; returns the bound address and
    /// the task (abort it to stop). Needs a tokio runtime.
    pub async fn serve(
        self,
        bind: SocketAddr,
    ) -> Result<(SocketAddr, JoinHandle<io::Result<()>>), AdminError> {
        let bind_error = |source| AdminError::Bind { addr: bind, source };
        let listener = TcpListener::bind(bind).await.map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        let router = self.router();
        let handle = self.metrics;
        let task = tokio::spawn(async move {
            tokio::select! {
                result = axum::serve(listener, router).into_future() => result,
                () = upkeep(handle) => Ok(()),
            }
        });
        tracing::info!(%local, "admin HTTP listening (/metrics, /health)");
        Ok((local, task))
    }
}

/// Starts the admin server on `bind`: see [`Admin::serve`].
pub async fn serve(
    bind: SocketAddr,
    readiness: Readiness,
) -> Result<(SocketAddr, JoinHandle<io::Result<()>>), AdminError> {
    Admin::new(readiness)?.serve(bind).await
}

async fn upkeep(handle: PrometheusHandle) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

async fn render_metrics(State(admin): State<Admin>) -> impl IntoResponse {
    admin.metrics.run_upkeep();
    let mut text = admin.metrics.render();
    crate::node::viewers::render(&mut text);
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], text)
}

async fn health(State(admin): State<Admin>) -> (StatusCode, &'static str) {
    if admin.readiness.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::metrics;

    /// A raw HTTP/1.1 GET: (status code, body).
    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {response:?}"));
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    #[tokio::test]
    async fn metrics_and_health() {
        let readiness = Readiness::new();
        let (addr, task) = serve("127.0.0.1:0".parse().expect("addr"), readiness.clone())
            .await
            .expect("serve");
        assert_ne!(addr.port(), 0);

        ::metrics::counter!(metrics::OBJECTS_IN).increment(3);
        ::metrics::counter!(metrics::SESSIONS_REFUSED, metrics::REASON => metrics::refused::PER_IP)
            .increment(1);
        ::metrics::gauge!(metrics::CACHE_BYTES).set(1234.0);
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("tern_objects_in_total "), "{body}");
        assert!(
            body.contains("tern_sessions_refused_total{reason=\"per_ip\"} "),
            "{body}"
        );
        assert!(body.contains("tern_cache_bytes 1234"), "{body}");
        assert!(
            body.contains("# HELP tern_objects_in_total Objects received."),
            "{body}"
        );

        assert_eq!(get(addr, "/health").await, (200, "ok".to_owned()));
        readiness.drain();
        assert_eq!(get(addr, "/health").await, (503, "draining".to_owned()));
        readiness.set_ready();
        assert_eq!(get(addr, "/health").await.0, 200);

        assert_eq!(get(addr, "/nope").await.0, 404);
        task.abort();
    }

    #[tokio::test]
    async fn bind_error_names_the_address() {
        let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = taken.local_addr().expect("addr");
        let error = serve(addr, Readiness::new()).await.expect_err("in use");
        assert!(
            error
                .to_string()
                .starts_with(&format!("admin.bind {addr}: ")),
            "{error}"
        );
    }
}
