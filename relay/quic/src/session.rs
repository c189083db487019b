//! [`Session`]: one type for a raw QUIC connection, a WebTransport session and an in-memory
//! session.
//!
//! Both network shapes are carried by [`web_transport_quinn::Session`]: a raw connection
//! through `Session::raw` (codes pass as they are), WebTransport with its HTTP/3 framing
//! (codes are mapped into the HTTP/3 space and back). Either way a `u32` code given to
//! [`Session::close`], [`SendStream::reset`] or [`RecvStream::stop`] arrives unchanged
//! at a tern peer. In-memory sessions ([`Session::pair`], in `mem`) pass codes directly.

use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use web_transport_quinn as wtq;

pub use crate::error::{DatagramError, SessionError};
use crate::mem::{MemLimits, MemSession};
use crate::stream::{RecvStream, SendStream};

/// How a session reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// QUIC with the MoQ ALPN (`moqt://` URLs).
    RawQuic,
    /// WebTransport over HTTP/3 (`https://` URLs, browsers).
    WebTransport,
    /// An in-memory pair in this process ([`Session::pair`]).
    Memory,
    /// QMux over a WebSocket (browsers without working WebTransport, `ws://` URLs).
    WebSocket,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RawQuic => "quic",
            Self::WebTransport => "webtransport",
            Self::Memory => "memory",
            Self::WebSocket => "websocket",
        })
    }
}

/// An established MoQ session over raw QUIC, WebTransport or memory. Cheap to clone; every
/// clone refers to the same connection.
#[derive(Clone)]
pub struct Session {
    inner: Inner,
    transport: Transport,
    protocol: String,
    /// Released when the last clone drops: the server's per-IP admission slot.
    _slot: Option<Arc<dyn Any + Send + Sync>>,
}

/// What carries a session.
// Boxing the QUIC session would cost an allocation on every clone of the common variant.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Inner {
    Quic(wtq::Session),
    Mem(MemSession),
    Qmux(crate::qmux_stream::QmuxSession),
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("transport", &self.transport)
            .field("protocol", &self.protocol)
            .field("remote", &self.remote_address())
            .finish()
    }
}

impl Session {
    /// Wrap a raw QUIC connection whose negotiated ALPN was `protocol`.
    pub(crate) fn raw(conn: quinn::Connection, protocol: String) -> Self {
        Self {
            inner: Inner::Quic(wtq::Session::raw(conn)),
            transport: Transport::RawQuic,
            protocol,
            _slot: None,
        }
    }

    /// Wrap an established WebTransport session that negotiated `protocol`.
    pub(crate) fn web_transport(inner: wtq::Session, protocol: String) -> Self {
        Self {
            inner: Inner::Quic(inner),
            transport: Transport::WebTransport,
            protocol,
            _slot: None,
        }
    }

    /// Two connected in-memory sessions that negotiated `protocol`: the client side first,
    /// the server side second. See [`pair_with`](Self::pair_with) and [`MemLimits`].
    pub fn pair(protocol: &str) -> (Session, Session) {
        Self::pair_with(protocol, MemLimits::default())
    }

    /// Two connected in-memory sessions with the given limits: the client side first, the
    /// server side second. Their [`transport`](Self::transport) is [`Transport::Memory`].
    pub fn pair_with(protocol: &str, limits: MemLimits) -> (Session, Session) {
        let (client, server) = MemSession::new_pair(limits);
        (
            Session::memory(client, protocol.to_owned()),
            Session::memory(server, protocol.to_owned()),
        )
    }

    /// Wrap one side of an in-memory pair that negotiated `protocol`.
    fn memory(inner: MemSession, protocol: String) -> Self {
        Self {
            inner: Inner::Mem(inner),
            transport: Transport::Memory,
            protocol,
            _slot: None,
        }
    }

