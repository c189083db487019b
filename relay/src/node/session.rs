//! One MoQ session on the relay: the thin driver between a QUIC/WebTransport session and the
//! sans-IO pieces (codec readers, router, track cache).
//!
//! Streams of the session: each peer's unidirectional control stream (SETUP, GOAWAY), one
//! bidirectional stream per request (see [`super::request`]), unidirectional data streams
//! (see [`super::ingest`]) and datagrams.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use tern_moq::Message;
use tern_moq::message::codes::SessionError as Code;
use tern_moq::session::{Event, Role, Session as Proto, StreamId, Version};
use tern_peer::request::{Reply, RequestStream, SharedProto};
use tern_quic::Session;

use crate::core::hops;
use crate::core::router::{SessionId, TrackId};
use crate::metrics as m;

use tern_model::TrackProducer;

/// Log lines about objects refused for the receive budget: at most 20 per 10 s.
static BUDGET_LOG: tern_quic::LogBudget = tern_quic::LogBudget::new(20, Duration::from_secs(10));

/// Log lines about peers closed for a violation: at most 20 per 10 s.
static VIOLATION_LOG: tern_quic::LogBudget = tern_quic::LogBudget::new(20, Duration::from_secs(10));

/// MOQT_IMPLEMENTATION of the clients that read LARGEST_OBJECT with a length before it
/// (moq-dev's @moq/net up to 0.3.4; fixed upstream after it, moq-dev/moq#3561).
const MISREADS_LARGEST_OBJECT: &[u8] = b"moq-lite-js";

/// An established downstream subscription: its track and Joining Location.
pub type Joined = (TrackProducer, Option<crate::core::types::Location>);

/// Per-session state shared by its tasks.
pub struct SessionShared {
    /// Relay-wide ID.
    pub id: SessionId,
    /// Every wait on this peer (the node's [`NodeSettings::timeouts`](super::settings::NodeSettings)).
    pub timeouts: tern_peer::Timeouts,
    /// The transport session.
    pub session: Session,
    /// The sans-IO protocol state: every inbound byte passes through it, and every control
    /// message leaves as its transmits (see [`tern_peer::request`]).
    proto: SharedProto,
    /// Next driver-side stream name.
    next_stream: AtomicU64,
    /// Track aliases the peer publishes on (from PUBLISH or our SUBSCRIBE_OK), to tracks.
    aliases: Mutex<HashMap<u64, TrackProducer>>,
    /// Woken when an alias is registered (data can race ahead of the control message).
    pub alias_added: Notify,
    /// Aliases registered before their data may land (see [`SessionShared::add_alias_held`]).
    held: Mutex<HashMap<u64, watch::Receiver<bool>>>,
    /// Upstream subscriptions this session serves for us: track → cancel.
    upstream: Mutex<HashMap<TrackId, oneshot::Sender<()>>>,
    /// Namespaces we announced to the peer (an upstream relay): namespace → withdraw.
    announced: Mutex<HashMap<crate::core::types::Namespace, oneshot::Sender<()>>>,
    /// Our next Track Alias for tracks we send to the peer.
    next_alias: AtomicU64,
    /// Our control stream, the peer's SETUP and GOAWAY, and whether it is leaving (filled by
    /// the session's driver, [`tern_peer::driver`]).
    pub control: tern_peer::Control,
    /// Established downstream subscriptions: Request ID → track and Joining Location (the
    /// Largest Object sent in SUBSCRIBE_OK), for Joining FETCH.
    subscriptions: Mutex<HashMap<u64, Joined>>,
    /// FETCHes we sent this peer, waiting for their data stream: Request ID → its events.
    fetches: Mutex<HashMap<u64, mpsc::Sender<Event>>>,
    /// The hop-list extension was exchanged: the peer is a tern relay (or a tern client we
    /// told we are one) and hop lists may travel in both directions.
    hops: AtomicBool,
    /// The peer's relay id, from its SETUP (our upstreams).
    peer_relay: Mutex<Option<Bytes>>,
    /// The edge plugin's decision on this session (see [`super::plugin`]).
    pub auth: super::auth::SessionAuth,
    /// The timer that ends the session when its token expires (see [`super::plugin`]),
    /// stopped with the session.
    expiry: Mutex<Option<tokio::task::AbortHandle>>,
    /// The peer proved membership of this relay's cluster (mutual TLS): the edge plugin does
    /// not judge it, it judged its own viewers.
    member: AtomicBool,
    /// The relay's receive budget, and this session's share of it.
    receive_budget: Arc<super::budget::ReceiveBudget>,
    receive: Arc<super::budget::SessionReserve>,
    /// The budgets this session's newest groups are charged to: the relay's, then the
    /// session's own share (not applied to a cluster member).
    live: [Arc<crate::core::cache::LiveBudget>; 2],
    /// The peer's requests whose task still runs, of every kind (a FETCH until its data stream
    /// is written, a TRACK_STATUS until answered): see [`SessionShared::request_slot`].
    open_requests: AtomicUsize,
    /// Downstream requests (FETCH, TRACK_STATUS) forwarded to this peer as our upstream: at
    /// most [`FORWARDS_PER_UPSTREAM`] at once, so that viewers' FETCHes never use up the
    /// stream credit the relay's own SUBSCRIBEs and backfills need.
    forwards: tokio::sync::Semaphore,
    /// The peer's FETCHes being served: at most [`FETCHES_PER_SESSION`] at once, so that what
    /// stalled ones hold (each the object it is writing) stays bounded per session.
    fetches_served: tokio::sync::Semaphore,
}

