//! The relay node's async driver: a thin layer of tokio tasks around the sans-IO core.
//!
//! - [`session`]: one session's state (protocol session, aliases, budgets, control streams).
//! - [`peer`]: what the relay does with each thing a peer sends (the shared session driver's
//!   `Peer`).
//! - [`request`]: one task per request stream (SUBSCRIBE, PUBLISH_NAMESPACE, ...).
//! - [`ingest`]: publisher data streams and datagrams into the track cache.
//! - [`serve`]: one writer per downstream subscription, fed by the core's fan-out.
//! - [`upstream`]: the relay's own SUBSCRIBEs and incoming PUBLISHes.
//! - [`fetch`]: FETCH from the cache.
//! - [`offer`]: PUBLISH to SUBSCRIBE_TRACKS subscribers.
//! - [`plugin`]: edge plugin hooks (session open, subscribe and publish, token expiry).
//! - [`watermark`]: forensic A/B variants chosen per group for each viewer at the last hop.
//! - [`link`]: sessions to upstream relays and the namespaces learned over them.
//! - [`local`]: the local API's publishers and readers in this process.
//! - [`dispatch`]: the node loop, which carries out the router's decisions in its order.
//! - [`wire`]: between the wire and the core (a request's next message, refusals, names).
//! - [`hub`]: shared state (router, tracks, sessions).

mod ask_fetch;
pub mod auth;
pub mod backfill;
pub mod budget;
pub mod discovery;
pub mod dispatch;
mod error;

pub use error::{NodeError, StartError};
pub mod fetch;
pub mod fill;
pub mod hub;
pub mod ingest;
pub mod link;
pub mod local;

/// Calls of the local API a node answers at once by default ([`NodeSettings::max_local_calls`]).
pub const MAX_LOCAL_CALLS: usize = 1024;
pub mod offer;
pub mod peer;
pub mod plugin;
pub mod request;
pub mod serve;
pub mod session;
pub mod settings;
pub mod upstream;
pub mod viewers;
pub mod watermark;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_quic::{Fingerprint, Server, ServerConfig};

use crate::core::router::{Router, RouterConfig};
pub use hub::Hub;
pub use settings::{NodeSettings, UpstreamTls};

/// Serves MoQ sessions that reached this process another way than the relay's port, exactly
/// as the port's: the same driver, limits, plugin and routing ([`Node::acceptor`]).
#[derive(Clone)]
pub struct Acceptor {
    hub: Arc<Hub>,
    draining: Arc<std::sync::atomic::AtomicBool>,
    protocols: Arc<[String]>,
    admission: tern_quic::StreamAdmission,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor").finish_non_exhaustive()
    }
}

impl Acceptor {
    /// The MoQ protocols the node speaks (`moqt-22`, ...), most preferred first.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// A place for a session from `remote` under the QUIC listener's caps (rate and sessions
    /// per source, sessions in all), counted with QUIC's; or why it is refused.
    pub fn admit(
        &self,
        remote: std::net::SocketAddr,
    ) -> Result<tern_quic::SessionSlot, &'static str> {
        self.admission.admit(remote)
    }

    /// Serve `session`, whose request named `url` if any (a WebSocket upgrade's or a
    /// WebTransport CONNECT's: its path and query carry the broadcast and any `?jwt=`). A
    /// session offered while the node drains is closed at once, as the port does.
    pub fn serve(&self, session: tern_quic::Session, url: Option<url::Url>) {
        if self.draining.load(std::sync::atomic::Ordering::Acquire) {
            session.close(
                session::wire_code(tern_moq::message::codes::SessionError::NO_ERROR),
                "relay draining",
            );
            return;
        }
        tokio::spawn(peer::run_with(self.hub.clone(), session, true, move |s| {
            s.auth.set_url(url)
        }));
    }
}

/// A running relay: its address, certificate fingerprint and shared state.
#[derive(Debug)]
pub struct Node {
    /// Bound UDP address.
    pub addr: SocketAddr,
    /// SHA-256 of the current certificate.
    pub fingerprint: Fingerprint,
    /// Shared state.
    pub hub: Arc<Hub>,
    local: tern_model::local::LocalApi,
    certs: Arc<tern_quic::CertStore>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Set on shutdown: new sessions are refused while the endpoint (and every session on it)
    /// stays up for the drain.
    draining: Arc<std::sync::atomic::AtomicBool>,
    protocols: Arc<[String]>,
    stream_admission: tern_quic::StreamAdmission,
}