    /// Wrap a QMux session over a WebSocket from `remote` that negotiated `protocol`.
    pub fn web_socket(inner: qmux::Session, protocol: &str, remote: SocketAddr) -> Self {
        Self {
            inner: Inner::Qmux(crate::qmux_stream::QmuxSession::new(inner, remote)),
            transport: Transport::WebSocket,
            protocol: protocol.to_owned(),
            _slot: None,
        }
    }

    /// Keep `slot` alive as long as any clone of this session.
    pub(crate) fn hold(mut self, slot: Arc<dyn Any + Send + Sync>) -> Self {
        self._slot = Some(slot);
        self
    }

    /// Raw QUIC, WebTransport or memory.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The negotiated MoQ protocol, e.g. `"moqt-18"`.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// Open a bidirectional stream (waits while the peer's stream limit is reached).
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), SessionError> {
        match &self.inner {
            Inner::Quic(s) => {
                let (send, recv) = s.open_bi().await?;
                Ok((SendStream::new(send), RecvStream::new(recv)))
            }
            Inner::Mem(m) => {
                let (send, recv) = m.open_bi().await?;
                Ok((SendStream::mem(send), RecvStream::mem(recv)))
            }
            Inner::Qmux(q) => {
                let (send, recv) = q.open_bi().await?;
                Ok((SendStream::qmux(send), RecvStream::qmux(recv)))
            }
        }
    }

    /// Open a unidirectional stream (waits while the peer's stream limit is reached).
    pub async fn open_uni(&self) -> Result<SendStream, SessionError> {
        match &self.inner {
            Inner::Quic(s) => Ok(SendStream::new(s.open_uni().await?)),
            Inner::Mem(m) => Ok(SendStream::mem(m.open_uni().await?)),
            Inner::Qmux(q) => Ok(SendStream::qmux(q.open_uni().await?)),
        }
    }

    /// Wait for the peer's next bidirectional stream.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), SessionError> {
        match &self.inner {
            Inner::Quic(s) => {
                let (send, recv) = s.accept_bi().await?;
                Ok((SendStream::new(send), RecvStream::new(recv)))
            }
            Inner::Mem(m) => {
                let (send, recv) = m.accept_bi().await?;
                Ok((SendStream::mem(send), RecvStream::mem(recv)))
            }
            Inner::Qmux(q) => {
                let (send, recv) = q.accept_bi().await?;
                Ok((SendStream::qmux(send), RecvStream::qmux(recv)))
            }
        }
    }

    /// Wait for the peer's next unidirectional stream.
    pub async fn accept_uni(&self) -> Result<RecvStream, SessionError> {
        match &self.inner {
            Inner::Quic(s) => Ok(RecvStream::new(s.accept_uni().await?)),
            Inner::Mem(m) => Ok(RecvStream::mem(m.accept_uni().await?)),
            Inner::Qmux(q) => Ok(RecvStream::qmux(q.accept_uni().await?)),
        }
    }

    /// Send an unreliable datagram of at most [`max_datagram_size`](Self::max_datagram_size)
    /// bytes. When the send buffer is full the oldest queued datagram is dropped.
    pub fn send_datagram(&self, payload: Bytes) -> Result<(), DatagramError> {
        match &self.inner {
            Inner::Quic(s) => Ok(s.send_datagram(payload)?),
            Inner::Mem(m) => m.send_datagram(payload),
            Inner::Qmux(_) => Err(DatagramError::Unsupported),
        }
    }

    /// Wait for the next datagram from the peer.
    pub async fn read_datagram(&self) -> Result<Bytes, SessionError> {
        match &self.inner {
            Inner::Quic(s) => Ok(s.read_datagram().await?),
            Inner::Mem(m) => m.read_datagram().await,
            Inner::Qmux(q) => Err(q.closed().await),
        }
    }

    /// The largest payload [`send_datagram`](Self::send_datagram) accepts now; 0 when the peer
    /// does not accept datagrams. It follows the path MTU, so it can change.
    pub fn max_datagram_size(&self) -> usize {
        match &self.inner {
            Inner::Quic(s) => s.max_datagram_size(),
            Inner::Mem(m) => m.max_datagram_size(),
            Inner::Qmux(_) => 0,
        }
    }

    /// Close the session with an application (MoQ) code and a reason the peer sees.
    pub fn close(&self, code: u32, reason: &str) {
        match &self.inner {
            Inner::Quic(s) => s.close(code, reason.as_bytes()),
            Inner::Mem(m) => m.close(code, reason),
            Inner::Qmux(q) => q.close(code, reason),
        }
    }

    /// Wait until the session is closed, for whatever reason.
    pub async fn closed(&self) -> SessionError {
        match &self.inner {
            Inner::Quic(s) => s.closed().await.into(),
            Inner::Mem(m) => m.closed().await,
            Inner::Qmux(q) => q.closed().await,
        }
    }

    /// Why the session closed, or `None` while it is open.
    pub fn close_reason(&self) -> Option<SessionError> {
        match &self.inner {
            Inner::Quic(s) => s.close_reason().map(Into::into),
            Inner::Mem(m) => m.close_reason(),
            Inner::Qmux(q) => q.close_reason(),
        }
    }

    /// The peer's UDP address (it can change when the peer migrates). In memory, a loopback
    /// address with a made-up port.
    pub fn remote_address(&self) -> SocketAddr {
        match &self.inner {
            Inner::Quic(s) => s.remote_address(),
            Inner::Mem(m) => m.remote_address(),
            Inner::Qmux(q) => q.remote,
        }
    }

    /// The local address the peer's packets arrive at, where the platform reports it (Linux
    /// does); `None` otherwise.
    pub fn local_ip(&self) -> Option<std::net::IpAddr> {
        match &self.inner {
            Inner::Quic(s) => (**s).local_ip(),
            Inner::Mem(m) => m.local_ip(),
            Inner::Qmux(_) => None,
        }
    }

    /// Whether the peer is on this host: a loopback address, or the very address it sent to.
    pub fn peer_is_local(&self) -> bool {
        let remote = self.remote_address().ip().to_canonical();
        remote.is_loopback() || self.local_ip().is_some_and(|l| l.to_canonical() == remote)
    }

    /// The current smoothed round-trip time (zero in memory).
    pub fn rtt(&self) -> Duration {
        match &self.inner {
            Inner::Quic(s) => s.rtt(),
            Inner::Mem(_) => Duration::ZERO,
            Inner::Qmux(q) => q.rtt(),
        }
    }

    /// quinn's counters for this connection (packets, bytes, losses, congestion events); all
    /// zero in memory.
    pub fn stats(&self) -> quinn::ConnectionStats {
        match &self.inner {
            Inner::Quic(s) => (**s).stats(),
            Inner::Mem(_) | Inner::Qmux(_) => quinn::ConnectionStats::default(),
        }
    }

    /// The name (first DNS name, else common name) in the certificate the peer presented and
    /// TLS verified: a client's under [`ServerConfig::client_roots`](crate::ServerConfig), the
    /// server's for a client. `None` when the peer presented none. On the server side of an
    /// in-memory pair, [`MemLimits::client_name`].
    pub fn peer_name(&self) -> Option<String> {
        let s = match &self.inner {
            Inner::Quic(s) => s,
            Inner::Mem(m) => return m.peer_name(),
            Inner::Qmux(_) => return None,
        };
        let identity = (**s).peer_identity()?;
        let chain = identity
            .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
            .ok()?;
        crate::cert::peer_name(chain.first()?)
    }

    /// A number that identifies this connection among the endpoint's live connections.
    pub fn stable_id(&self) -> usize {
        match &self.inner {
            Inner::Quic(s) => s.stable_id(),
            Inner::Mem(m) => m.stable_id(),
            Inner::Qmux(q) => q.id,
        }
    }
}
