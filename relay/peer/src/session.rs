//! [`Session`]: connect, exchange SETUP, and run the tasks that accept the server's streams.
//!
//! Draft-18 shape: each peer opens one unidirectional control stream starting with SETUP; every
//! request is its own bidirectional stream (client Request IDs are even, from 0); objects arrive
//! on unidirectional subgroup streams keyed by Track Alias, or as datagrams.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot};
use url::Url;

use tern_moq::message::Setup;
use tern_moq::message::codes::SessionError as Code;
use tern_moq::session::{Event, Role, Session as Proto, StreamId, Transmit, Version};
use tern_moq::{FullTrackName, Limits, Location, Message};
use tern_quic::{ClientConfig, Fingerprint, SendStream, Transport, TransportLimits};

use super::Error;
use super::inbound::Feed;
use super::request::{RequestStream, SharedProto, WriteError};
use super::subscriber::Arrival;
use super::timeouts::Timeouts;
use super::track::TrackShared;

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
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// State shared by a session's tasks.
pub(crate) struct Shared {
    pub quic: tern_quic::Session,
    pub timeouts: Timeouts,
    /// The sans-IO protocol state: every byte from the server is fed through it, and every
    /// control message leaves as its transmits.
    proto: SharedProto,
    next_stream: AtomicU64,
    next_alias: AtomicU64,
    /// Track Alias (from SUBSCRIBE_OK) → the subscription's inbox.
    pub(super) subscriptions: Mutex<HashMap<u64, mpsc::Sender<Arrival>>>,
    /// Woken when an alias is registered (data can overtake SUBSCRIBE_OK's processing).
    pub alias_added: Notify,
    /// Tracks we answer SUBSCRIBEs for.
    tracks: Mutex<HashMap<FullTrackName, Arc<TrackShared>>>,
    /// SUBSCRIBEs we serve: Request ID → the track and the Joining Location (the Largest
    /// Object in our SUBSCRIBE_OK), for Joining FETCH.
    served: Mutex<HashMap<u64, Served>>,
    /// FETCHes we sent, waiting for their data stream.
    fetches: Mutex<HashMap<u64, oneshot::Sender<Inbound>>>,
    /// Our control stream; it must stay open for the session's life.
    control: Mutex<Option<SendStream>>,
    pub(super) setup_tx: Mutex<Option<oneshot::Sender<Setup>>>,
    pub going_away: AtomicBool,
    /// Subscriber writers still running, and a wake-up when one ends.
    active_sinks: AtomicUsize,
    sinks_changed: Notify,
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
        let (send, recv) = self.quic.open_bi().await?;
        let id = self.new_stream_id();
        let request =
            RequestStream::open(self.proto.clone(), id, send, self.timeouts.peer_stall, make)
                .await?;
        let inbound = Inbound::of(&request, recv);
        Ok((request, inbound))
    }

    /// Feed a datagram through the protocol session; its object, if it carries one.
    pub fn datagram(&self, datagram: Bytes) -> Option<tern_moq::data::ObjectDatagram> {
        let (result, events) = {
            let mut p = super::request::lock(&self.proto);
            let r = p.handle_datagram(datagram);
            (r, std::iter::from_fn(|| p.poll_event()).collect::<Vec<_>>())
        };
        if let Err(e) = result {
            self.violation(e.code, &e.reason);
            return None;
        }
        events.into_iter().find_map(|e| match e {
            Event::Datagram(d) => Some(d),
            _ => None,
        })
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

    /// Feed what arrived on a stream; a protocol violation closes the session (with the
    /// reason) and gives `None`.
    fn feed(
        &self,
        stream: StreamId,
        data: Bytes,
        fin: bool,
        reset: Option<u64>,
    ) -> Option<Vec<Event>> {
        let fed = {
            let mut p = super::request::lock(&self.proto);
            super::inbound::feed_proto(&mut p, stream, data, fin, reset)
        };
        match fed {
            Ok(events) => Some(events),
            Err(e) => {
                self.violation(e.code, &e.reason);
                None
            }
        }
    }
}

