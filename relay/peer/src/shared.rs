//! What a client session's tasks share: the transport, the sans-IO protocol session every
//! stream is read and written through, the tracks it serves and the subscriptions and FETCHes
//! it waits for; and the request helpers every task uses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, mpsc, oneshot};

use tern_moq::message::codes::{RequestErrorCode, SessionError as Code};
use tern_moq::message::{RequestError, Setup};
use tern_moq::session::{Event, StreamId};
use tern_moq::{FullTrackName, Location, Message, ReasonPhrase};

use super::control::Control;
use super::inbound::Feed;
use super::request::{RequestStream, SharedProto, WriteError};
use super::timeouts::Timeouts;
use super::track::TrackShared;
use super::{Error, Object};

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the session's tasks tell a subscription.
#[derive(Debug)]
pub(crate) enum Arrival {
    Open {
        group: u64,
    },
    Object(Object),
    End {
        group: u64,
    },
    Datagram(Object),
    Done {
        result: Result<(), Error>,
        streams: Option<u64>,
    },
}

/// State shared by a session's tasks.
pub(crate) struct Shared {
    pub(crate) quic: tern_quic::Session,
    pub(crate) timeouts: Timeouts,
    /// The sans-IO protocol state: every byte from the server is fed through it, and every
    /// control message leaves as its transmits.
    pub(crate) proto: SharedProto,
    pub(crate) next_stream: AtomicU64,
    pub(crate) next_alias: AtomicU64,
    /// Track Alias (from SUBSCRIBE_OK) → the subscription's inbox.
    pub(crate) subscriptions: Mutex<HashMap<u64, mpsc::Sender<Arrival>>>,
    /// Woken when an alias is registered (data can overtake SUBSCRIBE_OK's processing).
    pub(crate) alias_added: Notify,
    /// Tracks we answer SUBSCRIBEs for.
    pub(crate) tracks: Mutex<HashMap<FullTrackName, Arc<TrackShared>>>,
    /// SUBSCRIBEs we serve: Request ID → the track and the Joining Location (the Largest
    /// Object in our SUBSCRIBE_OK), for Joining FETCH.
    pub(crate) served: Mutex<HashMap<u64, Served>>,
    /// FETCHes we sent, waiting for their data stream.
    pub(crate) fetches: Mutex<HashMap<u64, oneshot::Sender<Inbound>>>,
    /// Our SETUP until the driver sends it.
    pub(crate) our_setup: Mutex<Option<Setup>>,
    /// Our control stream, the server's SETUP and GOAWAY.
    pub(crate) control: Control,
    /// Subscriber writers still running, and a wake-up when one ends.
    pub(crate) active_sinks: AtomicUsize,
    pub(crate) sinks_changed: Notify,
}

/// A subscription we serve: its track and Joining Location.
pub(crate) type Served = (Arc<TrackShared>, Option<Location>);

/// Forgets a served subscription when dropped.
pub(crate) struct ServedGuard(Arc<Shared>, u64);

impl Drop for ServedGuard {
    fn drop(&mut self) {
        lock(&self.0.served).remove(&self.1);
    }
}

/// Counts a running subscriber writer for [`Session::flush`].
pub(crate) struct SinkGuard(Arc<Shared>);

impl Drop for SinkGuard {
    fn drop(&mut self) {
        self.0.active_sinks.fetch_sub(1, Ordering::SeqCst);
        self.0.sinks_changed.notify_waiters();
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("quic", &self.quic).finish()
    }
}

impl Shared {
    pub fn sink_started(self: &Arc<Self>) -> SinkGuard {
        self.active_sinks.fetch_add(1, Ordering::SeqCst);
        SinkGuard(self.clone())
    }

    /// Send a request of ours on a new bidirectional stream: the protocol session picks its
    /// Request ID (given to `make`). Returns the request's stream and the reader of its
    /// answers.
    pub async fn open_request(
        &self,
        make: impl FnOnce(u64) -> Message,
    ) -> Result<(RequestStream, Inbound), Error> {
        let stall = self.timeouts.peer_stall;
        Ok(super::ask::ask(self, &self.quic, stall, make).await?)
    }

    pub fn next_alias(&self) -> u64 {
        self.next_alias.fetch_add(1, Ordering::Relaxed)
    }

    pub fn add_subscription(&self, alias: u64, tx: mpsc::Sender<Arrival>) -> bool {
        let fresh = lock(&self.subscriptions).insert(alias, tx).is_none();
        self.alias_added.notify_waiters();
        fresh
    }

    pub fn remove_subscription(&self, alias: u64) {
        lock(&self.subscriptions).remove(&alias);
    }

    pub fn subscription(&self, alias: u64) -> Option<mpsc::Sender<Arrival>> {
        lock(&self.subscriptions).get(&alias).cloned()
    }

