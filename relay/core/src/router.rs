//! The relay's control plane: who publishes what, who subscribes to what.
//!
//! Sans-IO: inputs are `handle_*` calls with `now`, outputs are [`Command`]s drained with
//! [`Router::poll_command`] and a deadline from [`Router::poll_timeout`]. It keeps **one upstream
//! subscription per track**, whatever the number of downstream subscribers, holds subscribers
//! that arrive before any publisher for their rendezvous timeout, and lets an upstream
//! subscription linger briefly after its last subscriber leaves.
//!
//! Object data never passes through here: tracks are addressed by [`TrackId`] and their cached
//! groups live in [`super::track::Track`]s owned by the driver.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use super::hops::Hops;
use super::types::{Filter, Namespace, TrackName, is_prefix};

mod failover;
mod trust;

pub use trust::{Class, Publisher, Publishers, TakeOver};

/// A session, named by the driver.
pub type SessionId = u64;
/// A request on a session (the peer's Request ID, or a driver-local handle).
pub type RequestId = u64;
/// A track known to the relay.
pub type TrackId = u64;

/// Why a request was refused (mapped to REQUEST_ERROR codes by the driver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No publisher for this track or namespace.
    DoesNotExist,
    /// No publisher appeared within the rendezvous timeout.
    Timeout,
    /// Too many subscriptions on this session.
    ExcessiveLoad,
    /// The same session already subscribes to the track.
    DuplicateSubscription,
    /// The upstream publisher refused, with its code.
    Upstream(u64),
    /// The namespace is reserved or malformed.
    Invalid,
    /// A namespace of no fields: it would be a prefix of every namespace (a catch-all
    /// publisher, the failover target of every track).
    EmptyNamespace,
    /// The prefix overlaps another SUBSCRIBE_NAMESPACE / SUBSCRIBE_TRACKS of the session.
    PrefixOverlap,
    /// The announcement's hop list already contains this relay: a loop in the tree.
    Loop,
    /// The announcement's hop list is as long as the maximum depth.
    TooDeep,
    /// The publisher is not a member of the cluster (see [`Publishers`]).
    Unauthorized,
    /// An anonymous publisher from another host, and publishing is not open (see
    /// [`RouterConfig::open_publishing`]).
    NotOpen,
    /// Another publisher, of this class, publishes the track and the take-over policy keeps
    /// it (see [`TakeOver`]).
    Published {
        /// The class of the publisher feeding the track.
        class: Class,
        /// The policy that refused.
        policy: TakeOver,
    },
}

/// Why a downstream subscription ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The upstream ended the track normally, with its PUBLISH_DONE status code.
    Upstream(u64),
    /// The publisher went away.
    PublisherGone,
    /// The relay is shutting down.
    GoingAway,
}

/// What the router asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Accept a downstream SUBSCRIBE: resolve `filter` against the track's cache, send
    /// SUBSCRIBE_OK and start a fan-out reader.
    SubscribeOk {
        /// Subscriber session.
        session: SessionId,
        /// Its request.
        request: RequestId,
        /// Track to read.
        track: TrackId,
        /// The filter to resolve.
        filter: Filter,
    },
    /// Refuse a request.
    Refuse {
        /// Session.
        session: SessionId,
        /// Request.
        request: RequestId,
        /// Why.
        reason: Refusal,
    },
    /// Acknowledge a request with REQUEST_OK (PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE, PUBLISH).
    Ok {
        /// Session.
        session: SessionId,
        /// Request.
        request: RequestId,
    },
    /// Subscribe to a track at an upstream publisher session.
    SubscribeUpstream {
        /// Publisher session.
        session: SessionId,
        /// Track.
        track: TrackId,
        /// Its name.
        name: TrackName,
        /// The filter to ask for: the first subscriber's when it reaches back to an absolute
        /// start (the publisher may still hold those objects), otherwise Largest Object.
        filter: Filter,
        /// The track moves here from another upstream: the objects between the last one
        /// cached and this subscription's start are fetched from the new upstream first.
        resume: bool,
    },
    /// Cancel an upstream subscription.
    UnsubscribeUpstream {
        /// Publisher session.
        session: SessionId,
        /// Track.
        track: TrackId,
    },
    /// End a downstream subscription (PUBLISH_DONE after its reader drains).
    PublishDone {
        /// Subscriber session.
        session: SessionId,
        /// Its request.
        request: RequestId,
        /// Why.
        reason: Ended,
    },
    /// Offer a published track to a SUBSCRIBE_TRACKS subscriber (send it PUBLISH).
    PublishDownstream {
        /// Subscriber session.
        session: SessionId,
        /// Its SUBSCRIBE_TRACKS request.
        request: RequestId,
        /// The track.
        track: TrackId,
    },
    /// Tell a SUBSCRIBE_NAMESPACE subscriber about a namespace (NAMESPACE).
    Namespace {
        /// Session.
        session: SessionId,
        /// Its SUBSCRIBE_NAMESPACE request.
        request: RequestId,
        /// The full namespace.
        namespace: Namespace,
    },
    /// Tell it a namespace is gone (NAMESPACE_DONE).
    NamespaceDone {
        /// Session.
        session: SessionId,
        /// Its SUBSCRIBE_NAMESPACE request.
        request: RequestId,
        /// The full namespace.
        namespace: Namespace,
    },
    /// Announce a namespace published below this relay to an upstream relay (PUBLISH_NAMESPACE
    /// on the link session), kept until [`Command::WithdrawUpstream`].
    AnnounceUpstream {
        /// The link session.
        session: SessionId,
        /// The namespace.
        namespace: Namespace,
        /// Its path so far, ending with this relay (sent only to a tern upstream).
        hops: Hops,
    },
    /// Withdraw an announcement made with [`Command::AnnounceUpstream`].
    WithdrawUpstream {
        /// The link session.
        session: SessionId,
        /// The namespace.
        namespace: Namespace,
    },
}

impl Command {
    /// The downstream request this command answers or sends on, `(session, request)`: `None`
    /// for the commands to upstreams.
    pub fn answers(&self) -> Option<(SessionId, RequestId)> {
        match self {
            Command::SubscribeOk {
                session, request, ..
            }
            | Command::Refuse {
                session, request, ..
            }
            | Command::Ok { session, request }
            | Command::PublishDone {
                session, request, ..
            }
            | Command::PublishDownstream {
                session, request, ..
            }
            | Command::Namespace {
                session, request, ..
            }
            | Command::NamespaceDone {
                session, request, ..
            } => Some((*session, *request)),
            Command::SubscribeUpstream { .. }
            | Command::UnsubscribeUpstream { .. }
            | Command::AnnounceUpstream { .. }
            | Command::WithdrawUpstream { .. } => None,
        }
    }
}

