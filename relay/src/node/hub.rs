//! Shared state of a running relay node: the tracks (each behind its own lock: the data path
//! never takes a process-wide lock), the registry of live sessions and requests (written on the
//! node loop only, read by any task), and the queues of the router's inputs. The router itself
//! belongs to the node loop ([`super::dispatch`]): tasks give it inputs and wait for answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot};

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

/// One input for the router, run on the node loop ([`super::dispatch`]).
pub(super) type Job = Box<dyn FnOnce(&mut OnLoop<'_>, Instant) + Send>;

/// How many inputs may wait for the node loop before the tasks that give them wait in turn.
const INPUTS: usize = 1024;

/// The node loop's side of the hub: the router itself and the queues of its inputs.
pub struct Inputs {
    pub(super) router: Router,
    pub(super) jobs: mpsc::Receiver<Job>,
    pub(super) endings: mpsc::UnboundedReceiver<Job>,
}

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs").finish_non_exhaustive()
    }
}

/// What an input may touch, on the node loop only: the router and the registry's writing side
/// (sessions, requests, tracks, local publications). Tasks only read the registry.
pub struct OnLoop<'a> {
    pub(super) hub: &'a Arc<Hub>,
    /// The node's router.
    pub router: &'a mut Router,
    /// Callers waiting until this round's decisions are carried out ([`Hub::settled`]).
    pub(super) settle: &'a mut Vec<oneshot::Sender<()>>,
}

impl OnLoop<'_> {
    /// Register a live session.
    pub fn add_session(&mut self, s: Arc<SessionShared>) {
        metrics::gauge!(m::SESSIONS, m::labels(&s.session)).increment(1.0);
        lock(&self.hub.sessions).insert(s.id, s);
    }

    /// A session ended: forget it, its requests (one range: nothing walks every request) and
    /// everything it did.
    pub fn remove_session(&mut self, id: SessionId, now: Instant) {
        if let Some(s) = lock(&self.hub.sessions).remove(&id) {
            metrics::gauge!(m::SESSIONS, m::labels(&s.session)).decrement(1.0);
        }
        {
            let mut requests = lock(&self.hub.requests);
            let mine: Vec<_> = requests
                .range((id, RequestId::MIN)..=(id, RequestId::MAX))
                .map(|(k, _)| *k)
                .collect();
            for k in mine {
                requests.remove(&k);
            }
        }
        self.router.handle_session_closed(id, now);
    }

    /// Register the channel a request task listens on and, for a SUBSCRIBE_NAMESPACE, the
    /// listing it writes from (its NAMESPACE and NAMESPACE_DONE go there instead).
    pub fn add_request(
        &mut self,
        session: SessionId,
        request: RequestId,
        tx: mpsc::Sender<ToRequest>,
        listing: Option<Arc<Listing>>,
    ) {
        lock(&self.hub.requests).insert((session, request), Inbox { tx, listing });
    }

    /// Forget a request's channel (and its listing).
    pub fn remove_request(&mut self, session: SessionId, request: RequestId) {
        lock(&self.hub.requests).remove(&(session, request));
    }

    /// `session` is (or no longer is) a broadcast published through the local API.
    pub fn mark_local(&mut self, session: SessionId, publication: bool) {
        let mut local = lock(&self.hub.local_publications);
        if publication {
            local.insert(session);
        } else {
            local.remove(&session);
        }
    }

    /// A cached track by ID, created (empty, charged to the process's cache) if missing. A
    /// track the router has already forgotten is not cached: its producer comes back closed.
    pub fn track_or_insert(&mut self, id: TrackId, name: &TrackName) -> TrackProducer {
        let hub = self.hub;
        let new = || TrackProducer::new(name.clone(), Track::charged_to(hub.cache.clone()));
        // On the loop: a track the router forgets is dropped from the cache when its
        // forgetting is carried out, and nothing inserts it afterwards.
        if self.router.track_name(id).is_none() {
            let gone = new();
            gone.close();
            return gone;
        }
        lock(&hub.tracks).entry(id).or_insert_with(new).clone()
    }

    /// Drop the caches of tracks the router forgot and end their readers.
    pub(super) fn forget_tracks(&mut self, forgotten: Vec<TrackId>) {
        for id in forgotten {
            if let Some(t) = lock(&self.hub.tracks).remove(&id) {
                t.close();
            }
        }
    }
}

