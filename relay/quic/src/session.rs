//! [`Session`]: one type for a raw QUIC connection and a WebTransport session.
//!
//! Both shapes are carried by [`web_transport_quinn::Session`]: a raw connection through
//! `Session::raw` (codes pass as they are), WebTransport with its HTTP/3 framing (codes are
//! mapped into the HTTP/3 space and back). Either way a `u32` code given to
//! [`Session::close`], [`SendStream::reset`] or [`RecvStream::stop`] arrives unchanged
//! at a tern peer.

use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use web_transport_quinn as wtq;

pub use crate::error::{DatagramError, SessionError};
use crate::stream::{RecvStream, SendStream};

/// How a session reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// QUIC with the MoQ ALPN (`moqt://` URLs).
    RawQuic,
    /// WebTransport over HTTP/3 (`https://` URLs, browsers).
    WebTransport,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RawQuic => "quic",
            Self::WebTransport => "webtransport",
        })
    }
}

/// An established MoQ session over raw QUIC or WebTransport. Cheap to clone; every clone
/// refers to the same connection.
#[derive(Clone)]
pub struct Session {
    inner: wtq::Session,
    transport: Transport,
    protocol: String,
    /// Released when the last clone drops: the server's per-IP admission slot.
    _slot: Option<Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("transport", &self.transport)
            .field("protocol", &self.protocol)
            .field("remote", &self.inner.remote_address())
            .finish()
    }
}

impl Session {
    /// Wrap a raw QUIC connection whose negotiated ALPN was `protocol`.
    pub(crate) fn raw(conn: quinn::Connection, protocol: String) -> Self {
        Self {
            inner: wtq::Session::raw(conn),
            transport: Transport::RawQuic,
            protocol,
            _slot: None,
        }
    }

    /// Wrap an established WebTransport session that negotiated `protocol`.
    pub(crate) fn web_transport(inner: wtq::Session, protocol: String) -> Self {
        Self {
            inner,
            transport: Transport::WebTransport,
            protocol,
            _slot: None,
        }
    }

    /// Keep `slot` alive as long as any clone of this session.
    pub(crate) fn hold(mut self, slot: Arc<dyn Any + Send + Sync>) -> Self {
        self._slot = Some(slot);
        self
    }

    /// Raw QUIC or WebTransport.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The negotiated MoQ protocol, e.g. `"moqt-18"`.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// Open a bidirectional stream (waits while the peer's stream limit is reached).
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), SessionError> {
        let (send, recv) = self.inner.open_bi().await?;
        Ok((SendStream::new(send), RecvStream::new(recv)))
    }

    /// Open a unidirectional stream (waits while the peer's stream limit is reached).
    pub async fn open_uni(&self) -> Result<SendStream, SessionError> {
        Ok(SendStream::new(self.inner.open_uni().await?))
    }

    /// Wait for the peer's next bidirectional stream.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), SessionError> {
        let (send, recv) = self.inner.accept_bi().await?;
        Ok((SendStream::new(send), RecvStream::new(recv)))
    }

    /// Wait for the peer's next unidirectional stream.
    pub async fn accept_uni(&self) -> Result<RecvStream, SessionError> {
        Ok(RecvStream::new(self.inner.accept_uni().await?))
    }

    /// Send an unreliable datagram of at most [`max_datagram_size`](Self::max_datagram_size)
    /// bytes. When the send buffer is full the oldest queued datagram is dropped.
    pub fn send_datagram(&self, payload: Bytes) -> Result<(), DatagramError> {
        Ok(self.inner.send_datagram(payload)?)
    }

    /// Wait for the next datagram from the peer.
    pub async fn read_datagram(&self) -> Result<Bytes, SessionError> {
        Ok(self.inner.read_datagram().await?)
    }

    /// The largest payload [`send_datagram`](Self::send_datagram) accepts now; 0 when the peer
    /// does not accept datagrams. It follows the path MTU, so it can change.
    pub fn max_datagram_size(&self) -> usize {
        self.inner.max_datagram_size()
    }

    /// Close the session with an application (MoQ) code and a reason the peer sees.
    pub fn close(&self, code: u32, reason: &str) {
        self.inner.close(code, reason.as_bytes());
    }

    /// Wait until the session is closed, for whatever reason.
    pub async fn closed(&self) -> SessionError {
        self.inner.closed().await.into()
    }

    /// Why the session closed, or `None` while it is open.
    pub fn close_reason(&self) -> Option<SessionError> {
        self.inner.close_reason().map(Into::into)
    }

    /// The peer's UDP address (it can change when the peer migrates).
    pub fn remote_address(&self) -> SocketAddr {
        self.inner.remote_address()
    }

    /// The local address the peer's packets arrive at, where the platform reports it (Linux
    /// does); `None` otherwise.
    pub fn local_ip(&self) -> Option<std::net::IpAddr> {
        (*self.inner).local_ip()
    }

    /// Whether the peer is on this host: a loopback address, or the very address it sent to.
    pub fn peer_is_local(&self) -> bool {
        let remote = self.remote_address().ip().to_canonical();
        remote.is_loopback() || self.local_ip().is_some_and(|l| l.to_canonical() == remote)
    }

    /// The current smoothed round-trip time.
    pub fn rtt(&self) -> Duration {
        self.inner.rtt()
    }

    /// quinn's counters for this connection (packets, bytes, losses, congestion events).
    pub fn stats(&self) -> quinn::ConnectionStats {
        (*self.inner).stats()
    }

    /// The name (first DNS name, else common name) in the certificate the peer presented and
    /// TLS verified: a client's under [`ServerConfig::client_roots`](crate::ServerConfig), the
    /// server's for a client. `None` when the peer presented none.
    pub fn peer_name(&self) -> Option<String> {
        let identity = (*self.inner).peer_identity()?;
        let chain = identity
            .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
            .ok()?;
        crate::cert::peer_name(chain.first()?)
    }

    /// A number that identifies this connection among the endpoint's live connections.
    pub fn stable_id(&self) -> usize {
        self.inner.stable_id()
    }
}