/// FETCHes of one peer served at once; more wait (up to the session's `timeouts.peer_stall`) for a place.
pub const FETCHES_PER_SESSION: usize = 8;

/// Downstream FETCHes and TRACK_STATUS requests forwarded to one upstream session at once.
pub const FORWARDS_PER_UPSTREAM: usize = 16;

/// One of the peer's requests, counted against the session's request limit until dropped.
#[derive(Debug)]
pub struct RequestSlot(Arc<SessionShared>);

/// A session termination code as a QUIC/WebTransport close code.
pub fn wire_code(code: Code) -> u32 {
    u32::try_from(code.0).unwrap_or(u32::MAX)
}

impl Drop for RequestSlot {
    fn drop(&mut self) {
        self.0.open_requests.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for SessionShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionShared")
            .field("id", &self.id)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SessionShared {
    /// State for a new session; `server` picks the Request ID parity. The codec's limits, the
    /// session's share of the live budget and its timeouts come from `settings`.
    pub fn new(
        id: SessionId,
        session: Session,
        server: bool,
        settings: &super::settings::NodeSettings,
        receive_budget: Arc<super::budget::ReceiveBudget>,
        live: Arc<crate::core::cache::LiveBudget>,
    ) -> Arc<Self> {
        let (limits, live_share) = (settings.limits, settings.cache.max_live_per_session);
        let timeouts = settings.timeouts;
        let role = if server { Role::Server } else { Role::Client };
        let version = Version::from_alpn(session.protocol()).unwrap_or(Version::Draft18);
        Arc::new(Self {
            id,
            timeouts,
            session,
            proto: Arc::new(Mutex::new(Proto::new(version, role, limits))),
            next_stream: AtomicU64::new(0),
            aliases: Mutex::new(HashMap::new()),
            alias_added: Notify::new(),
            held: Mutex::new(HashMap::new()),
            upstream: Mutex::new(HashMap::new()),
            announced: Mutex::new(HashMap::new()),
            next_alias: AtomicU64::new(1),
            control: tern_peer::Control::default(),
            subscriptions: Mutex::new(HashMap::new()),
            fetches: Mutex::new(HashMap::new()),
            hops: AtomicBool::new(false),
            peer_relay: Mutex::new(None),
            auth: super::auth::SessionAuth::new(timeouts.admission),
            expiry: Mutex::new(None),
            member: AtomicBool::new(false),
            receive_budget,
            receive: Arc::default(),
            live: [
                live,
                Arc::new(crate::core::cache::LiveBudget::new(live_share)),
            ],
            open_requests: AtomicUsize::new(0),
            forwards: tokio::sync::Semaphore::new(FORWARDS_PER_UPSTREAM),
            fetches_served: tokio::sync::Semaphore::new(FETCHES_PER_SESSION),
        })
    }

    /// `op` (an `open_*` or a write that waits on the peer's credit), given up after the
    /// session's `timeouts.peer_stall`; `what` names it in the error.
    pub async fn bounded<T, E>(
        &self,
        what: &'static str,
        op: impl std::future::Future<Output = Result<T, E>>,
    ) -> super::error::Result<T>
    where
        E: Into<super::error::NodeError>,
    {
        let after = self.timeouts.peer_stall;
        match tokio::time::timeout(after, op).await {
            Ok(r) => r.map_err(Into::into),
            Err(_) => Err(super::error::NodeError::Stalled { what, after }),
        }
    }

    /// A place to serve one more of the peer's FETCHes, held until its data stream ends;
    /// `None` when all [`FETCHES_PER_SESSION`] stayed taken for the session's `timeouts.peer_stall`.
    pub async fn fetch_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        tokio::time::timeout(self.timeouts.peer_stall, self.fetches_served.acquire())
            .await
            .ok()?
            .ok()
    }

    /// A place for one more downstream request forwarded to this upstream, held until the
    /// forwarding ends; `None` when all [`FORWARDS_PER_UPSTREAM`] stayed taken for
    /// the session's `timeouts.forward_wait`.
    pub async fn forward_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        tokio::time::timeout(self.timeouts.forward_wait, self.forwards.acquire())
            .await
            .ok()?
            .ok()
    }

