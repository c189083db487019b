//! One MoQ session on the relay: the thin driver between a QUIC/WebTransport session and the
//! sans-IO pieces (codec readers, router, track cache).
//!
//! Streams of the session: each peer's unidirectional control stream (SETUP, GOAWAY), one
//! bidirectional stream per request (see [`super::request`]), unidirectional data streams
//! (see [`super::ingest`]) and datagrams.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;

use tern_moq::message::codes::SessionError as Code;
use tern_moq::message::{GoAway, Setup};
use tern_moq::{ControlReader, DataStreamEvent, DataStreamReader, Message};
use tern_quic::{RecvStream, SendStream, Session};

use crate::core::router::{SessionId, TrackId};
use crate::metrics as m;

use super::hub::{Hub, TrackHandle};

/// How long a session has to send its SETUP.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-session state shared by its tasks.
pub struct SessionShared {
    /// Relay-wide ID.
    pub id: SessionId,
    /// The transport session.
    pub session: Session,
    /// Track aliases the peer publishes on (from PUBLISH or our SUBSCRIBE_OK), to tracks.
    aliases: Mutex<HashMap<u64, Arc<TrackHandle>>>,
    /// Woken when an alias is registered (data can race ahead of the control message).
    pub alias_added: Notify,
    /// Upstream subscriptions this session serves for us: track → cancel.
    upstream: Mutex<HashMap<TrackId, oneshot::Sender<()>>>,
    /// Our next Request ID (server: odd, client: even).
    next_request_id: AtomicU64,
    /// Our next Track Alias for tracks we send to the peer.
    next_alias: AtomicU64,
    /// Set once a GOAWAY was sent.
    pub going_away: AtomicBool,
    /// Our control stream (SETUP was written on it; GOAWAY goes there too).
    control: tokio::sync::Mutex<Option<SendStream>>,
    /// One past the largest Request ID the peer has used (0 before any).
    peer_requests: AtomicU64,
    /// Established downstream subscriptions: Request ID → track and Joining Location (the
    /// Largest Object sent in SUBSCRIBE_OK), for Joining FETCH.
    subscriptions: Mutex<HashMap<u64, (Arc<TrackHandle>, Option<crate::core::types::Location>)>>,
    /// FETCHes we sent this peer, waiting for their data stream: Request ID → hand-off.
    fetches: Mutex<HashMap<u64, oneshot::Sender<(DataStreamReader, RecvStream)>>>,
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
    /// State for a new session; `server` picks the Request ID parity.
    pub fn new(id: SessionId, session: Session, server: bool) -> Arc<Self> {
        Arc::new(Self {
            id,
            session,
            aliases: Mutex::new(HashMap::new()),
            alias_added: Notify::new(),
            upstream: Mutex::new(HashMap::new()),
            next_request_id: AtomicU64::new(if server { 1 } else { 0 }),
            next_alias: AtomicU64::new(1),
            going_away: AtomicBool::new(false),
            control: tokio::sync::Mutex::new(None),
            peer_requests: AtomicU64::new(if server { 0 } else { 1 }),
            subscriptions: Mutex::new(HashMap::new()),
            fetches: Mutex::new(HashMap::new()),
        })
    }

    /// Expect the data stream of a FETCH we send with Request ID `request`.
    pub fn expect_fetch(&self, request: u64) -> oneshot::Receiver<(DataStreamReader, RecvStream)> {
        let (tx, rx) = oneshot::channel();
        lock(&self.fetches).insert(request, tx);
        rx
    }

    /// Hand a fetch data stream to the FETCH that asked for it; gives it back if none did.
    pub fn deliver_fetch(
        &self,
        request: u64,
        stream: (DataStreamReader, RecvStream),
    ) -> Result<(), (DataStreamReader, RecvStream)> {
        match lock(&self.fetches).remove(&request) {
            Some(tx) => tx.send(stream),
            None => Err(stream),
        }
    }

    /// Forget a FETCH we sent.
    pub fn forget_fetch(&self, request: u64) {
        lock(&self.fetches).remove(&request);
    }

    /// Record an established subscription (for Joining FETCH).
    pub fn add_subscription(
        &self,
        request: u64,
        track: Arc<TrackHandle>,
        joining: Option<crate::core::types::Location>,
    ) {
        lock(&self.subscriptions).insert(request, (track, joining));
    }