/// Shared state of one relay process.
pub struct Hub {
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
    /// This relay's ID in hop lists (the router's configuration).
    pub relay_id: Bytes,
    /// The longest hop list the router accepts.
    pub max_depth: usize,
    /// The router's inputs, for the node loop (bounded: a task that outruns it waits).
    jobs: mpsc::Sender<Job>,
    /// Inputs from places that cannot wait (a handle dropped, a session's callback): a
    /// session's or request's end, one per live session, request or publication, so bounded by
    /// the limits on those.
    endings: mpsc::UnboundedSender<Job>,
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
    /// A hub around `router`, and the node loop's side of it ([`super::dispatch::run`] owns
    /// the router from then on).
    pub fn new(router: Router, settings: NodeSettings) -> (Arc<Self>, Inputs) {
        let (jobs, jobs_rx) = mpsc::channel(INPUTS);
        let (endings, endings_rx) = mpsc::unbounded_channel();
        let hub = Arc::new(Self {
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
            relay_id: router.relay_id().clone(),
            max_depth: router.max_depth(),
            jobs,
            endings,
        });
        let inputs = Inputs {
            router,
            jobs: jobs_rx,
            endings: endings_rx,
        };
        (hub, inputs)
    }

    /// A new session ID.
    pub fn next_session_id(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed)
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

    /// A cached track by ID.
    pub fn track(&self, id: TrackId) -> Option<TrackProducer> {
        lock(&self.tracks).get(&id).cloned()
    }

    /// Where track `name` is: its cache here (when the router knows the track) and the session
    /// of the upstream that feeds it, if any.
    pub async fn locate(&self, name: &TrackName) -> (Option<TrackProducer>, Option<SessionId>) {
        let n = name.clone();
        let (id, upstream) = self
            .read(move |r| (r.track_id(&n), r.upstream_for(&n)))
            .await;
        (id.and_then(|id| self.track(id)), upstream)
    }

    /// Run `f` on the node loop, with the router and the registry's writing side (an input: a
    /// request with its channel, a session's end, an upstream's answer), and return what it
    /// returns. What the router decides is carried out by the loop, in the router's order,
    /// never by the task that called: no task re-enters the dispatcher. Inputs wait in a
    /// bounded queue: a task that outruns the loop waits here.
    pub async fn on_loop<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut OnLoop<'_>, Instant) -> R + Send + 'static,
    ) -> R {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |l, now| {
            let _ = tx.send(f(l, now));
        });
        // The loop runs as long as the hub does, so it is gone only while the runtime shuts
        // down (its task dropped before this one): the node is being torn down and this task
        // has nothing left to do; it waits to be dropped in turn.
        let answer = match self.jobs.send(job).await {
            Ok(()) => rx.await.ok(),
            Err(_) => None,
        };
        match answer {
            Some(r) => r,
            None => std::future::pending().await,
        }
    }

    /// [`Hub::on_loop`] with the router only.
    pub async fn apply<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Router, Instant) -> R + Send + 'static,
    ) -> R {
        self.on_loop(move |l, now| f(l.router, now)).await
    }

    /// Read the router, in order with the inputs before.
    pub async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Router) -> R + Send + 'static,
    ) -> R {
        self.on_loop(move |l, _| f(l.router)).await
    }

    /// An input from a place that cannot wait (a handle's drop, a session's callback): an end,
    /// run on the node loop before any input given after it.
    pub fn post(&self, f: impl FnOnce(&mut OnLoop<'_>, Instant) + Send + 'static) {
        // The loop gone means the node is: nothing is left to end.
        let _ = self.endings.send(Box::new(f));
    }

    /// Wait until the node loop has carried out everything the router decided on the inputs
    /// given before this call (commands sent, forgotten tracks closed).
    pub(super) async fn settled(&self) {
        let done = self
            .on_loop(|l, _| {
                let (tx, rx) = oneshot::channel();
                l.settle.push(tx);
                rx
            })
            .await;
        let _ = done.await;
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
