//! Run a relay node from an operator's [`Config`]: the one place config becomes running parts.

use tern_quic::{CertSource, CongestionControl, SelfSignedConfig, ServerConfig, TransportLimits};

use crate::admin::{Admin, Readiness};
use crate::config::{ClusterPublish, Config, Congestion};
use crate::core::cache::CacheBudget;
use crate::core::fanout::LagPolicy;
use crate::core::router::{Publishers, RouterConfig, TakeOver};
use crate::node::budget::ReceiveLimits;
use crate::node::{Node, NodeSettings, UpstreamTls};

/// How long a publisher has to answer the relay's SUBSCRIBE.
const UPSTREAM_ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a data stream buffers beyond its largest object: the headers and the start of the next
/// object that arrive in the same read.
const STREAM_BUFFER_SLACK: usize = 256 * 1024;

/// The MoQ protocol tokens of `drafts` (validated), newest first.
pub fn protocols(drafts: &[u32]) -> Vec<String> {
    let mut versions: Vec<tern_moq::Version> = drafts
        .iter()
        .filter_map(|n| tern_moq::Version::from_number(*n))
        .collect();
    versions.sort_unstable_by(|a, b| b.cmp(a));
    versions.dedup();
    versions.iter().map(|v| v.alpn().to_owned()).collect()
}