    /// The live budgets an object this peer publishes is charged to: a member's objects only
    /// to the relay's, anyone else's to its own share too.
    pub fn live_budgets(&self) -> &[Arc<crate::core::cache::LiveBudget>] {
        if self.is_member() {
            &self.live[..1]
        } else {
            &self.live[..]
        }
    }

    /// A place for one more of the peer's requests, held by its task until it ends; `None`
    /// when `max` are open (the request is refused with EXCESSIVE_LOAD). Every kind counts,
    /// FETCH and TRACK_STATUS included, so no request escapes the limit.
    pub fn request_slot(self: &Arc<Self>, max: usize) -> Option<RequestSlot> {
        self.open_requests
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(RequestSlot(self.clone()))
    }

    /// Wait (at most `limit`) until the peer's SETUP arrived; false when it did not.
    pub async fn wait_peer_setup(&self, limit: Duration) -> bool {
        self.control.wait_peer_setup(limit).await.is_some()
    }

    /// Whether the peer is a member of this relay's cluster (see [`crate::core::router`]).
    pub fn is_member(&self) -> bool {
        self.member.load(Ordering::SeqCst)
    }

    /// Whether hop lists travel on this session (see [`crate::core::hops`]).
    pub fn hops_negotiated(&self) -> bool {
        self.hops.load(Ordering::SeqCst)
    }

    /// Whether LARGEST_OBJECT may go in this peer's SUBSCRIBE_OK, REQUEST_OK and PUBLISH.
    /// Draft-18 makes it a bare Location (two varints) and requires it once objects exist;
    /// moq-dev's browser client up to @moq/net 0.3.4 (MOQT_IMPLEMENTATION `moq-lite-js`) reads
    /// a length before it and fails the whole subscription ("unexpected end of stream"). For
    /// that peer alone the parameter is left out: it then joins at the next object it sees.
    pub fn sends_largest_object(&self) -> bool {
        !self
            .control
            .peer_setup()
            .as_ref()
            .and_then(|p| p.moqt_implementation())
            .is_some_and(|i| i.starts_with(MISREADS_LARGEST_OBJECT))
    }

    /// The peer's relay id, when it is a tern relay that said so in its SETUP.
    pub fn peer_relay(&self) -> Option<Bytes> {
        lock(&self.peer_relay).clone()
    }

    /// The peer proved membership of this relay's cluster (mutual TLS).
    pub fn set_member(&self) {
        self.member.store(true, Ordering::SeqCst);
    }

    /// The session's protocol state, shared with its streams' readers and writers.
    pub fn shared_proto(&self) -> &SharedProto {
        &self.proto
    }

    /// Our upstream is a tern relay with this id: hop lists travel on the session.
    pub fn set_peer_relay(&self, id: Bytes) {
        *lock(&self.peer_relay) = Some(id);
        self.negotiate_hops();
    }

    /// The timer that ends the session when its token expires.
    pub fn set_expiry(&self, timer: tokio::task::AbortHandle) {
        if let Some(old) = lock(&self.expiry).replace(timer) {
            old.abort();
        }
    }

    /// Stop the token-expiry timer (the session ended).
    pub fn stop_expiry(&self) {
        if let Some(timer) = lock(&self.expiry).take() {
            timer.abort();
        }
    }

