//! Plain-data configuration: transport limits, server and client settings.
//!
//! Every field has a documented default; binaries fill these structs from TOML, env and flags.
//! quinn's own defaults are never relied on: [`TransportLimits::to_quinn`] sets every window.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cert::Fingerprint;
use crate::cert::SelfSignedConfig;

/// The MoQ Transport draft-18 protocol identifier, used as the raw QUIC ALPN and in the
/// WebTransport `WT-Available-Protocols` / `WT-Protocol` headers.
pub const MOQT_18: &str = "moqt-18";

/// Every MoQ Transport protocol identifier spoken, newest draft (the most preferred) first.
/// Draft-14 is `moq-00` (all drafts before 15 shared it and chose the version in SETUP).
pub const MOQT_PROTOCOLS: &[&str] = &["moqt-22", "moqt-20", MOQT_18, "moqt-16", "moq-00"];

/// The HTTP/3 ALPN that carries WebTransport.
pub const ALPN_H3: &str = web_transport_quinn::ALPN;

/// The congestion controller a connection uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CongestionControl {
    /// BBR (quinn's experimental BBRv1): keeps queues short, suits live media. The default.
    #[default]
    Bbr,
    /// CUBIC, quinn's own default: loss-based, fills buffers.
    Cubic,
    /// NewReno, the RFC 9002 reference controller.
    NewReno,
}

/// Flow-control windows, stream limits, datagram buffers and timers of one QUIC connection.
///
/// Both the server and the client apply every field; nothing falls back to quinn's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TransportLimits {
    /// Bytes the peer may send on one stream before we read them. Default 1 MiB.
    pub stream_receive_window: u32,
    /// Bytes the peer may send on all streams together before we read them. Default 16 MiB
    /// (quinn's default is unlimited).
    pub receive_window: u32,
    /// Bytes we buffer for sending on all streams together. Default 16 MiB
    /// (quinn's default is 10 MB).
    pub send_window: u64,
    /// Bidirectional streams the peer may have open at once. Default 256.
    pub max_concurrent_bidi_streams: u32,
    /// Unidirectional streams the peer may have open at once (MoQ opens one per subgroup).
    /// Default 1024.
    pub max_concurrent_uni_streams: u32,
    /// Bytes of received datagrams buffered before the oldest are dropped; `0` disables
    /// datagrams. Default 1 MiB.
    pub datagram_receive_buffer_size: usize,
    /// Bytes of outgoing datagrams buffered before the oldest are dropped. Default 1 MiB.
    pub datagram_send_buffer_size: usize,
    /// Close the connection after this long without any packet. Default 10 s.
    pub idle_timeout: Duration,
    /// Send a PING after this long without sending; `None` disables it. Default 4 s, well
    /// under the idle timeout so a quiet subscriber stays connected.
    pub keep_alive: Option<Duration>,
    /// The congestion controller. Default [`CongestionControl::Bbr`].
    pub congestion: CongestionControl,
}

impl Default for TransportLimits {
    fn default() -> Self {
        Self {
            stream_receive_window: 1024 * 1024,
            receive_window: 16 * 1024 * 1024,
            send_window: 16 * 1024 * 1024,
            max_concurrent_bidi_streams: 256,
            max_concurrent_uni_streams: 1024,
            datagram_receive_buffer_size: 1024 * 1024,
            datagram_send_buffer_size: 1024 * 1024,
            idle_timeout: Duration::from_secs(10),
            keep_alive: Some(Duration::from_secs(4)),
            congestion: CongestionControl::Bbr,
        }
    }
}

impl TransportLimits {
    /// Build the quinn transport config, setting every field of this struct explicitly.
    ///
    /// An idle timeout beyond QUIC's 2^62 ms limit is clamped rather than refused.
    pub fn to_quinn(&self) -> quinn::TransportConfig {
        let mut t = quinn::TransportConfig::default();
        t.stream_receive_window(self.stream_receive_window.into())
            .receive_window(self.receive_window.into())
            .send_window(self.send_window)
            .max_concurrent_bidi_streams(self.max_concurrent_bidi_streams.into())
            .max_concurrent_uni_streams(self.max_concurrent_uni_streams.into())
            .datagram_receive_buffer_size(
                (self.datagram_receive_buffer_size > 0)
                    .then_some(self.datagram_receive_buffer_size),
            )
            .datagram_send_buffer_size(self.datagram_send_buffer_size)
            .max_idle_timeout(Some(
                quinn::IdleTimeout::try_from(self.idle_timeout)
                    .unwrap_or_else(|_| quinn::VarInt::MAX.into()),
            ))
            .keep_alive_interval(self.keep_alive);
        let cc: Arc<dyn quinn::congestion::ControllerFactory + Send + Sync> = match self.congestion
        {
            CongestionControl::Bbr => Arc::new(quinn::congestion::BbrConfig::default()),
            CongestionControl::Cubic => Arc::new(quinn::congestion::CubicConfig::default()),
            CongestionControl::NewReno => Arc::new(quinn::congestion::NewRenoConfig::default()),
        };
        t.congestion_controller_factory(cc);
        t
    }
}