/// QUIC server settings from the config.
pub fn server_config(c: &Config) -> ServerConfig {
    let cert = match (&c.relay.tls_cert, &c.relay.tls_key) {
        (Some(cert), Some(key)) => CertSource::Pem {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => CertSource::SelfSigned(SelfSignedConfig::default()),
    };
    let q = &c.quic;
    ServerConfig {
        bind: c.relay.bind,
        cert,
        transport: TransportLimits {
            stream_receive_window: q.stream_receive_window.min(u32::MAX as u64) as u32,
            receive_window: q.receive_window.min(u32::MAX as u64) as u32,
            send_window: q.send_window,
            max_concurrent_bidi_streams: q.max_concurrent_bidi_streams.min(u32::MAX as u64) as u32,
            max_concurrent_uni_streams: q.max_concurrent_uni_streams.min(u32::MAX as u64) as u32,
            idle_timeout: q.idle_timeout,
            keep_alive: Some(q.keep_alive),
            congestion: match q.congestion {
                Congestion::Bbr => CongestionControl::Bbr,
                Congestion::Cubic => CongestionControl::Cubic,
                Congestion::NewReno => CongestionControl::NewReno,
            },
            ..TransportLimits::default()
        },
        retry_threshold: c.limits.retry_above_handshakes as usize,
        max_sessions_per_ip: c.limits.max_sessions_per_ip as usize,
        new_sessions_per_ip: c.limits.new_sessions_per_ip,
        max_sessions: c.limits.max_sessions as usize,
        client_roots: c.cluster.ca.iter().cloned().collect(),
        protocols: protocols(&c.relay.drafts),
        ..ServerConfig::default()
    }
}

/// Driver settings from the config.
pub fn node_settings(c: &Config) -> (RouterConfig, NodeSettings) {
    let router = RouterConfig {
        relay_id: relay_id(&c.relay.name),
        max_depth: c.upstream.max_depth as usize,
        linger: c.upstream.linger,
        max_subscriptions_per_session: c.limits.max_subscriptions_per_session as usize,
        cluster: c.cluster.ca.as_ref().map(|_| match c.cluster.publish {
            ClusterPublish::Cluster => Publishers::Cluster,
            ClusterPublish::Any => Publishers::Any,
        }),
        open_publishing: c.relay.open_publishing,
        takeover: match c.relay.takeover {
            crate::config::TakeOverPolicy::Class => TakeOver::Class,
            crate::config::TakeOverPolicy::Newest => TakeOver::Newest,
            crate::config::TakeOverPolicy::First => TakeOver::First,
        },
        ..RouterConfig::default()
    };
    let settings = NodeSettings {
        cache: CacheBudget {
            max_bytes: c.cache.max_bytes as usize,
            max_age: c.cache.max_duration,
            max_group_bytes: c.cache.max_group_bytes as usize,
            max_live_per_session: c.cache.max_live_per_session as usize,
        },
        lag: LagPolicy {
            max_lag_groups: c.subscriber.max_lag_groups,
            max_pending_bytes: c.subscriber.max_queued_bytes,
            skip_window: c.subscriber.too_far_behind_after,
            ..LagPolicy::default()
        },
        limits: tern_moq::Limits {
            max_control_message: c.limits.max_control_message as usize,
            max_object_size: c.limits.max_object_size,
            // A stream holds one whole object plus what may follow it in the same read.
            max_stream_buffer: usize::try_from(c.limits.max_object_size)
                .unwrap_or(usize::MAX)
                .saturating_add(STREAM_BUFFER_SLACK),
            ..tern_moq::Limits::default()
        },
        receive: ReceiveLimits {
            per_session: usize::try_from(c.limits.receive_per_session).unwrap_or(usize::MAX),
            total: usize::try_from(c.limits.receive_total).unwrap_or(usize::MAX),
        },
        max_requests_per_session: c.limits.max_requests_per_session as usize,
        max_local_calls: crate::node::MAX_LOCAL_CALLS,
        max_namespace_fields: c.limits.max_namespace_fields as usize,
        upstreams: c.upstreams.iter().map(|u| u.to_string()).collect(),
        upstream_tls: UpstreamTls {
            disable_verify: c.upstream.disable_verify,
            cert_hashes: c
                .upstream
                .cert_hashes
                .iter()
                .filter_map(|h| tern_quic::Fingerprint::from_hex(h))
                .collect(),
            dns_servers: c
                .upstream
                .dns_servers
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect(),
            roots: c.cluster.ca.iter().cloned().collect(),
            identity: c
                .cluster
                .cert
                .clone()
                .zip(c.cluster.key.clone())
                .map(|(cert, key)| tern_quic::Identity { cert, key }),
        },
        link_idle_timeout: c.upstream.idle_timeout,
        upstream_answer_timeout: UPSTREAM_ANSWER_TIMEOUT,
        timeouts: tern_peer::Timeouts::default(),
        plugin: None,
    };
    (router, settings)
}

/// The relay's id in hop lists: its configured name, or a random one when the name was left at
/// the default (every relay of a tree must have its own).
fn relay_id(name: &str) -> bytes::Bytes {
    if name != crate::config::RelayConfig::default().name {
        return bytes::Bytes::copy_from_slice(name.as_bytes());
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    bytes::Bytes::from(format!("tern-{:016x}", h.finish()))
}

/// Why a relay could not start from its configuration: each names the key to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// `plugin.config_file` could not be read.
    #[error("plugin.config_file: cannot read {path}: {cause}")]
    PluginConfig {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// `plugin.file` could not be loaded (not found, not a component, failed to start).
    #[error("plugin.file: {0}")]
    Plugin(String),
    /// The node could not start (its port, the upstream client, the resolver).
    #[error(transparent)]
    Start(#[from] crate::node::StartError),
    /// The admin port could not start.
    #[error(transparent)]
    Admin(#[from] crate::admin::AdminError),
}

/// Start a relay node (and its admin port when enabled).
pub async fn start(c: &Config) -> Result<(Node, Readiness), RunError> {
    let (router, mut settings) = node_settings(c);
    settings.plugin = plugin_host(&c.plugin).await?;
    let node = Node::start(server_config(c), router, settings)?;
    log_publishing_policy(c);
    let readiness = Readiness::new();
    if c.admin.enabled {
        Admin::new(readiness.clone())?.serve(c.admin.bind).await?;
    }
    Ok((node, readiness))
}

/// Who may publish here, said once at start; loudly when anyone may.
fn log_publishing_policy(c: &Config) {
    let members = c.cluster.ca.is_some();
    if members && c.cluster.publish == ClusterPublish::Cluster {
        tracing::info!("publishers: cluster members only (cluster.publish = \"cluster\")");
    } else if c.plugin.file.is_some() {
        tracing::info!("publishers: those the plugin admits, each publish checked (plugin.file)");
    } else if c.relay.open_publishing {
        tracing::warn!(
            bind = %c.relay.bind,
            "OPEN PUBLISHING: relay.open_publishing = true and no [plugin]: anyone who reaches \
             this listener may publish, and take over any broadcast that is not a cluster \
             member's"
        );
    } else {
        tracing::info!(
            "publishers: {}this host only; relay.open_publishing = true takes anonymous \
             publishers from anywhere, a [plugin] admits them by token",
            if members { "cluster members and " } else { "" }
        );
    }
}

/// The edge plugin host when `[plugin] file` is set, compiled off the runtime's threads, with
/// its file watched for new versions; `None` (no engine, no threads) otherwise.
pub async fn plugin_host(
    c: &crate::config::PluginConfig,
) -> Result<Option<std::sync::Arc<tern_edge_wasm::PluginHost>>, RunError> {
    let Some(file) = &c.file else {
        return Ok(None);
    };
    let mut host = tern_edge_wasm::HostConfig::new(file);
    if let Some(path) = &c.config_file {
        host.config = std::fs::read_to_string(path).map_err(|cause| RunError::PluginConfig {
            path: path.clone(),
            cause,
        })?;
    }
    host.deadline = c.deadline;
    host.memory_bytes = usize::try_from(c.max_memory).unwrap_or(usize::MAX);
    host.workers = c.workers as usize;
    host.queue = c.queue as usize;
    host.reload_interval = (!c.reload_interval.is_zero()).then_some(c.reload_interval);
    host.record = c
        .record
        .clone()
        .map(|path| tern_edge_wasm::record::RecordTo {
            path,
            max_calls: c.record_max_calls,
        });
    let host = tokio::task::spawn_blocking(move || tern_edge_wasm::PluginHost::start(host))
        .await
        .map_err(|e| RunError::Plugin(format!("the plugin loader panicked: {e}")))?
        .map_err(|e| RunError::Plugin(e.to_string()))?;
    let host = std::sync::Arc::new(host);
    tokio::spawn(host.clone().watch());
    tracing::info!(file = %file.display(), "edge plugin loaded");
    Ok(Some(host))
}

/// Run until SIGINT/SIGTERM, then drain: `/health` turns not-ready, every session gets GOAWAY
/// naming `drain.goaway_uri`, and the process returns once they left or `drain.timeout` passed.
pub async fn run(c: Config) -> Result<(), RunError> {
    let (node, readiness) = start(&c).await?;
    println!(
        "tern relay listening on {} (raw QUIC and WebTransport: {})",
        node.addr,
        node.protocols().join(", ")
    );
    println!("certificate sha-256: {}", node.fingerprint.to_hex());
    shutdown_signal().await;
    readiness.drain();
    let (uri, timeout) = (&c.drain.goaway_uri, c.drain.timeout);
    tracing::info!(goaway_uri = %uri, "draining: GOAWAY sent, waiting up to {timeout:?}");
    node.shutdown(uri, timeout).await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    shutdown_listener().await;
}

/// Listen for SIGINT and SIGTERM from now on; the future resolves on the first. A signal that
/// arrives before any listener exists is lost (tokio's handler swallows it), so a binary
/// registers this before it says it is ready, not after its slower start-up steps.
pub fn shutdown_listener() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {}
                () = wait(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_draft_is_offered_newest_first_as_the_transport_names_them() {
        assert_eq!(
            super::protocols(&[18, 14, 22, 16, 20, 18]),
            tern_quic::MOQT_PROTOCOLS
        );
        assert_eq!(super::protocols(&[18]), ["moqt-18"]);
    }
}