    /// Offer and accept hop lists on this session.
    pub fn negotiate_hops(&self) {
        self.proto(|p| p.allow_parameter(hops::TERN_HOPS));
        self.hops.store(true, Ordering::SeqCst);
    }

    /// A new driver-side name for a stream.
    pub fn new_stream_id(&self) -> StreamId {
        StreamId(self.next_stream.fetch_add(1, Ordering::Relaxed))
    }

    /// Run `f` on the protocol state.
    pub fn proto<R>(&self, f: impl FnOnce(&mut Proto) -> R) -> R {
        f(&mut lock(&self.proto))
    }

    /// Send a request of ours ([`tern_peer::ask`]): the protocol session picks its Request ID
    /// (given to `make`), learns the request and writes it. Returns the request's writer and
    /// the reader of its answers.
    pub async fn request(
        &self,
        make: impl FnOnce(u64) -> Message,
    ) -> Result<(RequestStream, Inbound), tern_peer::request::WriteError> {
        tern_peer::ask::ask(self, &self.session, self.timeouts.peer_stall, make).await
    }

    /// Refuse the peer's request on `inbound` before reading it (`message`, then FIN), through
    /// the protocol session.
    pub async fn refuse_unread(&self, inbound: &Inbound, reply: Reply, message: Message) {
        let stall = self.timeouts.peer_stall;
        let _ = reply
            .refuse_unread(&self.proto, inbound.id, message, stall)
            .await;
    }

    /// Send GOAWAY on our control stream: the peer should move to `uri` (empty: this one)
    /// within `timeout`; requests from the included Request ID on are refused.
    pub async fn goaway(&self, uri: &str, timeout: Duration) {
        let stall = self.timeouts.peer_stall;
        if let Err(e) = self.control.goaway(&self.proto, uri, timeout, stall).await {
            tracing::debug!(session = self.id, "GOAWAY not sent: {e}");
        }
    }

    /// Allocate a Track Alias for a track we send.
    pub fn next_alias(&self) -> u64 {
        self.next_alias.fetch_add(1, Ordering::Relaxed)
    }

    /// Map an alias the peer will send on to a track.
    pub fn add_alias(&self, alias: u64, track: TrackProducer) -> bool {
        let fresh = lock(&self.aliases).insert(alias, track).is_none();
        self.alias_added.notify_waiters();
        fresh
    }

    /// [`SessionShared::add_alias`], with the alias's data held until the returned
    /// [`AliasHold`] is dropped: a new upstream's alias is known from its SUBSCRIBE_OK on, so its
    /// data streams are not refused while the gap before them is backfilled, yet they land only
    /// after it. What is held stays unread in the streams, bounded by QUIC flow control.
    /// `None` when the alias is already in use.
    pub fn add_alias_held(&self, alias: u64, track: TrackProducer) -> Option<AliasHold> {
        let (tx, rx) = watch::channel(false);
        lock(&self.held).insert(alias, rx);
        if !self.add_alias(alias, track) {
            lock(&self.held).remove(&alias);
            return None;
        }
        Some(AliasHold { _released: tx })
    }

    /// Wait until the alias's data may land (see [`SessionShared::add_alias_held`]), at most
    /// the session's `timeouts.peer_stall`. Returns false if it is still held then.
    pub async fn alias_released(&self, alias: u64) -> bool {
        let Some(mut rx) = lock(&self.held).get(&alias).cloned() else {
            return true;
        };
        // The hold's sender dropped: released.
        tokio::time::timeout(self.timeouts.peer_stall, rx.wait_for(|released| *released))
            .await
            .is_ok()
    }

    /// Whether the alias's data is held (see [`SessionShared::add_alias_held`]).
    pub fn alias_held(&self, alias: u64) -> bool {
        lock(&self.held)
            .get(&alias)
            .is_some_and(|rx| !*rx.borrow() && rx.has_changed().is_ok())
    }

    /// Forget an alias.
    pub fn remove_alias(&self, alias: u64) {
        lock(&self.aliases).remove(&alias);
        lock(&self.held).remove(&alias);
    }

    /// Track for an alias.
    pub fn alias(&self, alias: u64) -> Option<TrackProducer> {
        lock(&self.aliases).get(&alias).cloned()
    }

    /// Remember how to cancel an upstream subscription.
    pub fn add_upstream(&self, track: TrackId, cancel: oneshot::Sender<()>) {
        lock(&self.upstream).insert(track, cancel);
    }

