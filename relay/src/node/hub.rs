//! Shared state of a running relay node: the router (control plane, behind one lock that only
//! control messages take), the tracks (each behind its own lock: the data path never takes a
//! process-wide lock), and the registry of live sessions and requests.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{Notify, mpsc};

use crate::core::cache::CacheGauge;
use crate::core::router::{Command, RequestId, Router, SessionId, TrackId};
use crate::core::track::Track;
use crate::core::types::{Location, Namespace, TrackName};
use crate::metrics as m;
use tern_model::{Subscription, TrackProducer};

use super::session::SessionShared;

/// What the router's decisions become for a request task.
#[derive(Debug)]
pub struct ToRequest {
    /// The router's command.
    pub command: Command,
    /// For SUBSCRIBE_OK: the track's Largest Object and the fan-out reader, resolved at the
    /// moment the router accepted (so no object that arrives later is missed).
    pub accepted: Option<(Option<Location>, Option<Subscription>, TrackProducer)>,
}

/// What a SUBSCRIBE_NAMESPACE stream is to show its peer: the latest state of each namespace,
/// not a queue of events. A listing of any length (a tree's whole set of broadcasts on a link's
/// reconnect, a flood of announcements) costs one entry per namespace until the request task
/// writes it, and is never a reason to close the session. A namespace announced and withdrawn
/// before the task got to it costs nothing on the wire.
#[derive(Debug, Default)]
pub struct Listing {
    pending: Mutex<BTreeMap<Namespace, bool>>,
    changed: Notify,
}

impl Listing {
    /// Record that `namespace` is now announced (`true`) or withdrawn (`false`).
    pub(super) fn set(&self, namespace: Namespace, announced: bool) {
        lock(&self.pending).insert(namespace, announced);
        // A stored permit when the task is busy writing: no change is missed.
        self.changed.notify_one();
    }

    /// Wait until something changed.
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Everything changed since the last call, in namespace order.
    pub fn take(&self) -> BTreeMap<Namespace, bool> {
        std::mem::take(&mut *lock(&self.pending))
    }
}

/// Where the router's decisions for one request go: its task's channel, and for a
/// SUBSCRIBE_NAMESPACE its listing.
#[derive(Debug)]
struct Inbox {
    tx: mpsc::Sender<ToRequest>,
    listing: Option<Arc<Listing>>,
}

pub use super::settings::{NodeSettings, UpstreamTls};

/// Shared state of one relay process.
pub struct Hub {
    router: Mutex<Router>,
    tracks: Mutex<HashMap<TrackId, TrackProducer>>,
    sessions: Mutex<HashMap<SessionId, Arc<SessionShared>>>,
    /// Request tasks by session then request: a session's are one range.
    requests: Mutex<BTreeMap<(SessionId, RequestId), Inbox>>,
    next_session: AtomicU64,
    /// Bytes of partly received objects, every session's.
    pub receive: Arc<super::budget::ReceiveBudget>,
    /// Bytes of every track's newest group, against the cache's byte budget.
    pub live: Arc<crate::core::cache::LiveBudget>,
    /// Bytes and groups every track holds, charged as they are appended and evicted.
    pub cache: Arc<CacheGauge>,
    /// The sessions that are broadcasts published in this process (the local API's).
    local_publications: Mutex<std::collections::HashSet<SessionId>>,
    /// What the local API's publishers appended, for the metrics.
    pub local_appends: Arc<tern_model::local::AppendStats>,
    /// Settings.
    pub settings: NodeSettings,
    /// Woken when the router took an input: the node loop carries out what it decided.
    decided: Notify,
    /// Inputs the router has taken so far (counted under its lock).
    applied: AtomicU64,
    /// The count of inputs whose decisions the node loop has carried out (see
    /// [`Hub::settled`]).
    carried: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// A hub around `router`.
    pub fn new(router: Router, settings: NodeSettings) -> Arc<Self> {
        Arc::new(Self {
            router: Mutex::new(router),
            tracks: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            requests: Mutex::new(BTreeMap::new()),
            next_session: AtomicU64::new(1),
            receive: Arc::new(super::budget::ReceiveBudget::new(settings.receive)),
            live: Arc::new(crate::core::cache::LiveBudget::new(
                settings.cache.max_bytes,
            )),
            cache: Arc::new(CacheGauge::new(settings.cache)),
            local_publications: Mutex::new(std::collections::HashSet::new()),
            local_appends: Arc::default(),
            settings,
            decided: Notify::new(),
            applied: AtomicU64::new(0),
            carried: tokio::sync::watch::Sender::new(0),
        })
    }