/// Router settings.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// This relay's id in hop lists.
    pub relay_id: bytes::Bytes,
    /// Longest hop list an announcement may arrive with.
    pub max_depth: usize,
    /// How long an upstream subscription stays after its last subscriber leaves.
    pub linger: Duration,
    /// Upper bound on a subscriber's RENDEZVOUS_TIMEOUT.
    pub max_rendezvous: Duration,
    /// Subscriptions one session may hold.
    pub max_subscriptions_per_session: usize,
    /// Trust between relays (see [`Publishers`]): `None`, no cluster, every session trusted.
    pub cluster: Option<Publishers>,
    /// Whether anonymous sessions (neither members, nor on this host, nor under a plugin that
    /// authorises each publish: see [`Router::handle_vouched`]) may publish. `tern relay`
    /// keeps it off unless `relay.open_publishing` is set.
    pub open_publishing: bool,
    /// When a new publisher of a live track takes it over (see [`TakeOver`]).
    pub takeover: TakeOver,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            relay_id: bytes::Bytes::from_static(b"tern-relay"),
            max_depth: 8,
            linger: Duration::from_secs(5),
            max_rendezvous: Duration::from_secs(30),
            max_subscriptions_per_session: 1000,
            cluster: None,
            open_publishing: true,
            takeover: TakeOver::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    /// SUBSCRIBE sent, waiting for SUBSCRIBE_OK.
    Pending(SessionId),
    /// Established through our SUBSCRIBE.
    Subscribed(SessionId),
    /// The publisher pushed it with PUBLISH.
    Published(SessionId, RequestId),
}

impl Upstream {
    fn session(self) -> SessionId {
        match self {
            Upstream::Pending(s) | Upstream::Subscribed(s) | Upstream::Published(s, _) => s,
        }
    }
}

#[derive(Debug)]
struct TrackEntry {
    name: TrackName,
    upstream: Upstream,
    /// Established downstream subscriptions.
    subscribers: Vec<(SessionId, RequestId)>,
    /// Downstream SUBSCRIBEs waiting for the upstream SUBSCRIBE_OK.
    waiting: Vec<(SessionId, RequestId, Filter)>,
    idle_since: Option<Instant>,
    /// Since when the track has had no live upstream: its subscribers are held for the linger
    /// window while a publisher may come back.
    lost_since: Option<Instant>,
    /// During a move away from an upstream that sent GOAWAY: that upstream, still feeding the
    /// track until the new one answers.
    replacing: Option<SessionId>,
    /// Upstreams that failed this track since it last had a working one (not tried again).
    tried: Vec<SessionId>,
    /// The upstream that sent PUBLISH_DONE for the track, while the driver lets its last data
    /// land: its session closing meanwhile is the end the publisher announced, not a loss.
    done_from: Option<SessionId>,
    /// A cluster member has fed the track: from now on only members may (see [`Publishers`]).
    member_fed: bool,
    /// Sessions entered in [`Router::feeds`] for this track (its upstream now and before, while
    /// still related: moving away from, or ended with PUBLISH_DONE).
    fed_from: Vec<SessionId>,
    /// Who PUBLISHed the track, while it is published (see [`TakeOver`]); `None` for a track
    /// this relay subscribed to (its upstream session's publisher).
    fed_by: Option<Publisher>,
}

#[derive(Debug)]
struct Rendezvous {
    session: SessionId,
    request: RequestId,
    name: TrackName,
    filter: Filter,
    deadline: Instant,
}

/// The control plane of one relay node.
///
/// Every map is ordered (its iteration order reaches the commands, which must not depend on
/// hashing), and every path looks up what it touches through an index, never by walking every
/// track, namespace, request or rendezvous waiter: a relay holding 10,000 of each answers as
/// fast as one holding 100 (`relay/tests/router_cost.rs`).
#[derive(Debug, Default)]
pub struct Router {
    config: RouterConfig,
    next_track: TrackId,
    tracks: BTreeMap<TrackId, TrackEntry>,
    /// Tracks by name: ordered, so that the tracks under a namespace are one range.
    by_name: BTreeMap<TrackName, TrackId>,
    /// Downstream subscriptions (established or waiting for their upstream) → their track.
    subscriptions: BTreeMap<(SessionId, RequestId), TrackId>,
    /// (session, track) for each session a track is fed from (see [`TrackEntry::fed_from`]):
    /// a session's tracks are one range. Entries are checked against the track when used.
    feeds: BTreeSet<(SessionId, TrackId)>,
    /// PUBLISH_NAMESPACE: namespace → publishers, newest last.
    namespaces: BTreeMap<Namespace, Vec<(SessionId, RequestId)>>,
    /// PUBLISH_NAMESPACE: (session, request) → the namespace it announced (`namespaces` the
    /// other way round, so that a withdrawal never scans every namespace).
    announcements: BTreeMap<(SessionId, RequestId), Namespace>,
    /// SUBSCRIBE_NAMESPACE: (session, request) → prefix.
    namespace_subscribers: BTreeMap<(SessionId, RequestId), Namespace>,
    /// SUBSCRIBE_TRACKS: (session, request) → prefix.
    track_subscribers: BTreeMap<(SessionId, RequestId), Namespace>,
    /// SUBSCRIBEs waiting for a publisher, by (session, request) ...
    rendezvous: BTreeMap<(SessionId, RequestId), Rendezvous>,
    /// ... by the track they wait for (the waiters under a namespace are one range) ...
    rendezvous_by_name: BTreeSet<(TrackName, SessionId, RequestId)>,
    /// ... and by deadline, earliest first (an entry already answered is dropped when reached).
    rendezvous_deadlines: BinaryHeap<Reverse<(Instant, SessionId, RequestId)>>,
    /// Live downstream subscriptions per session (for the per-session cap).
    per_session: BTreeMap<SessionId, usize>,
    commands: VecDeque<Command>,
    /// Tracks forgotten since the driver last asked (see [`Router::poll_forgotten`]).
    forgotten: Vec<TrackId>,
    upstream_subscribes: u64,
    /// Sessions to upstream relays, and the namespaces announced on each.
    links: BTreeMap<SessionId, BTreeSet<Namespace>>,
    /// Hop lists of PUBLISH_NAMESPACEs that came with one.
    hops: BTreeMap<(SessionId, RequestId), Hops>,
    /// The relay id behind a session, when the peer is a tern relay.
    peer_relays: BTreeMap<SessionId, bytes::Bytes>,
    /// Loops detected so far (refused announcements, relays both above and below this one).
    loops: u64,
    /// Sessions that sent GOAWAY: no new subscription goes to them.
    going_away: BTreeSet<SessionId>,
    /// Upstream subscriptions moved to another upstream so far.
    failovers: u64,
    /// Sessions whose peer proved membership of the cluster.
    members: BTreeSet<SessionId>,
    /// Non-members that may publish though publishing is not open (see
    /// [`Router::handle_vouched`]).
    vouched: BTreeSet<SessionId>,
    /// Publishers refused for lack of trust so far.
    untrusted_refusals: u64,
    /// Who publishes on each session, where the driver said (see [`Router::handle_identity`]).
    identities: BTreeMap<SessionId, Publisher>,
    /// When lingering tracks (idle or lost) are due, earliest first. An entry whose track has
    /// moved on since is stale and dropped when reached, so the timer never walks all tracks.
    deadlines: BinaryHeap<Reverse<(Instant, TrackId)>>,
}