impl Node {
    /// Bind and start serving.
    pub fn start(
        server: ServerConfig,
        router: RouterConfig,
        settings: NodeSettings,
    ) -> Result<Self, StartError> {
        // Upstream links use the transport settings of the relay's own port (congestion
        // control, windows): the path to a parent is as lossy as any other.
        let transport = server.transport.clone();
        let protocols: Arc<[String]> = server.protocols.clone().into();
        let server = Server::bind(server)?;
        let addr = server.local_addr()?;
        let fingerprint = server.fingerprint();
        let stream_admission = server.stream_admission();
        let upstream_client = (!settings.upstreams.is_empty())
            .then(|| {
                tern_quic::Client::new(tern_quic::ClientConfig {
                    disable_verify: settings.upstream_tls.disable_verify,
                    cert_hashes: settings.upstream_tls.cert_hashes.clone(),
                    roots: settings.upstream_tls.roots.clone(),
                    // In a cluster, an upstream is one of its relays: only a certificate the
                    // cluster CA signed will do, never one any public CA issued for the name
                    // (a DNS spoofer's, with SRV discovery).
                    system_roots: settings.upstream_tls.roots.is_empty(),
                    identity: settings.upstream_tls.identity.clone(),
                    transport: link::transport(transport, settings.link_idle_timeout),
                    // The link speaks the newest draft both ends speak.
                    protocols: protocols.to_vec(),
                    ..tern_quic::ClientConfig::default()
                })
            })
            .transpose()?
            .map(Arc::new);
        let upstreams = settings.upstreams.clone();
        // A resolver only when an upstream is given by name.
        let named = |u: &String| discovery::names_a_host(u);
        let discovery = upstreams
            .iter()
            .any(named)
            .then(|| discovery::Discovery::new(&settings.upstream_tls.dns_servers))
            .transpose()?
            .map(Arc::new);
        let (hub, inputs) = Hub::new(Router::new(router), settings);
        let certs = server.certs().clone();
        let mut tasks = Vec::new();
        if let Some(client) = upstream_client {
            for url in upstreams {
                let d = discovery.clone().filter(|_| named(&url));
                tasks.push(link::spawn(hub.clone(), url, client.clone(), d));
            }
        }
        // Calls not yet taken by the node: a front-end that outruns it waits.
        let (local, calls) = tern_model::local::LocalApi::channel(256);
        tasks.push(local::spawn(hub.clone(), calls));
        let admission = server.admission_stats();
        let h = hub.clone();
        let mut server = server;
        let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let refuse = draining.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let incoming = server.accept().await;
                let Some(incoming) = incoming else { break };
                if refuse.load(std::sync::atomic::Ordering::Acquire) {
                    metrics::counter!(crate::metrics::SESSIONS_REFUSED, crate::metrics::REASON => crate::metrics::refused::DRAINING).increment(1);
                    incoming.session.close(
                        session::wire_code(tern_moq::message::codes::SessionError::NO_ERROR),
                        "relay draining",
                    );
                    continue;
                }
                tracing::debug!(peer = %incoming.remote, transport = ?incoming.transport, path = incoming.path(), "accepted");
                let url = incoming.url;
                tokio::spawn(peer::run_with(h.clone(), incoming.session, true, move |s| {
                    s.auth.set_url(url)
                }));
            }
        }));
        // Not among the tasks shutdown aborts: the sessions' ends still go through it, and it
        // stops by itself when the hub is dropped.
        tokio::spawn(dispatch::run(Arc::downgrade(&hub), inputs, move || {
            report_admission(&admission)
        }));
        Ok(Self {
            addr,
            fingerprint,
            hub,
            local,
            certs,
            tasks,
            draining,
            protocols,
            stream_admission,
        })
    }

    /// The MoQ protocols the node speaks (`moqt-22`, ...), most preferred first.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The node's local API: publish broadcasts into it and read its tracks from this process.
    pub fn local(&self) -> tern_model::local::LocalApi {
        self.local.clone()
    }

    /// Serve a MoQ session that reached this process another way than the relay's port (one
    /// side of an in-memory pair, [`tern_quic::Session::pair`]), exactly as a session the port
    /// accepted: the same driver, limits, plugin and routing. A session offered while the node
    /// drains is closed at once, as the port does.
    pub fn serve(&self, session: tern_quic::Session) {
        self.acceptor().serve(session, None);
    }

    /// A handle that serves sessions reaching this process another way than the relay's port
    /// (a WebSocket on the HTTP listener), from any task.
    pub fn acceptor(&self) -> Acceptor {
        Acceptor {
            hub: self.hub.clone(),
            draining: self.draining.clone(),
            protocols: self.protocols.clone(),
            admission: self.stream_admission.clone(),
        }
    }

    /// The certificate store's current fingerprint (changes when re-issued).
    pub fn current_fingerprint(&self) -> Fingerprint {
        self.certs.fingerprint()
    }

    /// Graceful shutdown: stop accepting, send GOAWAY (pointing at `next_uri`, empty for none)
    /// to every session, wait up to `drain` for them to leave, then close the rest with
    /// GOAWAY_TIMEOUT.
    pub async fn shutdown(self, next_uri: &str, drain: Duration) {
        // Stop taking sessions but keep the endpoint: the current ones get their drain time.
        self.draining
            .store(true, std::sync::atomic::Ordering::Release);
        let deadline = Instant::now() + drain;
        // A peer that grants no flow-control credit cannot hold the drain past its time.
        let _ = tokio::time::timeout(drain, self.hub.goaway_all(next_uri, drain)).await;
        while self.hub.session_count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for t in &self.tasks {
            t.abort();
        }
        self.hub.close_all(
            session::wire_code(tern_moq::message::codes::SessionError::GOAWAY_TIMEOUT),
            "relay shutting down (GOAWAY timeout)",
        );
    }
}

/// Copy the QUIC endpoint's refusal counts into the metrics.
fn report_admission(stats: &tern_quic::AdmissionStats) {
    use crate::metrics::{REASON, SESSIONS_REFUSED, refused};
    use std::sync::atomic::Ordering::Relaxed;
    for (reason, value) in [
        (refused::PER_IP, stats.refused_per_ip.load(Relaxed)),
        (refused::RATE, stats.refused_rate.load(Relaxed)),
        (refused::CAPACITY, stats.refused_capacity.load(Relaxed)),
        (refused::VERSION, stats.refused_version.load(Relaxed)),
        (refused::BAD_SETUP, stats.failed_handshakes.load(Relaxed)),
    ] {
        metrics::counter!(SESSIONS_REFUSED, REASON => reason).absolute(value);
    }
    metrics::counter!(crate::metrics::RETRIES).absolute(stats.retries.load(Relaxed));
}
