//! The errors of this crate's layers, in one place below the modules that return them: why a
//! connection attempt failed ([`ConnectError`]), why a session ended ([`SessionError`]), why a
//! datagram was not sent ([`DatagramError`]), why a stream operation failed ([`StreamError`]).

use std::net::SocketAddr;
use std::time::Duration;

use web_transport_quinn as wtq;

/// Why a connection attempt failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not `https://host[:port]/…` or `moqt://host[:port]/…`.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's message.
        reason: String,
    },
    /// No QUIC handshake completed in time: nothing listens there, a firewall drops UDP, or
    /// there is no route.
    #[error("{addr} unreachable: no QUIC handshake after {after:?}")]
    Unreachable {
        /// The address tried.
        addr: SocketAddr,
        /// How long we waited.
        after: Duration,
    },
    /// The server's certificate is not trusted (unknown issuer, expired, wrong name, hash not
    /// pinned) or TLS failed otherwise.
    #[error("TLS: {reason}")]
    Tls {
        /// rustls' or the peer's description.
        reason: String,
    },
    /// The server supports none of the offered MoQ protocols (ALPN, or HTTP 406 / no
    /// `WT-Protocol` on WebTransport).
    #[error("protocol refused: {reason}")]
    ProtocolRefused {
        /// What was offered and what came back.
        reason: String,
    },
    /// The server refused the session (connection limit, HTTP status other than 406).
    #[error("refused by server: {reason}")]
    Refused {
        /// The close code or HTTP status.
        reason: String,
    },
    /// The connection broke during setup.
    #[error("connection lost during setup: {reason}")]
    Lost {
        /// quinn's or the HTTP/3 layer's description.
        reason: String,
    },
    /// The local configuration is unusable (socket bind, root certificate files).
    #[error("client configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer closed the session with an application code (a MoQ termination code).
    #[error("closed by peer: code {code:#x}, reason {reason:?}")]
    Closed {
        /// The code given to the peer's `close`.
        code: u32,
        /// The reason phrase, lossily decoded as UTF-8.
        reason: String,
    },
    /// We closed it with [`Session::close`](crate::Session::close).
    #[error("closed locally")]
    LocallyClosed,
    /// No packet within the idle timeout.
    #[error("idle timeout")]
    TimedOut,
    /// The connection failed at the QUIC or HTTP/3 level.
    #[error("connection lost: {0}")]
    Lost(String),
}

impl From<wtq::SessionError> for SessionError {
    fn from(err: wtq::SessionError) -> Self {
        match err {
            wtq::SessionError::ConnectionError(e) => e.into(),
            wtq::SessionError::WebTransportError(wtq::WebTransportError::Closed(code, reason)) => {
                Self::Closed { code, reason }
            }
            wtq::SessionError::WebTransportError(e) => Self::Lost(e.to_string()),
            wtq::SessionError::SendDatagramError(quinn::SendDatagramError::ConnectionLost(e)) => {
                e.into()
            }
            wtq::SessionError::SendDatagramError(e) => Self::Lost(e.to_string()),
        }
    }
}

impl From<quinn::ConnectionError> for SessionError {
    fn from(err: quinn::ConnectionError) -> Self {
        use quinn::ConnectionError as E;
        match err {
            E::LocallyClosed => Self::LocallyClosed,
            E::TimedOut => Self::TimedOut,
            E::ApplicationClosed(close) => match u32::try_from(close.error_code.into_inner()) {
                Ok(code) => Self::Closed {
                    code,
                    reason: String::from_utf8_lossy(&close.reason).into_owned(),
                },
                Err(_) => Self::Lost(format!("application close {}", close.error_code)),
            },
            e => Self::Lost(e.to_string()),
        }
    }
}

/// Why a datagram was not sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramError {
    /// Larger than [`Session::max_datagram_size`](crate::Session::max_datagram_size).
    #[error("datagram larger than the path allows")]
    TooLarge,
    /// The peer did not enable datagrams, or we disabled them.
    #[error("datagrams not supported on this session")]
    Unsupported,
    /// The session is gone.
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<wtq::SessionError> for DatagramError {
    fn from(err: wtq::SessionError) -> Self {
        match err {
            wtq::SessionError::SendDatagramError(quinn::SendDatagramError::TooLarge) => {
                Self::TooLarge
            }
            wtq::SessionError::SendDatagramError(
                quinn::SendDatagramError::UnsupportedByPeer | quinn::SendDatagramError::Disabled,
            ) => Self::Unsupported,
            other => Self::Session(other.into()),
        }
    }
}

/// Why a stream operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The peer reset the stream with this code (read side).
    #[error("reset by peer: code {0:#x}")]
    Reset(u32),
    /// The peer asked us to stop sending with this code (write side).
    #[error("stopped by peer: code {0:#x}")]
    Stopped(u32),
    /// A reset or stop code outside the WebTransport application range.
    #[error("peer used an invalid stream code {0}")]
    InvalidCode(u64),
    /// The stream was already finished, reset or stopped locally.
    #[error("stream already closed")]
    Closed,
    /// [`RecvStream::read_to_end`](crate::RecvStream::read_to_end) met more bytes than its
    /// limit.
    #[error("stream longer than the limit")]
    TooLong,
    /// The whole session is gone.
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<wtq::WriteError> for StreamError {
    fn from(err: wtq::WriteError) -> Self {
        match err {
            wtq::WriteError::Stopped(code) => Self::Stopped(code),
            wtq::WriteError::InvalidStopped(code) => Self::InvalidCode(code.into_inner()),
            wtq::WriteError::SessionError(e) => Self::Session(e.into()),
            wtq::WriteError::ClosedStream => Self::Closed,
        }
    }
}

impl From<wtq::ReadError> for StreamError {
    fn from(err: wtq::ReadError) -> Self {
        match err {
            wtq::ReadError::Reset(code) => Self::Reset(code),
            wtq::ReadError::InvalidReset(code) => Self::InvalidCode(code.into_inner()),
            wtq::ReadError::SessionError(e) => Self::Session(e.into()),
            wtq::ReadError::ClosedStream | wtq::ReadError::IllegalOrderedRead => Self::Closed,
        }
    }
}
