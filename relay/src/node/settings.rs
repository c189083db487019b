//! [`NodeSettings`]: what a relay node runs by (its budgets, limits, upstreams, timeouts and
//! edge plugin), from the operator's configuration (`src/run.rs`).

use std::sync::Arc;

use crate::core::cache::CacheBudget;
use crate::core::fanout::LagPolicy;

/// Relay node settings used by the driver.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Process-wide cache budget.
    pub cache: CacheBudget,
    /// Slow-subscriber policy.
    pub lag: LagPolicy,
    /// Codec limits for peers.
    pub limits: tern_moq::Limits,
    /// Bytes of partly received objects, per session and in all.
    pub receive: super::budget::ReceiveLimits,
    /// Requests one session may have open at once.
    pub max_requests_per_session: usize,
    /// Calls of the local API answered at once (each may wait on the plugin or an upstream);
    /// more wait in its bounded channel, and its callers with them.
    pub max_local_calls: usize,
    /// Fields a request's track namespace may have (the draft allows 32).
    pub max_namespace_fields: usize,
    /// Upstream relays to link to (URLs), each kept connected.
    pub upstreams: Vec<String>,
    /// How this relay trusts its upstreams' certificates.
    pub upstream_tls: UpstreamTls,
    /// Silence after which an upstream link counts as dead (`upstream.idle_timeout`).
    pub link_idle_timeout: std::time::Duration,
    /// Longest wait for a publisher's answer to the relay's SUBSCRIBE (the stream opened, the
    /// SUBSCRIBE written, SUBSCRIBE_OK or REQUEST_ERROR read). Past it the track moves to
    /// another upstream, or its subscribers are refused with TIMEOUT.
    pub upstream_answer_timeout: std::time::Duration,
    /// Every wait on a peer (SETUP, stalls, writes, the end of a track, ...), the same
    /// [`tern_peer::Timeouts`] a client uses.
    pub timeouts: tern_peer::Timeouts,
    /// The edge plugin that admits sessions and requests; `None`: everything is admitted.
    pub plugin: Option<Arc<tern_edge_wasm::PluginHost>>,
}

/// Trust in upstream certificates: the system roots unless pinned hashes are given.
#[derive(Debug, Clone, Default)]
pub struct UpstreamTls {
    /// Accept any certificate (tests and local trees only).
    pub disable_verify: bool,
    /// Accept exactly these certificates (SHA-256), as `--cert-hash` does for clients.
    pub cert_hashes: Vec<tern_quic::Fingerprint>,
    /// DNS servers for upstream names (empty: the system's configuration).
    pub dns_servers: Vec<std::net::SocketAddr>,
    /// PEM roots for upstream certificates (the cluster CA); when any is given, the system's
    /// roots are not trusted.
    pub roots: Vec<std::path::PathBuf>,
    /// The cluster certificate shown to upstreams that ask for one.
    pub identity: Option<tern_quic::Identity>,
}