/// Where the server's certificate comes from.
#[derive(Clone, Debug)]
pub enum CertSource {
    /// A PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    Pem {
        /// Path of the PEM certificate chain, leaf first.
        cert: PathBuf,
        /// Path of the PEM private key.
        key: PathBuf,
    },
    /// A generated ECDSA P-256 certificate, re-issued before it expires.
    SelfSigned(SelfSignedConfig),
}

/// Settings of a [`Server`](crate::Server).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// UDP address to bind. Default `[::]:443`.
    pub bind: SocketAddr,
    /// Certificate source. Default self-signed.
    pub cert: CertSource,
    /// MoQ protocols accepted, most preferred first; each is both a raw QUIC ALPN and a
    /// WebTransport protocol. Default `["moqt-18"]`.
    pub protocols: Vec<String>,
    /// Connection transport limits.
    pub transport: TransportLimits,
    /// Send a stateless Retry to unvalidated clients while at least this many handshakes are
    /// in flight. `0` retries every client. Default 64.
    pub retry_threshold: usize,
    /// Concurrent sessions (handshakes included) allowed from one source, an IPv4 address or
    /// an IPv6 /64 (see [`session_source`](crate::session_source)); extra ones are refused.
    /// Default 64.
    pub max_sessions_per_ip: usize,
    /// New sessions a second allowed from one source, in bursts of as many; faster ones are
    /// refused. Default 20.
    pub new_sessions_per_ip: u32,
    /// Concurrent sessions (handshakes included) in all; extra ones are refused. Default
    /// 10,000.
    pub max_sessions: usize,
    /// Time allowed for the QUIC handshake plus the WebTransport CONNECT. Default 10 s.
    pub handshake_timeout: Duration,
    /// Established sessions waiting for [`Server::accept`](crate::Server::accept); when full,
    /// handshakes wait. Default 64.
    pub accept_queue: usize,
    /// PEM files of the roots that sign client certificates (mutual TLS). When non-empty,
    /// clients are asked for a certificate: one that chains to these roots gives the session a
    /// [`peer_name`](crate::Session::peer_name), one that does not fails the handshake, and a
    /// client without one is still accepted (as an anonymous viewer or publisher). Default
    /// empty: no certificate is asked for.
    pub client_roots: Vec<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([0u16; 8], 443)),
            cert: CertSource::SelfSigned(SelfSignedConfig::default()),
            protocols: MOQT_PROTOCOLS.iter().map(|p| p.to_string()).collect(),
            transport: TransportLimits::default(),
            retry_threshold: 64,
            max_sessions_per_ip: 64,
            new_sessions_per_ip: 20,
            max_sessions: 10_000,
            handshake_timeout: Duration::from_secs(10),
            accept_queue: 64,
            client_roots: Vec::new(),
        }
    }
}

/// Settings of a [`Client`](crate::Client).
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Local UDP address to bind. Default `[::]:0` (falls back to `0.0.0.0:0` when IPv6 is
    /// unavailable).
    pub bind: SocketAddr,
    /// Accept any server certificate. For local tests only. Default `false`.
    pub disable_verify: bool,
    /// Accept exactly the certificates with these SHA-256 hashes, as browsers do with
    /// `serverCertificateHashes`; when non-empty, roots are not consulted. Default empty.
    pub cert_hashes: Vec<Fingerprint>,
    /// Extra PEM files of trusted root certificates, added to the system roots.
    pub roots: Vec<PathBuf>,
    /// Load the operating system's trusted roots. Default `true`.
    pub system_roots: bool,
    /// MoQ protocols offered, most preferred first. Default [`MOQT_PROTOCOLS`].
    pub protocols: Vec<String>,
    /// Time allowed for name resolution, the QUIC handshake and the WebTransport CONNECT.
    /// Default 10 s.
    pub connect_timeout: Duration,
    /// Connection transport limits.
    pub transport: TransportLimits,
    /// The certificate presented when a server asks for one (mutual TLS). Default none.
    pub identity: Option<Identity>,
}

/// A certificate chain and its private key, as PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([0u16; 8], 0)),
            disable_verify: false,
            cert_hashes: Vec::new(),
            roots: Vec::new(),
            system_roots: true,
            protocols: MOQT_PROTOCOLS.iter().map(|p| p.to_string()).collect(),
            connect_timeout: Duration::from_secs(10),
            transport: TransportLimits::default(),
            identity: None,
        }
    }
}
