//! Why a task of the node ended, with the blame: the transport, the peer, an upstream, or this
//! relay's own limits. Every task logs its error and ends alone; none of them stops the node.

use std::time::Duration;

/// Why a node task (a session, a request, an upstream link) ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The transport session ended.
    #[error(transparent)]
    Session(#[from] tern_quic::SessionError),
    /// The session's driver ended it (the transport closed, our SETUP could not go out, the
    /// peer broke the session's rules).
    #[error(transparent)]
    Driver(#[from] tern_peer::driver::DriveError),
    /// A stream failed (reset or stopped by the peer, or already closed).
    #[error(transparent)]
    Stream(#[from] tern_quic::StreamError),
    /// A control message could not be written on a request's stream.
    #[error(transparent)]
    Write(#[from] tern_peer::request::WriteError),
    /// The protocol session refused what we were about to send (a fault of ours).
    #[error(transparent)]
    Protocol(#[from] tern_moq::session::SessionError),
    /// A fetch stream could not be written.
    #[error(transparent)]
    FetchWrite(#[from] tern_peer::fetch_writer::FetchWriteError),
    /// An upstream's name did not resolve to a candidate.
    #[error(transparent)]
    Discovery(#[from] super::discovery::DiscoveryError),
    /// An object could not be encoded for a fetch stream.
    #[error(transparent)]
    Encode(#[from] tern_moq::EncodeError),
    /// The peer gave a stream or the session no credit for this long.
    #[error("the peer gave no credit to {what} for {after:?}")]
    Stalled {
        /// What was waiting.
        what: &'static str,
        /// How long.
        after: Duration,
    },
    /// A wait on the peer ran out.
    #[error("the peer did not answer in time")]
    Elapsed(#[from] tokio::time::error::Elapsed),
    /// The peer did something this relay does not take.
    #[error("{0}")]
    Peer(String),
    /// An upstream refused or failed a request of ours.
    #[error("{0}")]
    Upstream(String),
}

/// A result of a node task.
pub type Result<T, E = NodeError> = std::result::Result<T, E>;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The relay's port could not be bound (in use, no permission, bad certificate).
    #[error("cannot serve: {0}")]
    Serve(#[from] tern_quic::ServerError),
    /// The bound socket has no address.
    #[error("cannot read the bound address: {0}")]
    Address(#[from] std::io::Error),
    /// The client for upstream links could not be made (socket, root certificates).
    #[error("cannot link upstream: {0}")]
    Upstream(#[from] tern_quic::ConnectError),
    /// The resolver for upstreams given by name could not be made.
    #[error("cannot resolve upstreams: {0}")]
    Discovery(#[from] super::discovery::DiscoveryError),
}