impl Router {
    /// A router with `config`.
    pub fn new(config: RouterConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Next command for the driver.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// Next track the router forgot (its publisher and subscribers are gone, or it restarted
    /// under a new ID): the driver drops its cache and ends its readers. Each forgotten track
    /// is reported once, so the driver never has to compare its tracks with the router's.
    pub fn poll_forgotten(&mut self) -> Option<TrackId> {
        self.forgotten.pop()
    }

    /// Earliest time [`Router::handle_timeout`] may have work to do (a stale linger deadline
    /// makes it early, never late).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let linger = self.deadlines.peek().map(|Reverse((at, _))| *at);
        let rdv = self
            .rendezvous_deadlines
            .peek()
            .map(|Reverse((at, ..))| *at);
        linger.into_iter().chain(rdv).min()
    }

    /// `track` has no subscriber left since `now`: its upstream subscription lingers.
    fn idle_from(&mut self, track: TrackId, now: Instant) {
        if let Some(entry) = self.tracks.get_mut(&track) {
            entry.idle_since = Some(now);
            self.linger_from(track, now);
        }
    }

    /// `track` lingers from `since` (idle or lost): it is due one linger window later.
    fn linger_from(&mut self, track: TrackId, since: Instant) {
        self.deadlines
            .push(Reverse((since + self.config.linger, track)));
    }

    /// Take the tracks whose linger deadline has come (whether still lingering or not).
    fn take_due(&mut self, now: Instant) -> Vec<TrackId> {
        let mut due = Vec::new();
        while let Some(Reverse((at, track))) = self.deadlines.peek().copied()
            && at <= now
        {
            self.deadlines.pop();
            due.push(track);
        }
        due.sort_unstable();
        due.dedup();
        due
    }

    /// Upstream SUBSCRIBEs sent so far (one per track per upstream, whatever the fan-out).
    pub fn upstream_subscribes(&self) -> u64 {
        self.upstream_subscribes
    }

    /// Name of a track.
    pub fn track_name(&self, track: TrackId) -> Option<&TrackName> {
        self.tracks.get(&track).map(|t| &t.name)
    }

    /// Track ID by name, if the relay has it.
    pub fn track_id(&self, name: &TrackName) -> Option<TrackId> {
        self.by_name.get(name).copied()
    }

    /// Downstream subscribers of a track.
    pub fn subscribers(&self, track: TrackId) -> &[(SessionId, RequestId)] {
        self.tracks.get(&track).map_or(&[], |t| &t.subscribers)
    }

    /// Number of tracks known.
    pub fn track_count(&self) -> usize {
        self.tracks.len()
    }

    /// The session to ask upstream about `name`: the track's upstream if the relay has the
    /// track, else the publisher of the longest matching namespace.
    pub fn upstream_for(&self, name: &TrackName) -> Option<SessionId> {
        self.by_name
            .get(name)
            .and_then(|id| self.tracks.get(id))
            .map(|t| t.upstream.session())
            .or_else(|| self.publisher_for(name, &[], false))
    }

    /// Which session publishes a namespace covering `name`, never one in `avoid` (the asking
    /// subscriber, upstreams that failed) nor one going away: a trusted one before an outsider
    /// (see [`Publishers`]), then the longest prefix; within it a publisher below this relay
    /// before a route learned from an upstream, then the newest.
    ///
    /// A member route is a member's own announcement, not one that entered the tree from an
    /// outsider below it (see [`super::hops::OUTSIDER`]); `members_only` skips the others.
    fn publisher_for(
        &self,
        name: &TrackName,
        avoid: &[SessionId],
        members_only: bool,
    ) -> Option<SessionId> {
        self.routes_to(&name.namespace)
            .flat_map(|(ns, pubs)| {
                pubs.iter()
                    .enumerate()
                    .filter(|(_, (s, _))| !avoid.contains(s) && !self.going_away.contains(s))
                    .map(move |(i, &(s, r))| {
                        let member = self.member_route(s, r);
                        (member, ns.len(), !self.links.contains_key(&s), i, s)
                    })
                    .filter(|(member, ..)| *member || !members_only)
            })
            .max()
            .map(|(.., s)| s)
    }

    /// Whether a track of `namespace` has somewhere to come from: a publisher or an upstream
    /// announced the namespace or a prefix of it, or a track of it is held. A lookup per field
    /// of the namespace, whatever the number the relay holds.
    pub fn is_reachable(&self, namespace: &Namespace) -> bool {
        self.routes_to(namespace).next().is_some()
            || self
                .tracks_under(namespace)
                .next()
                .is_some_and(|(n, _)| &n.namespace == namespace)
    }

    /// The names of the tracks of exactly `namespace` the relay holds, in order.
    pub fn tracks_of(&self, namespace: &Namespace) -> Vec<bytes::Bytes> {
        self.tracks_under(namespace)
            .take_while(|(n, _)| &n.namespace == namespace)
            .map(|(n, _)| n.name.clone())
            .collect()
    }

    /// Whether the announcement `request` of `session` is a member route: the session is
    /// trusted and the announcement did not enter the tree from an outsider.
    fn member_route(&self, session: SessionId, request: RequestId) -> bool {
        self.is_trusted(session)
            && !self
                .hops
                .get(&(session, request))
                .is_some_and(|h| super::hops::from_outsider(h))
    }