    /// Forget a subscription.
    pub fn remove_subscription(&self, request: u64) {
        lock(&self.subscriptions).remove(&request);
    }

    /// Track and Joining Location of an established subscription.
    pub fn subscription(
        &self,
        request: u64,
    ) -> Option<(Arc<TrackHandle>, Option<crate::core::types::Location>)> {
        lock(&self.subscriptions).get(&request).cloned()
    }

    /// Note a Request ID the peer used.
    pub fn saw_request(&self, id: u64) {
        self.peer_requests.fetch_max(id + 2, Ordering::Relaxed);
    }

    /// Send GOAWAY on our control stream: the peer should move to `uri` (empty: this one)
    /// within `timeout`; requests from the returned Request ID on are refused.
    pub async fn goaway(&self, uri: &str, timeout: Duration) {
        if self.going_away.swap(true, Ordering::SeqCst) {
            return;
        }
        let msg = GoAway {
            new_session_uri: bytes::Bytes::copy_from_slice(uri.as_bytes()),
            timeout: timeout.as_millis() as u64,
            request_id: Some(self.peer_requests.load(Ordering::Relaxed)),
        };
        if let Some(control) = self.control.lock().await.as_mut()
            && let Err(e) = write_message(control, msg).await
        {
            tracing::debug!(session = self.id, "GOAWAY not sent: {e:#}");
        }
    }

    /// Allocate a Request ID for a request we send.
    pub fn next_request_id(&self) -> u64 {
        self.next_request_id.fetch_add(2, Ordering::Relaxed)
    }

    /// Allocate a Track Alias for a track we send.
    pub fn next_alias(&self) -> u64 {
        self.next_alias.fetch_add(1, Ordering::Relaxed)
    }

    /// Map an alias the peer will send on to a track.
    pub fn add_alias(&self, alias: u64, track: Arc<TrackHandle>) -> bool {
        let fresh = lock(&self.aliases).insert(alias, track).is_none();
        self.alias_added.notify_waiters();
        fresh
    }

    /// Forget an alias.
    pub fn remove_alias(&self, alias: u64) {
        lock(&self.aliases).remove(&alias);
    }

