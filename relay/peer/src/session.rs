//! [`Session`]: the handle a client holds on one MoQ session with a relay (connected by
//! [`Session::connect`], `connect.rs`), and what it says about the session.
//!
//! Draft-18 shape: each peer opens one unidirectional control stream starting with SETUP; every
//! request is its own bidirectional stream (client Request IDs are even, from 0); objects arrive
//! on unidirectional subgroup streams keyed by Track Alias, or as datagrams.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tern_moq::Limits;
use tern_moq::message::Setup;
use tern_quic::{Fingerprint, Transport};

use super::Error;
use super::shared::Shared;
use super::timeouts::Timeouts;

/// How a client connects.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Accept any server certificate (local tests and self-signed relays only).
    pub disable_verify: bool,
    /// Accept exactly the certificates with these SHA-256 hashes.
    pub cert_hashes: Vec<Fingerprint>,
    /// Time allowed for resolution, the QUIC handshake and the WebTransport CONNECT.
    pub connect_timeout: Duration,
    /// Every wait on the server (its SETUP within `timeouts.setup`, a subscriber's writes,
    /// the end of a track, ...).
    pub timeouts: Timeouts,
    /// MOQT_IMPLEMENTATION sent in SETUP.
    pub implementation: String,
    /// Codec limits applied to the server's input.
    pub limits: Limits,
    /// Certificate shown to a server that asks for one (mutual TLS, e.g. a cluster's relay).
    pub identity: Option<tern_quic::Identity>,
    /// Silence after which the session counts as dead (keep-alives go every third of it).
    /// Default 3 s, as a relay's `upstream.idle_timeout`: a publisher whose relay was killed
    /// silently moves to another well within the relays' linger window (5 s), so viewers
    /// downstream keep their tracks.
    pub idle_timeout: Duration,
    /// MoQ protocols offered (`moqt-22`, ...), most preferred first. Default: every draft
    /// spoken, newest first.
    pub protocols: Vec<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            disable_verify: false,
            cert_hashes: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            timeouts: Timeouts::default(),
            implementation: concat!("tern/", env!("CARGO_PKG_VERSION")).to_owned(),
            limits: Limits::default(),
            identity: None,
            idle_timeout: Duration::from_secs(3),
            protocols: tern_moq::Version::ALL
                .iter()
                .map(|v| v.alpn().to_owned())
                .collect(),
        }
    }
}

/// A MoQ session with a relay (or any draft-18 server). Cheap to clone; the background tasks
/// stop when the last clone is dropped or the session closes.
#[derive(Clone)]
pub struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) peer_setup: Arc<Setup>,
    pub(crate) _driver: Arc<AbortOnDrop>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("quic", &self.shared.quic)
            .finish()
    }
}

/// Stops the session's background tasks when the last handle goes. On drafts 14 and 16
/// (`close`: the transport) it also closes the session, as dropping the last handle of a
/// draft-18 one does: the tasks reading requests of the shared control stream would hold the
/// connection until the relay's leave grace.
pub(crate) struct AbortOnDrop(
    pub(crate) tokio::task::JoinHandle<()>,
    pub(crate) Option<tern_quic::Session>,
);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
        if let Some(quic) = &self.1 {
            quic.close(0, "");
        }
    }
}

impl Session {
    /// The server's MOQT_IMPLEMENTATION, if it sent one.
    pub fn peer_implementation(&self) -> Option<String> {
        self.peer_setup
            .moqt_implementation()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// Raw QUIC or WebTransport.
    pub fn transport(&self) -> Transport {
        self.shared.quic.transport()
    }

    /// True once the server sent GOAWAY.
    pub fn going_away(&self) -> bool {
        self.shared.control.peer_going_away()
    }

    /// Wait (at most `timeout`) until every subscriber writer has ended: after
    /// [`TrackWriter::finish`](super::TrackWriter::finish), this is when closing loses nothing.
    pub async fn flush(&self, timeout: Duration) {
        let wait = async {
            loop {
                let changed = self.shared.sinks_changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if self.shared.active_sinks.load(Ordering::SeqCst) == 0 {
                    return;
                }
                changed.await;
            }
        };
        let _ = tokio::time::timeout(timeout, wait).await;
    }

    /// Close the session with `code` (0: NO_ERROR) and a reason.
    pub fn close(&self, code: u32, reason: &str) {
        self.shared.control.finish();
        self.shared.quic.close(code, reason);
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.quic.close_reason().is_some()
    }

    /// Wait until the session ends and say why.
    pub async fn closed(&self) -> Error {
        Error::Session(self.shared.quic.closed().await)
    }
}