    /// A new session ID.
    pub fn next_session_id(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Register a live session.
    pub fn add_session(&self, s: Arc<SessionShared>) {
        lock(&self.sessions).insert(s.id, s);
        metrics::gauge!(m::SESSIONS).increment(1.0);
    }

    /// A session ended: forget it and everything it did.
    pub fn remove_session(self: &Arc<Self>, id: SessionId) {
        if lock(&self.sessions).remove(&id).is_some() {
            metrics::gauge!(m::SESSIONS).decrement(1.0);
        }
        // This session's requests only (one range): nothing walks every request.
        {
            let mut requests = lock(&self.requests);
            let mine: Vec<_> = requests
                .range((id, RequestId::MIN)..=(id, RequestId::MAX))
                .map(|(k, _)| *k)
                .collect();
            for k in mine {
                requests.remove(&k);
            }
        }
        self.apply(|r, now| r.handle_session_closed(id, now));
    }

    /// A live session by ID.
    pub fn session(&self, id: SessionId) -> Option<Arc<SessionShared>> {
        lock(&self.sessions).get(&id).cloned()
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Send GOAWAY to every session.
    pub async fn goaway_all(&self, uri: &str, timeout: std::time::Duration) {
        let sessions: Vec<Arc<SessionShared>> = lock(&self.sessions).values().cloned().collect();
        // Every session at once, each write bounded: a peer that grants no stream credit
        // holds up its own GOAWAY only.
        let each = self.settings.timeouts.goaway_write.min(timeout);
        let mut writes = tokio::task::JoinSet::new();
        for s in sessions {
            let uri = uri.to_owned();
            writes.spawn(async move {
                if tokio::time::timeout(each, s.goaway(&uri, timeout))
                    .await
                    .is_err()
                {
                    tracing::debug!(session = s.id, "GOAWAY not written in {each:?}");
                }
            });
        }
        while writes.join_next().await.is_some() {}
    }

    /// Close every session (shutdown).
    pub fn close_all(&self, code: u32, reason: &str) {
        for s in lock(&self.sessions).values() {
            s.session.close(code, reason);
        }
    }

    /// Register the channel a request task listens on.
    pub fn add_request(&self, session: SessionId, request: RequestId, tx: mpsc::Sender<ToRequest>) {
        lock(&self.requests).insert((session, request), Inbox { tx, listing: None });
    }

    /// Forget a request's channel (and its listing).
    pub fn remove_request(&self, session: SessionId, request: RequestId) {
        lock(&self.requests).remove(&(session, request));
    }

    /// Register the listing a SUBSCRIBE_NAMESPACE request (added first) writes from; its
    /// NAMESPACE and NAMESPACE_DONE go there instead of the request's channel.
    pub fn add_listing(&self, session: SessionId, request: RequestId, listing: Arc<Listing>) {
        if let Some(inbox) = lock(&self.requests).get_mut(&(session, request)) {
            inbox.listing = Some(listing);
        }
    }

    /// A cached track by ID.
    pub fn track(&self, id: TrackId) -> Option<TrackProducer> {
        lock(&self.tracks).get(&id).cloned()
    }

    /// A cached track by ID, created (empty, charged to the process's cache) if missing. A
    /// track the router has already forgotten is not cached: its producer comes back closed.
    pub fn track_or_insert(&self, id: TrackId, name: &TrackName) -> TrackProducer {
        let new = || TrackProducer::new(name.clone(), Track::charged_to(self.cache.clone()));
        // Under the router's lock: a track the router forgets is dropped from the cache after
        // the router let go of it (see `apply`), so it cannot be inserted after its drop.
        let router = lock(&self.router);
        if router.track_name(id).is_none() {
            let gone = new();
            gone.close();
            return gone;
        }
        lock(&self.tracks).entry(id).or_insert_with(new).clone()
    }

    /// `session` is (or no longer is) a broadcast published through the local API.
    pub fn mark_local(&self, session: SessionId, publication: bool) {
        let mut local = lock(&self.local_publications);
        if publication {
            local.insert(session);
        } else {
            local.remove(&session);
        }
    }

    /// Run `f` on the router (an input: a request, a session's end, an upstream's answer).
    /// What it decides is carried out by the node loop ([`super::dispatch`]), in the router's
    /// order, never by the task that called: no task re-enters the dispatcher.
    pub fn apply<R>(&self, f: impl FnOnce(&mut Router, Instant) -> R) -> R {
        let now = Instant::now();
        let mut router = lock(&self.router);
        let out = f(&mut router, now);
        self.applied.fetch_add(1, Ordering::SeqCst);
        drop(router);
        self.decided.notify_one();
        out
    }

    /// Wait until the node loop has carried out everything the router decided on the inputs
    /// it took before this call (commands sent, forgotten tracks closed), or the node's
    /// `upstream_answer_timeout` passed (a loop that stopped).
    pub(super) async fn settled(&self) {
        let target = self.applied.load(Ordering::SeqCst);
        let mut carried = self.carried.subscribe();
        let limit = self.settings.upstream_answer_timeout;
        let _ = tokio::time::timeout(limit, carried.wait_for(|&c| c >= target)).await;
    }

    /// The node loop carried out the decisions on the first `inputs` inputs.
    pub(super) fn carried_out(&self, inputs: u64) {
        self.carried.send_if_modified(|c| {
            let later = inputs > *c;
            if later {
                *c = inputs;
            }
            later
        });
    }

    /// Wait until the router may have decided something (see [`Hub::apply`]).
    pub(super) async fn decided(&self) {
        self.decided.notified().await;
    }

    /// The router's next decisions, in its order, and the tracks it forgot since the last call
    /// (reported once each: nothing here walks every track).
    /// With them, the count of inputs they answer (see [`Hub::carried_out`]).
    pub(super) fn decisions(&self) -> (Vec<Command>, Vec<TrackId>, u64) {
        let mut router = lock(&self.router);
        let commands = std::iter::from_fn(|| router.poll_command()).collect();
        let forgotten = std::iter::from_fn(|| router.poll_forgotten()).collect();
        (commands, forgotten, self.applied.load(Ordering::SeqCst))
    }

    /// Drop the caches of tracks the router forgot and end their readers.
    pub(super) fn forget_tracks(&self, forgotten: Vec<TrackId>) {
        for id in forgotten {
            if let Some(t) = lock(&self.tracks).remove(&id) {
                t.close();
            }
        }
    }

    /// Whether `session` is a broadcast published through the local API.
    pub(super) fn is_local_publication(&self, session: SessionId) -> bool {
        lock(&self.local_publications).contains(&session)
    }

    /// The channel and listing of a request task, if it still runs.
    pub(super) fn inbox(
        &self,
        session: SessionId,
        request: RequestId,
    ) -> Option<(mpsc::Sender<ToRequest>, Option<Arc<Listing>>)> {
        lock(&self.requests)
            .get(&(session, request))
            .map(|i| (i.tx.clone(), i.listing.clone()))
    }

    /// Publish the router's counters (failovers, held tracks, refusals, loops) as metrics; the
    /// timer loop calls it, off the request path.
    pub fn report_router(&self) {
        let router = lock(&self.router);
        metrics::counter!(m::FAILOVERS).absolute(router.failovers());
        metrics::gauge!(m::TRACKS_HELD).set(router.lost_tracks() as f64);
        metrics::counter!(m::PUBLISHERS_REFUSED).absolute(router.untrusted_refusals());
        metrics::counter!(m::LOOPS).absolute(router.loops_detected());
    }

    /// Read-only access to the router.
    pub fn with_router<R>(&self, f: impl FnOnce(&Router) -> R) -> R {
        f(&lock(&self.router))
    }

    /// Add what local publishers appended since the last report to the counters a MoQ
    /// publisher's objects go to.
    pub fn report_local(&self) {
        let (objects, bytes, refused) = self.local_appends.take();
        if objects > 0 {
            metrics::counter!(m::OBJECTS_IN).increment(objects);
            metrics::counter!(m::BYTES_IN).increment(bytes);
        }
        if refused > 0 {
            metrics::counter!(m::CACHE_BUDGET_REFUSALS).increment(refused);
        }
    }

    /// Publish the cache's gauges (charged by the tracks as they change: nothing is walked).
    pub fn report_cache(&self) {
        metrics::gauge!(m::CACHE_BYTES).set(self.cache.bytes() as f64);
        metrics::gauge!(m::CACHE_GROUPS).set(self.cache.groups() as f64);
        metrics::counter!(m::CACHE_EVICTIONS).absolute(self.cache.evictions());
    }
}