/// A MoQ session with a relay (or any draft-18 server). Cheap to clone; the background tasks
/// stop when the last clone is dropped or the session closes.
#[derive(Clone)]
pub struct Session {
    pub(crate) shared: Arc<Shared>,
    peer_setup: Arc<Setup>,
    _driver: Arc<AbortOnDrop>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("quic", &self.shared.quic)
            .finish()
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// PATH (path and query) and AUTHORITY (host:port) of a `moqt://` URL, for SETUP.
fn path_and_authority(url: &str) -> Option<(String, String)> {
    let u = Url::parse(url).ok()?;
    let mut path = u.path().to_owned();
    if path.is_empty() {
        path.push('/');
    }
    if let Some(q) = u.query() {
        path.push('?');
        path.push_str(q);
    }
    let host = match u.host()? {
        url::Host::Ipv6(ip) => format!("[{ip}]"),
        other => other.to_string(),
    };
    let authority = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    Some((path, authority))
}

impl Session {
    /// Connect to `url` (`https://` for WebTransport, `moqt://` for raw QUIC), send SETUP and
    /// wait for the server's.
    pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Self, Error> {
        let config = ClientConfig {
            disable_verify: opts.disable_verify,
            cert_hashes: opts.cert_hashes.clone(),
            connect_timeout: opts.connect_timeout,
            identity: opts.identity.clone(),
            transport: TransportLimits {
                idle_timeout: opts.idle_timeout,
                keep_alive: Some(opts.idle_timeout / 3),
                ..TransportLimits::default()
            },
            ..ClientConfig::default()
        };
        let quic = tern_quic::connect(url, &config).await?;
        let mut setup = Setup::default();
        setup.set_moqt_implementation(opts.implementation.clone());
        if quic.transport() == Transport::RawQuic
            && let Some((path, authority)) = path_and_authority(url)
        {
            setup.set_path(path);
            setup.set_authority(authority);
        }
        // A failure before the peer's SETUP is a setup failure, whatever layer reports it
        // (a server that refuses the client certificate does so after the client's handshake).
        let setup_failed = |e: &dyn std::fmt::Display| {
            Error::Setup(
                quic.close_reason()
                    .map_or_else(|| e.to_string(), |r| r.to_string()),
            )
        };
        let version = Version::from_alpn(quic.protocol()).unwrap_or(Version::Draft18);
        let proto: SharedProto =
            Arc::new(Mutex::new(Proto::new(version, Role::Client, opts.limits)));
        let mut control = quic.open_uni().await.map_err(|e| setup_failed(&e))?;
        // Stream names: 0 is our control stream; the others are named as they open.
        let transmits = {
            let mut p = super::request::lock(&proto);
            p.open_control(StreamId(0), setup)
                .map_err(|e| setup_failed(&e))?;
            std::iter::from_fn(|| p.poll_transmit()).collect::<Vec<_>>()
        };
        for t in transmits {
            if let Transmit::Write { data, .. } = t {
                control
                    .write_chunk(data)
                    .await
                    .map_err(|e| setup_failed(&e))?;
            }
        }
        let (setup_tx, setup_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            quic,
            timeouts: opts.timeouts,
            proto,
            next_stream: AtomicU64::new(1),
            next_alias: AtomicU64::new(1),
            subscriptions: Mutex::new(HashMap::new()),
            alias_added: Notify::new(),
            tracks: Mutex::new(HashMap::new()),
            served: Mutex::new(HashMap::new()),
            fetches: Mutex::new(HashMap::new()),
            control: Mutex::new(Some(control)),
            setup_tx: Mutex::new(Some(setup_tx)),
            going_away: AtomicBool::new(false),
            active_sinks: AtomicUsize::new(0),
            sinks_changed: Notify::new(),
        });
        let driver = AbortOnDrop(tokio::spawn(super::driver::drive(shared.clone())));
        let peer_setup = tokio::select! {
            r = tokio::time::timeout(opts.timeouts.setup, setup_rx) => match r {
                Ok(Ok(setup)) => setup,
                Ok(Err(_)) => {
                    let why = shared.quic.close_reason().map(|e| e.to_string());
                    return Err(Error::Setup(why.unwrap_or_else(|| "control stream failed".into())));
                }
                Err(_) => {
                    shared.quic.close(Code::PROTOCOL_VIOLATION.0 as u32, "no SETUP");
                    return Err(Error::Setup(format!("none within {:?}", opts.timeouts.setup)));
                }
            },
            e = shared.quic.closed() => return Err(Error::Session(e)),
        };
        tracing::debug!(peer = ?peer_setup.moqt_implementation(), "session set up");
        Ok(Self {
            shared,
            peer_setup: Arc::new(peer_setup),
            _driver: Arc::new(driver),
        })
    }

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
        self.shared.going_away.load(Ordering::Relaxed)
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
        lock(&self.shared.control).take();
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

#[cfg(test)]
mod tests {
    use super::path_and_authority;

    #[test]
    fn setup_path_and_authority_from_url() {
        assert_eq!(
            path_and_authority("moqt://relay.example:4443/live?token=x"),
            Some(("/live?token=x".into(), "relay.example:4443".into()))
        );
        assert_eq!(
            path_and_authority("moqt://[::1]:9"),
            Some(("/".into(), "[::1]:9".into()))
        );
    }
}
