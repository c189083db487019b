//! [`Control`]: what one MoQ session knows about its control streams, the relay's and the
//! client's alike: our control stream (SETUP went out on it, GOAWAY goes there), the peer's
//! SETUP once it came, the peer's GOAWAY, and whether the peer finished its control stream
//! (it is leaving). The session's driver ([`crate::driver`]) fills it; request tasks read it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, watch};

use tern_moq::message::{GoAway, Setup};
use tern_quic::SendStream;

use crate::mux::Mux;
use crate::request::{SharedProto, WriteError, drain, lock, write_transmits};

/// A session's control-stream state (see the module documentation).
#[derive(Debug)]
pub struct Control {
    /// Our control stream, once SETUP was written on it.
    stream: Mutex<Option<SendStream>>,
    /// The peer's SETUP, once it came.
    peer_setup: watch::Sender<Option<Arc<Setup>>>,
    /// Notified when the peer finished its control stream.
    pub(crate) leaving: Notify,
    /// Set once we sent GOAWAY.
    sent_goaway: AtomicBool,
    /// The peer's GOAWAY, once it came: the URI it names (empty: none).
    peer_goaway: watch::Sender<Option<String>>,
    /// Drafts 14 and 16: the bidirectional control stream every request shares.
    mux: OnceLock<Arc<Mux>>,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            stream: Mutex::new(None),
            peer_setup: watch::Sender::new(None),
            leaving: Notify::new(),
            sent_goaway: AtomicBool::new(false),
            peer_goaway: watch::Sender::new(None),
            mux: OnceLock::new(),
        }
    }
}

impl Control {
    /// Keep our control stream (SETUP was written on it); it stays open for the session's life.
    pub(crate) fn set_stream(&self, stream: SendStream) {
        *self.stream.lock().unwrap_or_else(|e| e.into_inner()) = Some(stream);
    }

    /// Let go of our control stream (finishing it: the peer sees us leave).
    pub fn finish(&self) {
        self.stream.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mux) = self.mux.get() {
            mux.finish();
        }
    }

    /// Drafts 14 and 16: the control stream every request shares, once it is open.
    pub fn mux(&self) -> Option<Arc<Mux>> {
        self.mux.get().cloned()
    }

    pub(crate) fn set_mux(&self, mux: Arc<Mux>) {
        let _ = self.mux.set(mux);
    }

    /// The peer's SETUP, if it came.
    pub fn peer_setup(&self) -> Option<Arc<Setup>> {
        self.peer_setup.borrow().clone()
    }

    pub(crate) fn set_peer_setup(&self, setup: Setup) {
        self.peer_setup.send_replace(Some(Arc::new(setup)));
    }

    pub(crate) fn watch_peer_setup(&self) -> watch::Receiver<Option<Arc<Setup>>> {
        self.peer_setup.subscribe()
    }

    /// Wait (at most `limit`) until the peer's SETUP came; `None` when it did not.
    pub async fn wait_peer_setup(&self, limit: Duration) -> Option<Arc<Setup>> {
        let mut rx = self.peer_setup.subscribe();
        let got = tokio::time::timeout(limit, rx.wait_for(Option::is_some)).await;
        got.ok()?.ok()?.clone()
    }

    /// The peer's GOAWAY as it comes: the URI it names (empty: none).
    pub fn peer_goaway(&self) -> watch::Receiver<Option<String>> {
        self.peer_goaway.subscribe()
    }

    /// Whether the peer sent GOAWAY.
    pub fn peer_going_away(&self) -> bool {
        self.peer_goaway.borrow().is_some()
    }

    /// Record the peer's GOAWAY; false when one had come already.
    pub(crate) fn set_peer_goaway(&self, goaway: &GoAway) -> bool {
        let uri = String::from_utf8_lossy(&goaway.new_session_uri).into_owned();
        let mut first = false;
        self.peer_goaway.send_if_modified(|g| {
            first = g.is_none();
            if first {
                *g = Some(uri);
            }
            first
        });
        first
    }

    /// Whether we sent GOAWAY.
    pub fn going_away(&self) -> bool {
        self.sent_goaway.load(Ordering::SeqCst)
    }

    /// Send GOAWAY on our control stream through `proto`: the peer should move to `uri`
    /// (empty: this one) within `timeout`; requests from the next Request ID of the peer on
    /// are refused. Sent once: later calls do nothing. The write is given up after `stall`.
    pub async fn goaway(
        &self,
        proto: &SharedProto,
        uri: &str,
        timeout: Duration,
        stall: Duration,
    ) -> Result<(), WriteError> {
        if self.sent_goaway.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let transmits = {
            let mut p = lock(proto);
            let msg = GoAway {
                new_session_uri: Bytes::copy_from_slice(uri.as_bytes()),
                timeout: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                request_id: Some(p.next_peer_request_id()),
            };
            p.send_goaway(msg)?;
            let transmits = drain(&mut p);
            if let Some(mux) = self.mux.get() {
                return Ok(mux.enqueue(transmits)?);
            }
            transmits
        };
        // Taken out for the write (GOAWAY goes once) and put back: the stream stays open.
        let Some(mut stream) = self.stream.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(());
        };
        let written = write_transmits(&mut stream, transmits, "write GOAWAY", stall).await;
        self.set_stream(stream);
        written
    }
}