    /// The announced namespaces that are prefixes of `namespace` (itself included), shortest
    /// first, with their publishers: one lookup per field of `namespace`, whatever the number
    /// of namespaces the relay holds.
    fn routes_to<'a>(
        &'a self,
        namespace: &'a [bytes::Bytes],
    ) -> impl Iterator<Item = (&'a Namespace, &'a Vec<(SessionId, RequestId)>)> + 'a {
        (1..=namespace.len()).filter_map(|k| self.namespaces.get_key_value(&namespace[..k]))
    }

    /// Whether `session` feeds `name` over a member route.
    fn member_route_for(&self, session: SessionId, name: &TrackName) -> bool {
        self.routes_to(&name.namespace)
            .flat_map(|(_, pubs)| pubs.iter())
            .any(|&(s, r)| s == session && self.member_route(s, r))
    }

    /// Whether `session` is one of this relay's links to an upstream relay.
    pub fn is_link(&self, session: SessionId) -> bool {
        self.links.contains_key(&session)
    }

    fn new_track(&mut self, name: TrackName, upstream: Upstream) -> TrackId {
        let member_fed = match upstream {
            // PUBLISHed here: its session is the publisher itself.
            Upstream::Published(s, _) => self.is_trusted(s),
            _ => self.member_route_for(upstream.session(), &name),
        };
        let id = self.next_track;
        self.next_track += 1;
        self.by_name.insert(name.clone(), id);
        self.tracks.insert(
            id,
            TrackEntry {
                name,
                upstream,
                subscribers: Vec::new(),
                waiting: Vec::new(),
                idle_since: None,
                lost_since: None,
                replacing: None,
                tried: Vec::new(),
                done_from: None,
                member_fed,
                fed_from: Vec::new(),
                fed_by: None,
            },
        );
        self.note_feed(id, upstream.session());
        id
    }

    /// `session` feeds `track` (or is still related as its upstream: see
    /// [`TrackEntry::fed_from`]). Sessions no longer related leave the index here.
    fn note_feed(&mut self, track: TrackId, session: SessionId) {
        let Some(entry) = self.tracks.get_mut(&track) else {
            return;
        };
        let (upstream, replacing, done) =
            (entry.upstream.session(), entry.replacing, entry.done_from);
        let feeds = &mut self.feeds;
        entry.fed_from.retain(|&s| {
            let related = s == session || s == upstream || replacing == Some(s) || done == Some(s);
            if !related {
                feeds.remove(&(s, track));
            }
            related
        });
        if !entry.fed_from.contains(&session) {
            entry.fed_from.push(session);
        }
        feeds.insert((session, track));
    }

    /// The tracks `session` feeds or fed (a superset: check the entry).
    fn fed_by_session(&self, session: SessionId) -> Vec<TrackId> {
        self.feeds
            .range((session, TrackId::MIN)..=(session, TrackId::MAX))
            .map(|&(_, t)| t)
            .collect()
    }

    /// The tracks whose namespace is `prefix` or under it, in name order.
    fn tracks_under<'a>(
        &'a self,
        prefix: &'a Namespace,
    ) -> impl Iterator<Item = (&'a TrackName, TrackId)> + 'a {
        let start = TrackName {
            namespace: prefix.clone(),
            name: bytes::Bytes::new(),
        };
        self.by_name
            .range(start..)
            .take_while(move |(n, _)| is_prefix(prefix, &n.namespace))
            .map(|(n, &t)| (n, t))
    }

    /// A downstream SUBSCRIBE. `rendezvous` is how long to wait for a publisher that is not
    /// there yet (zero: refuse at once).
    pub fn handle_subscribe(
        &mut self,
        session: SessionId,
        request: RequestId,
        name: TrackName,
        filter: Filter,
        rendezvous: Duration,
        now: Instant,
    ) {
        let count = self.per_session.get(&session).copied().unwrap_or(0);
        if count >= self.config.max_subscriptions_per_session {
            self.refuse(session, request, Refusal::ExcessiveLoad);
            return;
        }
        if name.namespace.first().is_some_and(|f| f.as_ref() == b".") {
            self.refuse(session, request, Refusal::Invalid);
            return;
        }
        if let Some(&track) = self.by_name.get(&name) {
            let entry = &self.tracks[&track];
            if entry.upstream.session() == session {
                // The track comes from this very session: serving it back would loop.
                self.refuse(session, request, Refusal::DoesNotExist);
                return;
            }
            if entry.subscribers.iter().any(|(s, _)| *s == session)
                || entry.waiting.iter().any(|(s, _, _)| *s == session)
            {
                self.refuse(session, request, Refusal::DuplicateSubscription);
                return;
            }
            *self.per_session.entry(session).or_default() += 1;
            self.attach(track, session, request, filter);
            return;
        }
        if let Some(publisher) = self.publisher_for(&name, &[session], false) {
            *self.per_session.entry(session).or_default() += 1;
            let track = self.new_track(name.clone(), Upstream::Pending(publisher));
            self.upstream_subscribes += 1;
            let upstream_filter = match filter {
                Filter::AbsoluteStart(_) | Filter::AbsoluteRange(..) => filter,
                // Every draft can say the whole end group; this relay's subscriber gets the
                // objects up to its end object (draft-18 upstreams have no end object).
                Filter::AbsoluteRangeToObject(start, delta, _) => {
                    Filter::AbsoluteRange(start, delta)
                }
                Filter::LargestObject | Filter::NextGroupStart | Filter::RelativeStart(_) => {
                    Filter::LargestObject
                }
            };
            self.commands.push_back(Command::SubscribeUpstream {
                session: publisher,
                track,
                name,
                filter: upstream_filter,
                resume: false,
            });
            self.attach(track, session, request, filter);
            return;
        }
        let wait = rendezvous.min(self.config.max_rendezvous);
        if wait.is_zero() {
            self.refuse(session, request, Refusal::DoesNotExist);
            return;
        }
        if self.rendezvous.contains_key(&(session, request)) {
            // The driver refuses a reused Request ID; one that slipped through waits once.
            self.refuse(session, request, Refusal::Invalid);
            return;
        }
        *self.per_session.entry(session).or_default() += 1;
        let deadline = now + wait;
        self.rendezvous_deadlines
            .push(Reverse((deadline, session, request)));
        self.rendezvous_by_name
            .insert((name.clone(), session, request));
        self.rendezvous.insert(
            (session, request),
            Rendezvous {
                session,
                request,
                name,
                filter,
                deadline,
            },
        );
    }

    fn attach(&mut self, track: TrackId, session: SessionId, request: RequestId, filter: Filter) {
        let Some(entry) = self.tracks.get_mut(&track) else {
            return;
        };
        self.subscriptions.insert((session, request), track);
        entry.idle_since = None;
        match entry.upstream {
            Upstream::Pending(_) => entry.waiting.push((session, request, filter)),
            Upstream::Subscribed(_) | Upstream::Published(..) => {
                entry.subscribers.push((session, request));
                self.commands.push_back(Command::SubscribeOk {
                    session,
                    request,
                    track,
                    filter,
                });
            }
        }
    }

    fn refuse(&mut self, session: SessionId, request: RequestId, reason: Refusal) {
        self.commands.push_back(Command::Refuse {
            session,
            request,
            reason,
        });
    }

    /// The upstream at `session` accepted our SUBSCRIBE for `track`. An answer from an
    /// upstream the track is no longer waiting on (one it moved away from, or one whose
    /// subscription was cancelled) is no answer for the track: its subscribers wait for their
    /// current upstream's.
    pub fn handle_upstream_ok(&mut self, track: TrackId, session: SessionId) {
        let Some(entry) = self.tracks.get_mut(&track) else {
            return;
        };
        if entry.upstream.session() != session {
            tracing::debug!(track = %entry.name, session, "an answer from an upstream the track moved away from");
            return;
        }
        if let Upstream::Pending(s) = entry.upstream {
            entry.upstream = Upstream::Subscribed(s);
        }
        entry.tried.clear();
        if let Some(old) = entry.replacing.take() {
            // The move away from an upstream going away is done: let go of the old one.
            self.commands.push_back(Command::UnsubscribeUpstream {
                session: old,
                track,
            });
        }
        for (session, request, filter) in std::mem::take(&mut entry.waiting) {
            entry.subscribers.push((session, request));
            self.commands.push_back(Command::SubscribeOk {
                session,
                request,
                track,
                filter,
            });
        }
    }

    /// The upstream refused our SUBSCRIBE (REQUEST_ERROR with `code`).
    pub fn handle_upstream_error(&mut self, track: TrackId, code: u64) {
        if let Some(entry) = self.remove_track(track) {
            self.end_track(entry, Refusal::Upstream(code), Ended::Upstream(code));
        }
    }

    /// A removed track's waiting subscribers are refused with `refusal`, its established ones
    /// get PUBLISH_DONE for `reason`.
    fn end_track(&mut self, entry: TrackEntry, refusal: Refusal, reason: Ended) {
        for (session, request, _) in entry.waiting {
            self.release(session);
            self.refuse(session, request, refusal);
        }
        for (session, request) in entry.subscribers {
            self.release(session);
            self.commands.push_back(Command::PublishDone {
                session,
                request,
                reason,
            });
        }
    }

    /// The track `session` pushes with PUBLISH request `request`.
    fn published_track(&self, session: SessionId, request: RequestId) -> Option<TrackId> {
        self.fed_by_session(session).into_iter().find(|t| {
            self.tracks
                .get(t)
                .is_some_and(|e| e.upstream == Upstream::Published(session, request))
        })
    }

    /// Before a new PUBLISH of `name`: a track nobody watches, or whose publisher already
    /// said PUBLISH_DONE, is not taken over but ended, so that the new publisher starts afresh
    /// (its objects are not judged against the old one's cache).
    fn end_stale(&mut self, name: &TrackName) {
        let Some(&old) = self.by_name.get(name) else {
            return;
        };
        let stale = self.tracks.get(&old).is_some_and(|e| {
            e.done_from.is_some() || (e.subscribers.is_empty() && e.waiting.is_empty())
        });
        if !stale {
            return;
        }
        let Some(entry) = self.remove_track(old) else {
            return;
        };
        if let Upstream::Pending(s) | Upstream::Subscribed(s) = entry.upstream {
            self.commands.push_back(Command::UnsubscribeUpstream {
                session: s,
                track: old,
            });
        }
        self.end_track(entry, Refusal::DoesNotExist, Ended::Upstream(0x2));
    }

    /// The upstream ended the track (PUBLISH_DONE with `status`).
    pub fn handle_upstream_done(&mut self, track: TrackId, status: u64) {
        if let Some(entry) = self.remove_track(track) {
            tracing::debug!(
                track = %entry.name,
                status,
                subscribers = entry.subscribers.len(),
                waiting = entry.waiting.len(),
                "the upstream ended the track"
            );
            self.end_track(entry, Refusal::Upstream(status), Ended::Upstream(status));
        }
    }

    /// Forget a track. An upstream it was moving away from, still feeding it, is cancelled.
    fn remove_track(&mut self, track: TrackId) -> Option<TrackEntry> {
        let entry = self.tracks.remove(&track)?;
        self.forgotten.push(track);
        self.by_name.remove(&entry.name);
        for &s in &entry.fed_from {
            self.feeds.remove(&(s, track));
        }
        let downstream = entry.subscribers.iter().copied();
        for key in downstream.chain(entry.waiting.iter().map(|&(s, r, _)| (s, r))) {
            if self.subscriptions.get(&key) == Some(&track) {
                self.subscriptions.remove(&key);
            }
        }
        if let Some(session) = entry.replacing {
            self.commands
                .push_back(Command::UnsubscribeUpstream { session, track });
        }
        Some(entry)
    }

    fn release(&mut self, session: SessionId) {
        if let Some(n) = self.per_session.get_mut(&session) {
            *n = n.saturating_sub(1);
        }
    }

    /// A downstream subscriber cancelled (STOP_SENDING on its request stream / UNSUBSCRIBE).
    pub fn handle_unsubscribe(&mut self, session: SessionId, request: RequestId, now: Instant) {
        if self.take_rendezvous((session, request)).is_some() {
            self.release(session);
            return;
        }
        // The track the subscription was on, and whether it left it idle.
        let mut found: Option<(TrackId, bool)> = None;
        if let Some(id) = self.subscriptions.remove(&(session, request))
            && let Some(entry) = self.tracks.get_mut(&id)
        {
            let n = entry.subscribers.len() + entry.waiting.len();
            entry
                .subscribers
                .retain(|&(s, r)| !(s == session && r == request));
            entry
                .waiting
                .retain(|&(s, r, _)| !(s == session && r == request));
            if entry.subscribers.len() + entry.waiting.len() != n {
                found = Some((id, entry.subscribers.is_empty() && entry.waiting.is_empty()));
            }
        }
        if let Some((track, idle)) = found {
            self.release(session);
            if idle {
                self.idle_from(track, now);
            }
        }
    }

    /// A publisher pushed a track with PUBLISH. Objects may follow at once.
    pub fn handle_publish(
        &mut self,
        session: SessionId,
        request: RequestId,
        name: TrackName,
        now: Instant,
    ) -> Option<TrackId> {
        if name.namespace.is_empty() {
            self.refuse(session, request, Refusal::EmptyNamespace);
            return None;
        }
        if !self.admit_publisher(session, request) {
            return None;
        }
        // A track still published (watched or not) is the take-over policy's to give.
        if let Some(&t) = self.by_name.get(&name)
            && self.tracks.get(&t).is_some_and(|e| e.done_from.is_none())
            && !self.admit_takeover(t, session, request)
        {
            return None;
        }
        self.end_stale(&name);
        let track = match self.by_name.get(&name) {
            Some(&t) => {
                // A new publisher of the same track takes over: no ghost publisher.
                self.take_over(t, session, request);
                t
            }
            None => {
                let t = self.new_track(name.clone(), Upstream::Published(session, request));
                self.idle_from(t, now);
                t
            }
        };
        self.note_feeder(track, session);
        self.commands.push_back(Command::Ok { session, request });
        self.handle_upstream_ok(track, session);
        // Subscribers waiting for this track get it through their SUBSCRIBE, not a PUBLISH.
        let waiting: Vec<SessionId> = self
            .rendezvous_for(&name)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let keys = self.rendezvous_for(&name);
        self.match_rendezvous(keys, now);
        let offers: Vec<(SessionId, RequestId)> = self
            .track_subscribers
            .iter()
            .filter(|((s, _), prefix)| {
                *s != session && !waiting.contains(s) && is_prefix(prefix, &name.namespace)
            })
            .map(|(&k, _)| k)
            .collect();
        for (s, r) in offers {
            self.commands.push_back(Command::PublishDownstream {
                session: s,
                request: r,
                track,
            });
        }
        Some(track)
    }

    /// A PUBLISHed track ended (PUBLISH_DONE, or its request stream closed). If another
    /// publisher has taken the track over since, it carries on and nothing ends.
    pub fn handle_publish_done(&mut self, session: SessionId, request: RequestId, status: u64) {
        if let Some(track) = self.published_track(session, request) {
            self.handle_upstream_done(track, status);
        }
    }

    /// PUBLISH_NAMESPACE from a publisher (or a namespace learned over an upstream link).
    /// `hops` is the path it came along (empty from a plain publisher).
    pub fn handle_publish_namespace(
        &mut self,
        session: SessionId,
        request: RequestId,
        namespace: Namespace,
        hops: Hops,
        now: Instant,
    ) {
        if namespace.is_empty() {
            self.refuse(session, request, Refusal::EmptyNamespace);
            return;
        }
        if self.announcements.contains_key(&(session, request)) {
            // The driver refuses a reused Request ID; one that slipped through is not a second
            // route under the same key.
            self.refuse(session, request, Refusal::Invalid);
            return;
        }
        if namespace.first().is_some_and(|f| f.as_ref() == b".") {
            self.refuse(session, request, Refusal::Invalid);
            return;
        }
        if hops.contains(&self.config.relay_id) {
            self.loops += 1;
            self.refuse(session, request, Refusal::Loop);
            return;
        }
        if hops.len() >= self.config.max_depth {
            self.loops += 1;
            self.refuse(session, request, Refusal::TooDeep);
            return;
        }
        if !self.admit_publisher(session, request) {
            return;
        }
        if let Some(last) = hops.last() {
            self.handle_peer_relay(session, last.clone());
        }
        if !hops.is_empty() {
            self.hops.insert((session, request), hops);
        }
        let before = self.watchers(&namespace);
        self.namespaces
            .entry(namespace.clone())
            .or_default()
            .push((session, request));
        self.announcements
            .insert((session, request), namespace.clone());
        self.commands.push_back(Command::Ok { session, request });
        self.namespace_changed(&namespace, before);
        let keys = self.rendezvous_under(&namespace);
        self.match_rendezvous(keys, now);
        self.recover(&namespace, now);
    }

    /// The publisher withdrew a namespace (cancelled its PUBLISH_NAMESPACE request).
    pub fn handle_publish_namespace_done(&mut self, session: SessionId, request: RequestId) {
        if let Some(ns) = self.announcements.remove(&(session, request)) {
            let before = self.watchers(&ns);
            if let Some(pubs) = self.namespaces.get_mut(&ns) {
                pubs.retain(|&p| p != (session, request));
                if pubs.is_empty() {
                    self.namespaces.remove(&ns);
                }
            }
            self.namespace_changed(&ns, before);
        }
        self.hops.remove(&(session, request));
    }

    /// The peer on `session` is the tern relay `relay` (its SETUP option, or the last hop of
    /// what it sent). Returns why this is a loop when that relay is also on the other side of
    /// this one (above and below at once).
    pub fn handle_peer_relay(&mut self, session: SessionId, relay: bytes::Bytes) -> Option<String> {
        if self.peer_relays.get(&session) == Some(&relay) {
            return None;
        }
        // Whose view can change: the session's own listings, and others' of what it publishes.
        let mut all: BTreeSet<Namespace> = keys_of(&self.announcements, session)
            .iter()
            .filter_map(|k| self.announcements.get(k).cloned())
            .collect();
        for key in keys_of(&self.namespace_subscribers, session) {
            let prefix = &self.namespace_subscribers[&key];
            all.extend(self.namespaces_under(prefix).cloned());
        }
        let before: Vec<_> = all.iter().map(|ns| self.watchers(ns)).collect();
        let is_link = self.links.contains_key(&session);
        let twin = self
            .peer_relays
            .iter()
            .find(|(s, r)| **r == relay && self.links.contains_key(s) != is_link)
            .map(|(s, _)| *s);
        let loop_reason = (relay == self.config.relay_id || twin.is_some()).then(|| {
            self.loops += 1;
            format!(
                "relay {} is both upstream and downstream of this one (sessions {session} and \
                 {}): a misconfigured loop; namespaces are not echoed between them",
                String::from_utf8_lossy(&relay),
                twin.unwrap_or(session)
            )
        });
        self.peer_relays.insert(session, relay);
        for (ns, before) in all.iter().zip(before) {
            self.namespace_changed(ns, before);
        }
        loop_reason
    }

    /// This relay's id in hop lists.
    pub fn relay_id(&self) -> &bytes::Bytes {
        &self.config.relay_id
    }

    /// Longest hop list accepted.
    pub fn max_depth(&self) -> usize {
        self.config.max_depth
    }

    /// Loops detected so far.
    pub fn loops_detected(&self) -> u64 {
        self.loops
    }

    /// An upstream link is up: announce every namespace published below this relay to it.
    pub fn handle_link_up(&mut self, session: SessionId) {
        self.links.entry(session).or_default();
        let all: Vec<Namespace> = self.namespaces.keys().cloned().collect();
        for ns in all {
            self.sync_upstream(&ns);
        }
    }

    /// Whether `subscriber` may see `namespace`: some publisher of it is another session
    /// (a session is never told about what only it publishes).
    /// A session is never told about what only it publishes, and a tern relay never about
    /// what only it publishes over another session (a loop between two relays).
    fn visible(&self, namespace: &Namespace, subscriber: SessionId) -> bool {
        let relay = self.peer_relays.get(&subscriber);
        self.namespaces.get(namespace).is_some_and(|pubs| {
            pubs.iter().any(|(s, _)| {
                *s != subscriber && (relay.is_none() || self.peer_relays.get(s) != relay)
            })
        })
    }

    /// The SUBSCRIBE_NAMESPACE subscribers whose prefix covers `namespace`, and whether it is
    /// visible to each.
    fn watchers(&self, namespace: &Namespace) -> Vec<((SessionId, RequestId), bool)> {
        self.namespace_subscribers
            .iter()
            .filter(|(_, prefix)| is_prefix(prefix, namespace))
            .map(|(&key, _)| (key, self.visible(namespace, key.0)))
            .collect()
    }

    /// After the publishers of `namespace` changed: NAMESPACE / NAMESPACE_DONE to each
    /// subscriber whose view changed (`before` from [`Router::watchers`]), and the
    /// announcements to the upstream links.
    fn namespace_changed(
        &mut self,
        namespace: &Namespace,
        before: Vec<((SessionId, RequestId), bool)>,
    ) {
        for ((session, request), was) in before {
            let now = self.visible(namespace, session);
            if now == was {
                continue;
            }
            let namespace = namespace.clone();
            self.commands.push_back(if now {
                Command::Namespace {
                    session,
                    request,
                    namespace,
                }
            } else {
                Command::NamespaceDone {
                    session,
                    request,
                    namespace,
                }
            });
        }
        self.sync_upstream(namespace);
    }

    /// Announce `namespace` to each upstream link while a publisher below this relay has it,
    /// withdraw it when the last one leaves. Routes learned from an upstream never go back
    /// up (split horizon).
    fn sync_upstream(&mut self, namespace: &Namespace) {
        // The shortest member path among the publishers below this relay (an outsider's only
        // when there is none), then this relay. A path that enters the tree here from an
        // outsider says so in its first hop, for every relay above.
        let path: Option<Hops> = self.namespaces.get(namespace).and_then(|pubs| {
            pubs.iter()
                .filter(|(s, _)| !self.links.contains_key(s))
                .map(|&(s, r)| {
                    let mut hops = self.hops.get(&(s, r)).cloned().unwrap_or_default();
                    let member = self.member_route(s, r);
                    if !member && !super::hops::from_outsider(&hops) {
                        hops.insert(0, bytes::Bytes::from_static(super::hops::OUTSIDER));
                    }
                    (!member, hops.len(), hops)
                })
                .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)))
                .map(|(.., hops)| hops)
        });
        for (&session, announced) in self.links.iter_mut() {
            let has = announced.contains(namespace);
            match &path {
                Some(path) if !has => {
                    announced.insert(namespace.clone());
                    let mut hops = path.clone();
                    hops.push(self.config.relay_id.clone());
                    self.commands.push_back(Command::AnnounceUpstream {
                        session,
                        namespace: namespace.clone(),
                        hops,
                    });
                }
                None if has => {
                    announced.remove(namespace);
                    self.commands.push_back(Command::WithdrawUpstream {
                        session,
                        namespace: namespace.clone(),
                    });
                }
                _ => {}
            }
        }
    }

    /// The announced namespaces that are `prefix` or under it, in order.
    fn namespaces_under<'a>(
        &'a self,
        prefix: &'a Namespace,
    ) -> impl Iterator<Item = &'a Namespace> + 'a {
        self.namespaces
            .range::<[bytes::Bytes], _>((
                std::ops::Bound::Included(prefix.as_slice()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(ns, _)| is_prefix(prefix, ns))
            .map(|(ns, _)| ns)
    }

    /// SUBSCRIBE_NAMESPACE: acknowledge, then list matching namespaces now and as they come.
    pub fn handle_subscribe_namespace(
        &mut self,
        session: SessionId,
        request: RequestId,
        prefix: Namespace,
    ) {
        if overlaps(&self.namespace_subscribers, session, &prefix) {
            self.refuse(session, request, Refusal::PrefixOverlap);
            return;
        }
        self.commands.push_back(Command::Ok { session, request });
        let listed: Vec<Namespace> = self
            .namespaces_under(&prefix)
            .filter(|ns| self.visible(ns, session))
            .cloned()
            .collect();
        for namespace in listed {
            self.commands.push_back(Command::Namespace {
                session,
                request,
                namespace,
            });
        }
        self.namespace_subscribers
            .insert((session, request), prefix);
    }

    /// SUBSCRIBE_TRACKS: acknowledge, then offer every PUBLISHed track under the prefix (not
    /// the subscriber's own), now and as they come.
    pub fn handle_subscribe_tracks(
        &mut self,
        session: SessionId,
        request: RequestId,
        prefix: Namespace,
    ) {
        if overlaps(&self.track_subscribers, session, &prefix) {
            self.refuse(session, request, Refusal::PrefixOverlap);
            return;
        }
        self.commands.push_back(Command::Ok { session, request });
        let offers: Vec<TrackId> = self
            .tracks_under(&prefix)
            .map(|(_, id)| id)
            .filter(|id| {
                self.tracks.get(id).is_some_and(
                    |t| matches!(t.upstream, Upstream::Published(s, _) if s != session),
                )
            })
            .collect();
        for track in offers {
            self.commands.push_back(Command::PublishDownstream {
                session,
                request,
                track,
            });
        }
        self.track_subscribers.insert((session, request), prefix);
    }

    /// The subscriber cancelled its SUBSCRIBE_TRACKS.
    pub fn handle_subscribe_tracks_done(&mut self, session: SessionId, request: RequestId) {
        self.track_subscribers.remove(&(session, request));
    }

    /// The subscriber cancelled its SUBSCRIBE_NAMESPACE.
    pub fn handle_subscribe_namespace_done(&mut self, session: SessionId, request: RequestId) {
        self.namespace_subscribers.remove(&(session, request));
    }

    /// Serve waiting subscribers whose publisher has appeared.
    /// The waiters `keys` whose track is now known go on as SUBSCRIBEs; the others wait on.
    fn match_rendezvous(&mut self, keys: Vec<(SessionId, RequestId)>, now: Instant) {
        for key in keys {
            let Some(r) = self.rendezvous.get(&key) else {
                continue;
            };
            let known = self.by_name.contains_key(&r.name)
                || self.publisher_for(&r.name, &[r.session], false).is_some();
            if known && let Some(r) = self.take_rendezvous(key) {
                self.release(r.session);
                self.handle_subscribe(r.session, r.request, r.name, r.filter, Duration::ZERO, now);
            }
        }
    }

    /// The waiters for the track `name`.
    fn rendezvous_for(&self, name: &TrackName) -> Vec<(SessionId, RequestId)> {
        self.rendezvous_by_name
            .range((name.clone(), SessionId::MIN, RequestId::MIN)..)
            .take_while(|(n, ..)| n == name)
            .map(|&(_, s, r)| (s, r))
            .collect()
    }

    /// The waiters for tracks whose namespace is `prefix` or under it.
    fn rendezvous_under(&self, prefix: &Namespace) -> Vec<(SessionId, RequestId)> {
        let start = TrackName {
            namespace: prefix.clone(),
            name: bytes::Bytes::new(),
        };
        self.rendezvous_by_name
            .range((start, SessionId::MIN, RequestId::MIN)..)
            .take_while(|(n, ..)| is_prefix(prefix, &n.namespace))
            .map(|&(_, s, r)| (s, r))
            .collect()
    }

    /// Stop waiting for `key`'s publisher.
    fn take_rendezvous(&mut self, key: (SessionId, RequestId)) -> Option<Rendezvous> {
        let r = self.rendezvous.remove(&key)?;
        self.rendezvous_by_name
            .remove(&(r.name.clone(), key.0, key.1));
        Some(r)
    }

    /// A session ended: drop everything it published or subscribed.
    pub fn handle_session_closed(&mut self, session: SessionId, now: Instant) {
        self.per_session.remove(&session);
        self.members.remove(&session);
        self.vouched.remove(&session);
        self.identities.remove(&session);
        self.links.remove(&session);
        self.peer_relays.remove(&session);
        for key in keys_of(&self.rendezvous, session) {
            self.take_rendezvous(key);
        }
        for key in keys_of(&self.namespace_subscribers, session) {
            self.namespace_subscribers.remove(&key);
        }
        for key in keys_of(&self.track_subscribers, session) {
            self.track_subscribers.remove(&key);
        }
        for (_, r) in keys_of(&self.announcements, session) {
            self.handle_publish_namespace_done(session, r);
        }
        self.going_away.remove(&session);
        // The tracks the session subscribes to or feeds: no other track changes.
        let mut related: BTreeSet<TrackId> = self.fed_by_session(session).into_iter().collect();
        for key in keys_of(&self.subscriptions, session) {
            related.extend(self.subscriptions.remove(&key));
        }
        let mut gone = Vec::new();
        let mut lost = Vec::new();
        let mut idle_now = Vec::new();
        for id in related {
            let Some(entry) = self.tracks.get_mut(&id) else {
                continue;
            };
            entry.subscribers.retain(|(s, _)| *s != session);
            entry.waiting.retain(|(s, _, _)| *s != session);
            if entry.replacing == Some(session) {
                entry.replacing = None;
            }
            let idle = entry.subscribers.is_empty() && entry.waiting.is_empty();
            if entry.done_from == Some(session) {
                // Ends with its PUBLISH_DONE's status once the driver's grace is over.
            } else if entry.upstream.session() == session {
                if idle {
                    gone.push(id);
                } else {
                    lost.push(id);
                }
            } else if idle && entry.idle_since.is_none() {
                idle_now.push(id);
            }
        }
        for id in idle_now {
            self.idle_from(id, now);
        }
        for id in lost {
            self.fail_over(id, session, "upstream session closed", now);
        }
        for id in gone {
            if let Some(entry) = self.remove_track(id) {
                self.end_track(entry, Refusal::DoesNotExist, Ended::PublisherGone);
            }
        }
        // The session leaves the feeds index, except where a track still waits on it (its
        // PUBLISH_DONE's end, which the driver reports after the session's last data).
        for t in self.fed_by_session(session) {
            let still = self.tracks.get(&t).is_some_and(|e| {
                e.upstream.session() == session
                    || e.replacing == Some(session)
                    || e.done_from == Some(session)
            });
            if !still {
                self.feeds.remove(&(session, t));
            }
        }
    }

    /// Expire rendezvous waits and lingering upstream subscriptions.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, session, request))) = self.rendezvous_deadlines.peek().copied()
            && at <= now
        {
            self.rendezvous_deadlines.pop();
            if self
                .rendezvous
                .get(&(session, request))
                .is_some_and(|r| r.deadline == at)
            {
                self.take_rendezvous((session, request));
                self.release(session);
                self.refuse(session, request, Refusal::Timeout);
            }
        }
        let due = self.take_due(now);
        self.expire_lost(&due, now);
        let linger = self.config.linger;
        let idle: Vec<TrackId> = due
            .into_iter()
            .filter(|id| {
                self.tracks
                    .get(id)
                    .is_some_and(|t| t.idle_since.is_some_and(|i| now >= i + linger))
            })
            .collect();
        for id in idle {
            let Some(entry) = self.tracks.get(&id) else {
                continue;
            };
            // A PUBLISHed track stays while its publisher does: it pushes regardless.
            if matches!(entry.upstream, Upstream::Published(..)) {
                if let Some(e) = self.tracks.get_mut(&id) {
                    e.idle_since = None;
                }
                continue;
            }
            let session = entry.upstream.session();
            self.remove_track(id);
            self.commands
                .push_back(Command::UnsubscribeUpstream { session, track: id });
        }
    }
}

/// The keys of `session` in a map keyed by (session, request).
fn keys_of<V>(
    map: &BTreeMap<(SessionId, RequestId), V>,
    session: SessionId,
) -> Vec<(SessionId, RequestId)> {
    map.range((session, RequestId::MIN)..=(session, RequestId::MAX))
        .map(|(&k, _)| k)
        .collect()
}

/// Whether `prefix` shares a prefix with another subscription of `session` in `subs`.
fn overlaps(
    subs: &BTreeMap<(SessionId, RequestId), Namespace>,
    session: SessionId,
    prefix: &[bytes::Bytes],
) -> bool {
    subs.iter()
        .filter(|((s, _), _)| *s == session)
        .any(|(_, p)| is_prefix(p, prefix) || is_prefix(prefix, p))
}