    pub fn add_track(&self, track: Arc<TrackShared>) {
        let key = FullTrackName::new(track.namespace.clone(), track.name.clone());
        lock(&self.tracks).insert(key, track);
    }

    pub fn track(&self, name: &FullTrackName) -> Option<Arc<TrackShared>> {
        lock(&self.tracks).get(name).cloned()
    }

    /// Record a SUBSCRIBE we serve until the guard is dropped.
    pub fn add_served(
        self: &Arc<Self>,
        request_id: u64,
        track: Arc<TrackShared>,
        joining: Option<Location>,
    ) -> ServedGuard {
        lock(&self.served).insert(request_id, (track, joining));
        ServedGuard(self.clone(), request_id)
    }

    /// The track and Joining Location of a SUBSCRIBE we serve.
    pub fn served(&self, request_id: u64) -> Option<Served> {
        lock(&self.served).get(&request_id).cloned()
    }

    /// Wait for the data stream of the FETCH `request_id` (sent next).
    pub fn expect_fetch(&self, request_id: u64, tx: oneshot::Sender<Inbound>) {
        lock(&self.fetches).insert(request_id, tx);
    }

    /// The waiter for a FETCH's data stream.
    pub fn take_fetch(&self, request_id: u64) -> Option<oneshot::Sender<Inbound>> {
        lock(&self.fetches).remove(&request_id)
    }

    /// Stop waiting for a FETCH's data stream.
    pub fn forget_fetch(&self, request_id: u64) {
        lock(&self.fetches).remove(&request_id);
    }

    /// Close the session because the peer broke the protocol.
    pub fn violation(&self, code: Code, reason: &str) {
        tracing::warn!(
            code = code.0,
            reason,
            "closing the session: protocol violation"
        );
        self.quic.close(code.0 as u32, reason);
    }
}

/// A stream from the server, read through the protocol session.
pub(crate) type Inbound = super::inbound::Inbound<()>;

impl Feed for Shared {
    type Hold = ();

    fn proto(&self) -> &SharedProto {
        &self.proto
    }

    fn new_stream_id(&self) -> StreamId {
        StreamId(self.next_stream.fetch_add(1, Ordering::Relaxed))
    }

    fn control(&self) -> &Control {
        &self.control
    }

    fn violated(&self, error: tern_moq::session::SessionError) {
        Shared::violation(self, error.code, &error.reason);
    }
}

/// A request stream whose first answer was REQUEST_OK: its writer and the reader of what
/// comes next on it.
pub(crate) type Accepted = (RequestStream, Inbound);

/// Send the request `make` builds (named `what` in errors) on a new stream and wait for
/// REQUEST_OK; a REQUEST_ERROR becomes [`Error::Refused`] (or [`Error::NotFound`]), anything
/// else closes the session as a protocol violation.
pub(crate) async fn request_ok(
    shared: &Arc<Shared>,
    make: impl FnOnce(u64) -> Message,
    what: &str,
) -> Result<Accepted, Error> {
    let (send, mut inbound) = shared.open_request(make).await?;
    match read_message(shared, &mut inbound).await? {
        Some(Message::RequestOk(_)) => Ok((send, inbound)),
        Some(Message::RequestError(e)) => Err(Error::from_request_error(&e)),
        Some(other) => {
            let why = format!("{} in answer to {what}", other.name());
            shared.violation(Code::PROTOCOL_VIOLATION, &why);
            Err(Error::Protocol(why))
        }
        None => Err(Error::Protocol(format!("{what} stream closed"))),
    }
}

/// The next message on a request stream; `Ok(None)` at a clean FIN. A reset is
/// [`Error::Stream`]; malformed input closes the session ([`Error::Protocol`]). Cancel-safe.
pub(crate) async fn read_message(
    shared: &Shared,
    inbound: &mut Inbound,
) -> Result<Option<Message>, Error> {
    loop {
        match inbound.next(shared).await {
            Some(Event::Request { message, .. } | Event::Message { message, .. }) => {
                return Ok(Some(message));
            }
            Some(Event::RequestClosed { reset: None, .. }) => return Ok(None),
            Some(Event::RequestClosed {
                reset: Some(code), ..
            }) => {
                let code = u32::try_from(code).unwrap_or(u32::MAX);
                return Err(Error::Stream(tern_quic::StreamError::Reset(code)));
            }
            Some(_) => {}
            None => {
                return Err(match shared.quic.close_reason() {
                    Some(e) => Error::Session(e),
                    None => Error::Protocol("request stream failed".into()),
                });
            }
        }
    }
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Stream(e) => Error::Stream(e),
            other => Error::Write(other.to_string()),
        }
    }
}

pub(crate) fn request_error(code: RequestErrorCode, reason: &str) -> RequestError {
    RequestError {
        error_code: code,
        retry_interval: 0,
        error_reason: ReasonPhrase::new(reason.to_owned()),
        redirect: None,
    }
}
