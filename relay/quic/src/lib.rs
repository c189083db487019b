//! tern's QUIC layer: the only crate that touches sockets.
//!
//! - [`Server`] binds one UDP port and accepts MoQ sessions over raw QUIC (ALPN `moqt-18`)
//!   and WebTransport (ALPN `h3`, `WT-Available-Protocols: "moqt-18"`), dispatching on the
//!   negotiated ALPN. Admission: stateless Retry under load, a new-session rate and a session
//!   cap per source (an IPv4 address or an IPv6 /64), a cap on all sessions, refusal of
//!   clients offering no supported protocol.
//! - [`Client`] / [`connect`] open sessions to `https://` and `moqt://` URLs.
//! - [`websocket`]: MoQ sessions over QMux on a WebSocket (an HTTP listener's upgrade,
//!   `ws://` URLs), for browsers without working WebTransport.
//! - [`Session`], [`SendStream`], [`RecvStream`]: one API over every transport; application
//!   codes given to `close`/`reset`/`stop` reach a tern peer unchanged on either.
//! - [`Session::pair`] / [`Session::pair_with`] ([`MemLimits`]): two connected in-memory
//!   sessions with quinn's stream, flow-control, close and datagram semantics, for in-process
//!   peers and tests without a network.
//! - Mutual TLS: [`ServerConfig::client_roots`] asks clients for a certificate, and
//!   [`Session::peer_name`] names a peer whose certificate verified; [`cert::cluster_ca`] and
//!   [`cert::issue`] make a private CA and the certificates it signs.
//! - [`CertStore`]: PEM or self-signed ECDSA P-256 certificates (13 days, re-issued before
//!   expiry) with their SHA-256 [`Fingerprint`] for browsers' `serverCertificateHashes`.
//!
//! No MoQ message is parsed here: that is `tern-moq`'s job.

mod admission;
mod bucket;
pub mod cert;
mod client;
mod config;
mod error;
mod logbudget;
mod mem;
mod qmux_stream;
mod server;
mod session;
mod store;
mod stream;
mod verify;
pub mod websocket;

pub use admission::{AdmissionStats, SessionSlot, StreamAdmission, session_source};
pub use bucket::TokenBucket;
pub use cert::{CertError, Fingerprint, SelfSignedConfig};
pub use client::{Client, ConnectError, connect};
pub use config::{
    ALPN_H3, CertSource, ClientConfig, CongestionControl, Identity, MOQT_18, MOQT_PROTOCOLS,
    ServerConfig, TransportLimits,
};
pub use logbudget::LogBudget;
pub use mem::MemLimits;
pub use server::{IncomingSession, Server, ServerError};
pub use session::{DatagramError, Session, SessionError, Transport};
pub use store::{CertStore, CertTask};
pub use stream::{RecvStream, SendStream, StreamError};

/// Re-exported: QMux sessions over WebSocket ([`Session::web_socket`]).
pub use qmux;
/// Re-exported so callers can name quinn's statistics and config types.
pub use quinn;