    /// Track for an alias.
    pub fn alias(&self, alias: u64) -> Option<Arc<TrackHandle>> {
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

    /// Close the session for a protocol error, with a log line naming the reason.
    pub fn violation(&self, code: Code, reason: &str) {
        tracing::warn!(session = self.id, code = code.0, reason, "closing session");
        metrics::counter!(m::PROTOCOL_VIOLATIONS).increment(1);
        self.session.close(code.0 as u32, reason);
    }
}

/// Write one control message on a stream.
pub async fn write_message(send: &mut SendStream, msg: impl Into<Message>) -> anyhow::Result<()> {
    let mut buf = BytesMut::new();
    msg.into().encode(&mut buf)?;
    send.write_chunk(buf.freeze()).await?;
    Ok(())
}

/// Drive one accepted session until it ends.
pub async fn run(hub: Arc<Hub>, session: Session, server: bool) {
    let id = hub.next_session_id();
    let shared = SessionShared::new(id, session, server);
    hub.add_session(shared.clone());
    tracing::info!(session = id, peer = %shared.session.remote_address(), "session open");
    let reason = drive(&hub, &shared).await;
    match &reason {
        Ok(()) => tracing::info!(session = id, "session closed"),
        Err(e) => tracing::info!(session = id, "session ended: {e:#}"),
    }
    hub.remove_session(id);
}

async fn drive(hub: &Arc<Hub>, s: &Arc<SessionShared>) -> anyhow::Result<()> {
    // Our control stream: SETUP first.
    let mut control = s.session.open_uni().await?;
    let mut setup = Setup::default();
    setup.set_moqt_implementation(concat!("tern/", env!("CARGO_PKG_VERSION")));
    write_message(&mut control, setup).await?;
    *s.control.lock().await = Some(control);

    let (setup_tx, setup_rx) = oneshot::channel::<()>();
    let mut setup_tx = Some(setup_tx);
    let mut tasks = JoinSet::new();
    let setup_deadline = tokio::time::sleep(SETUP_TIMEOUT);
    tokio::pin!(setup_deadline);
    let mut setup_rx = Some(setup_rx);
    loop {
        tokio::select! {
            _ = &mut setup_deadline, if setup_rx.is_some() => {
                s.violation(Code::PROTOCOL_VIOLATION, "no SETUP within 10 s");
                anyhow::bail!("no SETUP");
            }
            r = async { setup_rx.as_mut().expect("guarded").await }, if setup_rx.is_some() => {
                setup_rx = None;
                if r.is_err() {
                    anyhow::bail!("control stream ended before SETUP");
                }
            }
            uni = s.session.accept_uni() => {
                let recv = uni?;
                let (hub, s2) = (hub.clone(), s.clone());
                let tx = setup_tx.take();
                tasks.spawn(async move { uni_stream(hub, s2, recv, tx).await });
            }
            bi = s.session.accept_bi() => {
                let (send, recv) = bi?;
                if hub.request_count(s.id) >= hub.settings.max_requests_per_session {
                    let mut send = send;
                    super::request::refuse_excessive(&mut send, recv).await;
                    continue;
                }
                let (hub, s2) = (hub.clone(), s.clone());
                tasks.spawn(async move { super::request::run(hub, s2, send, recv).await });
            }
            dg = s.session.read_datagram() => {
                let dg = dg?;
                super::ingest::datagram(hub, s, dg);
            }
            Some(_) = tasks.join_next() => {}
            err = s.session.closed() => {
                return Err(err.into());
            }
        }
    }
}

/// A unidirectional stream from the peer: its control stream or a data stream.
async fn uni_stream(
    hub: Arc<Hub>,
    s: Arc<SessionShared>,
    mut recv: RecvStream,
    setup_tx: Option<oneshot::Sender<()>>,
) {
    let mut reader = DataStreamReader::new(hub.settings.limits);
    loop {
        match reader.poll() {
            Ok(Some(DataStreamEvent::Control)) => {
                let Some(tx) = setup_tx else {
                    s.violation(Code::PROTOCOL_VIOLATION, "second control stream");
                    return;
                };
                match reader.into_control_reader() {
                    Ok(control) => control_stream(&s, control, recv, tx).await,
                    Err(e) => s.violation(e.wire_code(), &e.to_string()),
                }
                return;
            }
            Ok(Some(first)) => {
                super::ingest::data_stream(&hub, &s, reader, first, recv).await;
                return;
            }
            Ok(None) => {}
            Err(e) => {
                s.violation(e.wire_code(), &format!("uni stream: {e}"));
                return;
            }
        }
        match recv.read_chunk(64 * 1024).await {
            Ok(Some(chunk)) => {
                if let Err(e) = reader.push(chunk) {
                    s.violation(e.wire_code(), &format!("uni stream: {e}"));
                    return;
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// The peer's control stream: SETUP, then at most one GOAWAY. It must stay open.
async fn control_stream(
    s: &Arc<SessionShared>,
    mut control: ControlReader,
    mut recv: RecvStream,
    setup_tx: oneshot::Sender<()>,
) {
    let mut setup_tx = Some(setup_tx);
    let mut goaway = false;
    loop {
        loop {
            match control.pop() {
                Ok(Some(Message::Setup(setup))) if setup_tx.is_some() => {
                    tracing::debug!(session = s.id, ?setup, "peer SETUP");
                    if let Some(tx) = setup_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Some(Message::GoAway(GoAway { .. }))) if setup_tx.is_none() && !goaway => {
                    goaway = true;
                    tracing::info!(session = s.id, "peer sent GOAWAY");
                }
                Ok(Some(other)) => {
                    s.violation(
                        Code::PROTOCOL_VIOLATION,
                        &format!("unexpected {} on the control stream", other.name()),
                    );
                    return;
                }
                Ok(None) => break,
                Err(e) => {
                    s.violation(e.wire_code(), &format!("control stream: {e}"));
                    return;
                }
            }
        }
        match recv.read_chunk(16 * 1024).await {
            Ok(Some(chunk)) => {
                if let Err(e) = control.push(&chunk) {
                    s.violation(e.wire_code(), &format!("control stream: {e}"));
                    return;
                }
            }
            Ok(None) => {
                s.violation(Code::PROTOCOL_VIOLATION, "control stream closed");
                return;
            }
            Err(_) => return,
        }
    }
}