    /// Cancel an upstream subscription (its task sends STOP_SENDING / FIN).
    pub fn cancel_upstream(&self, track: TrackId) {
        if let Some(c) = lock(&self.upstream).remove(&track) {
            let _ = c.send(());
        }
    }

    /// Remember how to withdraw an announcement we made to the peer.
    pub fn add_announced(
        &self,
        namespace: crate::core::types::Namespace,
        withdraw: oneshot::Sender<()>,
    ) {
        lock(&self.announced).insert(namespace, withdraw);
    }

    /// Withdraw an announcement (its task closes the PUBLISH_NAMESPACE stream).
    pub fn withdraw(&self, namespace: &crate::core::types::Namespace) {
        if let Some(w) = lock(&self.announced).remove(namespace) {
            let _ = w.send(());
        }
    }

    /// Close the session for a protocol error, with a log line naming the reason.
    pub fn violation(&self, code: Code, reason: &str) {
        if let Some(suppressed) = VIOLATION_LOG.allow(std::time::Instant::now()) {
            tracing::warn!(
                session = self.id,
                code = code.0,
                reason,
                suppressed,
                "closing session"
            );
        }
        metrics::counter!(m::PROTOCOL_VIOLATIONS).increment(1);
        self.session.close(code.0 as u32, reason);
    }

    /// Expect the data stream of a FETCH we send with Request ID `request`.
    pub fn expect_fetch(&self, request: u64) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel(64);
        lock(&self.fetches).insert(request, tx);
        rx
    }

    /// Where the events of the fetch stream for `request` go, if we asked for it.
    pub fn fetch_sink(&self, request: u64) -> Option<mpsc::Sender<Event>> {
        lock(&self.fetches).remove(&request)
    }

    /// Forget a FETCH we sent.
    pub fn forget_fetch(&self, request: u64) {
        lock(&self.fetches).remove(&request);
    }

    /// Record an established subscription (for Joining FETCH).
    pub fn add_subscription(
        &self,
        request: u64,
        track: TrackProducer,
        joining: Option<crate::core::types::Location>,
    ) {
        lock(&self.subscriptions).insert(request, (track, joining));
    }

    /// Forget a subscription.
    pub fn remove_subscription(&self, request: u64) {
        lock(&self.subscriptions).remove(&request);
    }

    /// Track and Joining Location of an established subscription.
    pub fn subscription(&self, request: u64) -> Option<Joined> {
        lock(&self.subscriptions).get(&request).cloned()
    }
}

/// The inbound side of one stream, fed through the session's protocol state (see
/// [`tern_peer::inbound`]); each holds the receive budget of the object arriving on it.
pub type Inbound = tern_peer::inbound::Inbound<Option<super::budget::Reservation>>;

impl tern_peer::inbound::Feed for SessionShared {
    type Hold = Option<super::budget::Reservation>;

    fn proto(&self) -> &SharedProto {
        &self.proto
    }

    fn new_stream_id(&self) -> StreamId {
        SessionShared::new_stream_id(self)
    }

    fn violated(&self, error: tern_moq::session::SessionError) {
        SessionShared::violation(self, error.code, &error.reason);
    }

    fn control(&self) -> &tern_peer::Control {
        &self.control
    }

    /// Hold the receive budget for the object still arriving, if any: refused when neither
    /// the session's share nor the process's budget can take it.
    fn admit(&self, stream: StreamId, held: &mut Self::Hold) -> bool {
        let partial = self.proto(|p| p.partial_object(stream));
        if let (Some(h), Some((object, _))) = (held.as_ref(), partial)
            && h.object == object
        {
            return true;
        }
        *held = None;
        let Some((object, bytes)) = partial else {
            return true;
        };
        *held = self.receive_budget.reserve(&self.receive, object, bytes);
        if held.is_some() {
            return true;
        }
        metrics::counter!(m::RECEIVE_BUDGET_REFUSALS).increment(1);
        if let Some(suppressed) = BUDGET_LOG.allow(std::time::Instant::now()) {
            tracing::warn!(
                session = self.id,
                used = self.receive_budget.used(),
                suppressed,
                "refused an object: the receive budget is spent (stream stopped)"
            );
        }
        false
    }
}

/// Holds an alias's data back while it lives (see [`SessionShared::add_alias_held`]); dropping
/// it lets the data land.
#[derive(Debug)]
pub struct AliasHold {
    _released: watch::Sender<bool>,
}
