//! The node driver: one relay (origin, mid or edge) running the real sans-IO core.
//!
//! Each relay owns a real [`Router`] (sessions, SUBSCRIBE handling, one upstream subscription per
//! track, rendezvous, linger), a real [`Track`] cache per track swept under a real
//! [`CacheBudget`], and a real [`Fanout`] reader per downstream relay subscription. This driver
//! plays the part of the relay's async node driver: it turns messages from the network into
//! `handle_*` calls, and the readers' [`Delivery`]s into messages. The router's [`Command`]s go
//! through the same mapping to effects as in the relay's node loop
//! ([`tern_relay_core::dispatch::effect`]), in the router's order.
//!
//! Two things are aggregated rather than per viewer, at edges only:
//! - the data plane to viewers: one real [`Fanout`] per track reads the edge's cache on behalf of
//!   all its viewers; what it delivers is counted once per subscribed viewer as egress;
//! - a viewer's first object: viewers whose SUBSCRIBE_OK went out wait in a list that the next
//!   object delivered by that reader releases.
//!
//! Failover is the router's, as in the relay: the link to the upstream (the [`Uplink`]) is a
//! router session; when it dies the router hears the session close and holds the tracks it fed
//! (their subscribers stay); the driver connects to the next upstream candidate that is up, as a
//! new session, and asks for its namespaces; their announcement makes the router move each held
//! track there (its `SubscribeUpstream` with `resume`). As the relay's node fetches the gap from
//! the new upstream before the live objects, the driver asks from the object after the largest
//! one it holds (an Absolute Start filter: the new upstream backfills from its cache; duplicates
//! are dropped by location in [`Track::append`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tern_relay_core::cache::{CacheBudget, CacheGauge};
use tern_relay_core::dispatch::{Effect, Presence, effect};
use tern_relay_core::fanout::{Delivery, Fanout, LagPolicy};
use tern_relay_core::router::{Command, RequestId, Router, RouterConfig, SessionId, TrackId};
use tern_relay_core::track::{Appended, SubgroupEnd, Track};
use tern_relay_core::types::{Filter, Location, Object, TrackName};

use crate::msg::Msg;
use crate::net::NodeId;

/// How long a viewer's or relay's SUBSCRIBE waits for a publisher not yet known (rendezvous).
pub const RENDEZVOUS: Duration = Duration::from_secs(2);

/// The tier a relay sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// The root: the publisher is attached here.
    Origin,
    /// The middle tier.
    Mid,
    /// The edge tier: viewers attach here.
    Edge,
}

impl Tier {
    /// Lowercase name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Origin => "origin",
            Tier::Mid => "mid",
            Tier::Edge => "edge",
        }
    }
}

/// What is on the other side of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// A downstream relay.
    Relay(NodeId),
    /// A viewer (index in the run's viewer table).
    Viewer(usize),
    /// A link to an upstream relay.
    Upstream(NodeId),
    /// The media publisher (origin only).
    Publisher,
}

/// The link to the upstream tier, which moves to another candidate on failover.
#[derive(Debug, Clone)]
pub struct Uplink {
    /// The router's session for the link now: a new one per connection (none while
    /// connecting).
    session: Option<SessionId>,
    /// The upstream relay currently used.
    pub node: NodeId,
    /// Upstream relays in the order they are tried.
    pub candidates: Vec<NodeId>,
    /// Failovers done.
    pub failovers: u64,
}

/// Something the node asks the simulation to do.
#[derive(Debug)]
pub enum Out {
    /// Send a message to another relay.
    Send(NodeId, Msg),
    /// These viewers' first object left the edge now.
    FirstMedia(Vec<usize>),
    /// This viewer's SUBSCRIBE was refused or its subscription ended.
    ViewerEnded(usize),
}

/// Counters of one relay.
#[derive(Debug, Default, Clone)]
pub struct NodeStats {
    /// Bytes sent to downstream relays, per second of virtual time.
    pub relay_egress: Vec<u64>,
    /// Bytes delivered to viewers (aggregated: one read × viewers), per second.
    pub viewer_egress: Vec<u64>,
    /// SUBSCRIBEs received from relays or viewers.
    pub subscribes_in: u64,
    /// Objects cached for the first time.
    pub objects_new: u64,
    /// Objects dropped as duplicates (by location).
    pub duplicates: u64,
    /// Times an object arrived that was not the successor of the largest one held.
    pub gaps: u64,
    /// Time from an upstream failure to the next new object, per failover.
    pub recoveries: Vec<Duration>,
}

fn add_bin(bins: &mut Vec<u64>, t: Duration, bytes: u64) {
    let i = t.as_secs() as usize;
    if bins.len() <= i {
        bins.resize(i + 1, 0);
    }
    bins[i] += bytes;
}

/// One relay and its driver state.
pub struct Relay {
    /// Node id in the network.
    pub id: NodeId,
    /// Tier.
    pub tier: Tier,
    base: Instant,
    router: Router,
    tracks: BTreeMap<TrackId, Track>,
    /// Readers of downstream relay subscriptions: (session, request) → (track, reader).
    readers: BTreeMap<(SessionId, RequestId), (TrackId, Fanout)>,
    /// Edge: one reader per track on behalf of every viewer.
    pool: BTreeMap<TrackId, Fanout>,
    /// Edge: viewers whose SUBSCRIBE_OK went out and who wait for their first object.
    awaiting: BTreeMap<TrackId, Vec<usize>>,
    sessions: BTreeMap<SessionId, Peer>,
    by_node: BTreeMap<NodeId, SessionId>,
    next_session: SessionId,
    /// Tracks subscribed upstream: track → name.
    upstream_tracks: BTreeMap<TrackId, TrackName>,
    /// Largest location cached per track, and whether it ended its group (gap detection).
    largest: BTreeMap<TrackId, (Location, bool)>,
    /// The link to the upstream tier (none at the origin).
    pub uplink: Option<Uplink>,
    outage_since: Option<Duration>,
    /// The node's cache: every track is charged to it at append, and its writer pays.
    cache: std::sync::Arc<CacheGauge>,
    lag: LagPolicy,
    /// When the control plane is free again (control messages are handled one at a time).
    pub busy_until: Duration,
    /// The router timer scheduled with the simulation, if any.
    pub timer: Option<Duration>,
    out: Vec<Out>,
    /// Counters.
    pub stats: NodeStats,
}

impl Relay {
    /// A relay; `uplink` lists its upstream candidates in order (empty at the origin).
    pub fn new(
        id: NodeId,
        tier: Tier,
        base: Instant,
        linger: Duration,
        uplink: Vec<NodeId>,
    ) -> Self {
        let router = Router::new(RouterConfig {
            relay_id: bytes::Bytes::from(format!("{}-{id}", tier.name())),
            linger,
            ..RouterConfig::default()
        });
        let mut relay = Self {
            id,
            tier,
            base,
            router,
            tracks: BTreeMap::new(),
            readers: BTreeMap::new(),
            pool: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            sessions: BTreeMap::new(),
            by_node: BTreeMap::new(),
            next_session: 1,
            upstream_tracks: BTreeMap::new(),
            largest: BTreeMap::new(),
            uplink: None,
            outage_since: None,
            cache: std::sync::Arc::new(CacheGauge::new(CacheBudget::default())),
            lag: LagPolicy::default(),
            busy_until: Duration::ZERO,
            timer: None,
            out: Vec::new(),
            stats: NodeStats::default(),
        };
        if let Some(&first) = uplink.first() {
            let session = relay.new_session(Peer::Upstream(first));
            relay.router.handle_link_up(session);
            relay.uplink = Some(Uplink {
                session: Some(session),
                node: first,
                candidates: uplink,
                failovers: 0,
            });
        }
        relay
    }

    fn at(&self, t: Duration) -> Instant {
        self.base + t
    }

    fn new_session(&mut self, peer: Peer) -> SessionId {
        let s = self.next_session;
        self.next_session += 1;
        self.sessions.insert(s, peer);
        s
    }

    fn session_of(&mut self, node: NodeId) -> SessionId {
        if let Some(&s) = self.by_node.get(&node) {
            return s;
        }
        let s = self.new_session(Peer::Relay(node));
        self.by_node.insert(node, s);
        s
    }

    /// Take what the node asks the simulation to do.
    pub fn take_out(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }

    /// The router's next deadline, as virtual time.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.router
            .poll_timeout()
            .map(|i| i.saturating_duration_since(self.base))
    }

    /// Upstream SUBSCRIBEs the router has sent (one per track per upstream).
    pub fn upstream_subscribes(&self) -> u64 {
        self.router.upstream_subscribes()
    }

    /// Downstream subscriptions held now: relays and viewers.
    pub fn subscriptions(&self) -> usize {
        self.tracks
            .keys()
            .map(|&t| self.router.subscribers(t).len())
            .sum()
    }

    /// Whether the relay has lost its upstream and has had no new object since.
    pub fn in_outage(&self) -> bool {
        self.outage_since.is_some()
    }

    /// Number of tracks in the relay's cache.
    pub fn track_count(&self) -> usize {
        self.tracks.len()
    }

    // ---- inputs -----------------------------------------------------------------------------

    /// Origin: the publisher announces `name`'s namespace and publishes the track.
    pub fn publish(&mut self, name: &TrackName, t: Duration) -> TrackId {
        let s = self.new_session(Peer::Publisher);
        let now = self.at(t);
        self.router
            .handle_publish_namespace(s, 0, name.namespace.clone(), Vec::new(), now);
        let track = self
            .router
            .handle_publish(s, 1, name.clone(), now)
            .expect("the simulated tree has no cluster: every publisher is admitted");
        self.tracks
            .entry(track)
            .or_insert_with(|| Track::charged_to(self.cache.clone()));
        self.drain(t);
        track
    }

    /// Origin: the publisher produced `object` (the source ends each subgroup with its group).
    pub fn produce(&mut self, track: TrackId, object: Object, t: Duration) {
        let end = object.end_of_group;
        let group = object.location.group;
        self.append(track, object, 0, 2, t);
        if end && let Some(tr) = self.tracks.get_mut(&track) {
            tr.end_subgroup(group, 0, SubgroupEnd::Fin, true);
            self.pump(track, t);
        }
    }

    /// Ask the upstream for its namespaces (a downstream relay does this when its link is up).
    pub fn start(&mut self) {
        if let Some(up) = &self.uplink {
            self.out
                .push(Out::Send(up.node, Msg::SubscribeNamespace { request: 0 }));
        }
    }

    /// A viewer's SUBSCRIBE arrives (a new session on this edge). Returns the session.
    pub fn viewer_subscribe(&mut self, viewer: usize, name: &TrackName, t: Duration) -> SessionId {
        let s = self.new_session(Peer::Viewer(viewer));
        self.stats.subscribes_in += 1;
        self.router.handle_subscribe(
            s,
            0,
            name.clone(),
            Filter::LargestObject,
            RENDEZVOUS,
            self.at(t),
        );
        self.drain(t);
        s
    }

    /// A message from relay `from`.
    pub fn handle(&mut self, from: NodeId, msg: Msg, t: Duration) {
        let now = self.at(t);
        match msg {
            Msg::SubscribeNamespace { request } => {
                let s = self.session_of(from);
                self.router
                    .handle_subscribe_namespace(s, request, Vec::new());
            }
            Msg::Namespace { request, namespace } => {
                if let Some(s) = self.link_session(from) {
                    self.router
                        .handle_publish_namespace(s, request, namespace, Vec::new(), now);
                }
            }
            Msg::Subscribe {
                request,
                name,
                filter,
            } => {
                let s = self.session_of(from);
                self.stats.subscribes_in += 1;
                self.router
                    .handle_subscribe(s, request, name, filter, RENDEZVOUS, now);
            }
            Msg::SubscribeOk { request, largest } => {
                if self.upstream_tracks.contains_key(&request) {
                    if let (Some(l), Some(tr)) = (largest, self.tracks.get_mut(&request)) {
                        tr.note_upstream_largest(l);
                    }
                    // SUBSCRIBE_OK comes from the uplink, where the router subscribed.
                    if let Some(s) = self.link_session(from) {
                        self.router.handle_upstream_ok(request, s);
                    }
                }
            }
            Msg::SubscribeError { request, code } => {
                if self.upstream_tracks.remove(&request).is_some() {
                    self.router.handle_upstream_error(request, code);
                }
            }
            Msg::PublishDone { request, status } => {
                if self.upstream_tracks.remove(&request).is_some() {
                    self.router.handle_upstream_done(request, status);
                }
            }
            Msg::Unsubscribe { request } => {
                let s = self.session_of(from);
                self.readers.remove(&(s, request));
                self.router.handle_unsubscribe(s, request, now);
            }
            Msg::Object {
                request,
                subgroup,
                priority,
                object,
            } => self.append(request, object, subgroup, priority, t),
            Msg::SubgroupEnd {
                request,
                group,
                subgroup,
            } => {
                if let Some(tr) = self.tracks.get_mut(&request) {
                    tr.end_subgroup(group, subgroup, SubgroupEnd::Fin, true);
                    self.pump(request, t);
                }
            }
        }
        self.drain(t);
    }

    /// A downstream relay or viewer session is gone (its connection closed or timed out).
    pub fn session_closed(&mut self, session: SessionId, t: Duration) {
        if self.sessions.remove(&session).is_none() {
            return;
        }
        self.by_node.retain(|_, s| *s != session);
        self.readers.retain(|(s, _), _| *s != session);
        self.router.handle_session_closed(session, self.at(t));
        self.drain(t);
    }

    /// The session of downstream relay `node`, if it has one here.
    pub fn session_for_node(&self, node: NodeId) -> Option<SessionId> {
        self.by_node.get(&node).copied()
    }

    /// The session of the link to upstream `node`, if it is the one in use.
    fn link_session(&self, node: NodeId) -> Option<SessionId> {
        self.uplink
            .as_ref()
            .filter(|up| up.node == node)
            .and_then(|up| up.session)
    }

    /// The upstream relay died (noticed at `t`; it failed at `since`): its session closes (the
    /// router holds the tracks it fed) and the link moves to the next candidate that is up.
    /// Returns the new upstream, if any; the link is usable once the simulation calls
    /// [`Relay::uplink_connected`].
    pub fn uplink_lost(
        &mut self,
        since: Duration,
        t: Duration,
        is_up: impl Fn(NodeId) -> bool,
    ) -> Option<NodeId> {
        let old = self.uplink.as_mut()?.session.take();
        if let Some(old) = old {
            self.sessions.remove(&old);
            self.router.handle_session_closed(old, self.at(t));
            self.drain(t);
        }
        let up = self.uplink.as_mut()?;
        let pos = up
            .candidates
            .iter()
            .position(|&c| c == up.node)
            .unwrap_or(0);
        let n = up.candidates.len();
        let next = (1..n)
            .map(|i| up.candidates[(pos + i) % n])
            .find(|&c| is_up(c))?;
        up.node = next;
        up.failovers += 1;
        self.outage_since.get_or_insert(since);
        Some(next)
    }

    /// The link to the new upstream is up: a new session, which asks for the upstream's
    /// namespaces (their announcement moves the held tracks here, through the router).
    pub fn uplink_connected(&mut self, t: Duration) {
        let Some(node) = self.uplink.as_ref().map(|up| up.node) else {
            return;
        };
        let session = self.new_session(Peer::Upstream(node));
        self.router.handle_link_up(session);
        if let Some(up) = self.uplink.as_mut() {
            up.session = Some(session);
        }
        self.start();
        self.drain(t);
    }

    /// The router's timer fired.
    pub fn timeout(&mut self, t: Duration) {
        self.router.handle_timeout(self.at(t));
        self.drain(t);
    }

    /// Bytes the node's cache holds (charged as tracks change).
    pub fn cache_bytes(&self) -> usize {
        self.cache.bytes()
    }

    // ---- data plane -------------------------------------------------------------------------

    fn append(&mut self, track: TrackId, object: Object, subgroup: u64, priority: u8, t: Duration) {
        let now = self.at(t);
        let loc = object.location;
        let end = object.end_of_group;
        let Some(tr) = self.tracks.get_mut(&track) else {
            return;
        };
        match tr.append(object, subgroup, priority, now) {
            Appended::New(_) => {
                self.stats.objects_new += 1;
                let expected = self.largest.get(&track).map(|&(l, ended)| {
                    if ended {
                        Location::new(l.group + 1, 0)
                    } else {
                        Location::new(l.group, l.object + 1)
                    }
                });
                if expected.is_some_and(|e| loc > e) {
                    self.stats.gaps += 1;
                }
                if self.largest.get(&track).is_none_or(|&(l, _)| loc > l) {
                    self.largest.insert(track, (loc, end));
                }
                if let Some(since) = self.outage_since.take() {
                    self.stats.recoveries.push(t.saturating_sub(since));
                }
            }
            Appended::Duplicate => self.stats.duplicates += 1,
            Appended::Stale | Appended::Malformed(_) | Appended::OverBudget => {}
        }
        self.pump(track, t);
    }

    /// Let every reader of `track` take what is new in the cache.
    fn pump(&mut self, track: TrackId, t: Duration) {
        let now = self.at(t);
        let Some(tr) = self.tracks.get(&track) else {
            return;
        };
        for (&(session, request), (rt, reader)) in self.readers.iter_mut() {
            if *rt != track {
                continue;
            }
            let Some(&Peer::Relay(node)) = self.sessions.get(&session) else {
                continue;
            };
            while let Some(d) = reader.poll(tr, now) {
                let msg = match d {
                    Delivery::Object {
                        subgroup, object, ..
                    } => Msg::Object {
                        request,
                        subgroup,
                        priority: 2,
                        object,
                    },
                    Delivery::Finish { group, subgroup } => Msg::SubgroupEnd {
                        request,
                        group,
                        subgroup,
                    },
                    Delivery::Done(_) => Msg::PublishDone { request, status: 0 },
                    Delivery::Open { .. } | Delivery::Reset { .. } => continue,
                };
                add_bin(&mut self.stats.relay_egress, t, msg.wire_bytes() as u64);
                self.out.push(Out::Send(node, msg));
            }
        }
        if let Some(reader) = self.pool.get_mut(&track) {
            let viewers = self.router.subscribers(track).len() as u64;
            let mut first = false;
            while let Some(d) = reader.poll(tr, now) {
                if let Delivery::Object { object, .. } = d {
                    let bytes = (crate::msg::OBJECT_OVERHEAD + object.payload.len()) as u64;
                    add_bin(&mut self.stats.viewer_egress, t, bytes * viewers);
                    first = true;
                }
            }
            if first
                && let Some(waiting) = self.awaiting.get_mut(&track)
                && !waiting.is_empty()
            {
                self.out.push(Out::FirstMedia(std::mem::take(waiting)));
            }
        }
    }

    /// Carry out the router's commands, in the router's order (which does not depend on
    /// hashing: the run is the same for the same seed).
    fn drain(&mut self, t: Duration) {
        while let Some(c) = self.router.poll_command() {
            self.command(c, t);
        }
    }

    /// One command, through the effect the relay's node loop gives it too
    /// ([`tern_relay_core::dispatch::effect`]).
    fn command(&mut self, c: Command, t: Duration) {
        let sessions = &self.sessions;
        let presence = |s| match sessions.contains_key(&s) {
            true => Presence::Connected,
            false => Presence::Gone,
        };
        let Some(effect) = effect(c, presence) else {
            return;
        };
        match effect {
            Effect::Answer(Command::SubscribeOk {
                session,
                request,
                track,
                filter,
            }) => {
                let tr = self
                    .tracks
                    .entry(track)
                    .or_insert_with(|| Track::charged_to(self.cache.clone()));
                let largest = tr.largest();
                let cursor = match filter {
                    Filter::LargestObject | Filter::NextGroupStart if largest.is_some() => {
                        tr.tail()
                    }
                    _ => tr.head(),
                };
                let range = filter.resolve(largest);
                match (self.sessions.get(&session).copied(), range) {
                    (Some(Peer::Relay(node)), Some(range)) => {
                        let reader = Fanout::new(range, cursor, 128, self.lag);
                        self.readers.insert((session, request), (track, reader));
                        self.out
                            .push(Out::Send(node, Msg::SubscribeOk { request, largest }));
                        self.pump(track, t);
                    }
                    (Some(Peer::Viewer(v)), Some(range)) => {
                        let tail = tr.tail();
                        let lag = self.lag;
                        self.pool
                            .entry(track)
                            .or_insert_with(|| Fanout::new(range, tail, 128, lag));
                        self.awaiting.entry(track).or_default().push(v);
                    }
                    (Some(Peer::Relay(node)), None) => self
                        .out
                        .push(Out::Send(node, Msg::SubscribeError { request, code: 0x3 })),
                    (Some(Peer::Viewer(v)), None) => self.out.push(Out::ViewerEnded(v)),
                    _ => {}
                }
            }
            Effect::Answer(
                Command::Refuse {
                    session, request, ..
                }
                | Command::PublishDone {
                    session, request, ..
                },
            ) => {
                self.readers.remove(&(session, request));
                match self.sessions.get(&session) {
                    Some(Peer::Relay(node)) => {
                        self.out.push(Out::Send(
                            *node,
                            Msg::PublishDone {
                                request,
                                status: 0x2,
                            },
                        ));
                    }
                    Some(Peer::Viewer(v)) => self.out.push(Out::ViewerEnded(*v)),
                    _ => {}
                }
            }
            Effect::SubscribeUpstream {
                session,
                track,
                name,
                filter,
                resume,
            } => {
                self.tracks
                    .entry(track)
                    .or_insert_with(|| Track::charged_to(self.cache.clone()));
                self.upstream_tracks.insert(track, name.clone());
                // A track moving here starts after the largest object held: the relay's node
                // fetches that gap from the new upstream first; here the new upstream's cache
                // answers the Absolute Start.
                let filter = match (resume, self.largest.get(&track)) {
                    (true, Some(&(loc, true))) => {
                        Filter::AbsoluteStart(Location::new(loc.group + 1, 0))
                    }
                    (true, Some(&(loc, false))) => {
                        Filter::AbsoluteStart(Location::new(loc.group, loc.object + 1))
                    }
                    _ => filter,
                };
                if let Some(&Peer::Upstream(node)) = self.sessions.get(&session) {
                    self.out.push(Out::Send(
                        node,
                        Msg::Subscribe {
                            request: track,
                            name,
                            filter,
                        },
                    ));
                }
            }
            // The publisher is gone: the router hears it as DOES_NOT_EXIST (0x10).
            Effect::UpstreamGone { session, track } => {
                let now = self.at(t);
                self.router
                    .handle_upstream_refused(track, session, 0x10, now);
            }
            Effect::UnsubscribeUpstream { session, track } => {
                self.upstream_tracks.remove(&track);
                self.tracks.remove(&track);
                self.pool.remove(&track);
                self.awaiting.remove(&track);
                self.largest.remove(&track);
                if let Some(&Peer::Upstream(node)) = self.sessions.get(&session) {
                    self.out
                        .push(Out::Send(node, Msg::Unsubscribe { request: track }));
                }
            }
            Effect::Listing {
                session,
                request,
                namespace,
                announced: true,
            } => {
                if let Some(Peer::Relay(node)) = self.sessions.get(&session) {
                    self.out
                        .push(Out::Send(*node, Msg::Namespace { request, namespace }));
                }
            }
            // Acknowledgements, withdrawals, announcements upward and PUBLISH offers: no viewer
            // or relay in these scenarios waits on them. No broadcast is published in the
            // simulator's process.
            Effect::Answer(_)
            | Effect::Listing { .. }
            | Effect::Announce { .. }
            | Effect::Withdraw { .. }
            | Effect::Offer { .. }
            | Effect::AwaitLocalTrack { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tern_relay_core::types::ObjectStatus;

    fn object(group: u64, id: u64) -> Msg {
        Msg::Object {
            request: 0,
            subgroup: 0,
            priority: 2,
            object: Object {
                location: Location::new(group, id),
                status: ObjectStatus::Normal,
                properties: Bytes::new(),
                payload: Bytes::from_static(b"frame"),
                end_of_group: false,
            },
        }
    }

    /// An edge with two upstream candidates: a viewer joins through the real router, the first
    /// mid dies, the edge re-subscribes at the second from the object after its largest, and the
    /// overlap of the backfill is dropped by location.
    #[test]
    fn failover_resubscribes_from_the_object_after_the_largest() {
        let ms = Duration::from_millis;
        let name = TrackName::from_path("live/event", "video");
        let mut edge = Relay::new(10, Tier::Edge, Instant::now(), ms(5000), vec![1, 2]);
        edge.start();
        assert!(matches!(
            edge.take_out().as_slice(),
            [Out::Send(1, Msg::SubscribeNamespace { .. })]
        ));
        let namespace = name.namespace.clone();
        edge.handle(
            1,
            Msg::Namespace {
                request: 0,
                namespace,
            },
            ms(10),
        );
        edge.viewer_subscribe(7, &name, ms(20));
        let out = edge.take_out();
        let [
            Out::Send(
                1,
                Msg::Subscribe {
                    request, filter, ..
                },
            ),
        ] = out.as_slice()
        else {
            panic!("one upstream SUBSCRIBE expected, got {out:?}");
        };
        assert_eq!((*request, *filter), (0, Filter::LargestObject));
        edge.handle(
            1,
            Msg::SubscribeOk {
                request: 0,
                largest: None,
            },
            ms(30),
        );
        edge.handle(1, object(3, 0), ms(40));
        edge.handle(1, object(3, 1), ms(50));
        let out = edge.take_out();
        assert!(
            matches!(out.as_slice(), [Out::FirstMedia(v)] if v == &[7]),
            "{out:?}"
        );
        assert_eq!(edge.subscriptions(), 1);

        // Mid 1 dies at 60 ms and is noticed at 1,060 ms: the router holds the track and its
        // viewer. Mid 2 is the next candidate that is up.
        assert_eq!(edge.uplink_lost(ms(60), ms(1060), |n| n != 1), Some(2));
        assert!(edge.in_outage());
        assert_eq!(edge.subscriptions(), 1, "the viewer is held, not ended");
        let out = edge.take_out();
        assert!(
            !out.iter().any(|o| matches!(o, Out::ViewerEnded(_))),
            "{out:?}"
        );
        // The new link asks for mid 2's namespaces; their announcement moves the track there.
        edge.uplink_connected(ms(1100));
        assert!(matches!(
            edge.take_out().as_slice(),
            [Out::Send(2, Msg::SubscribeNamespace { .. })]
        ));
        edge.handle(
            2,
            Msg::Namespace {
                request: 0,
                namespace: name.namespace.clone(),
            },
            ms(1105),
        );
        let out = edge.take_out();
        let [Out::Send(2, Msg::Subscribe { filter, .. })] = out.as_slice() else {
            panic!("re-SUBSCRIBE at mid 2 expected, got {out:?}");
        };
        assert_eq!(*filter, Filter::AbsoluteStart(Location::new(3, 2)));
        edge.handle(
            2,
            Msg::SubscribeOk {
                request: 0,
                largest: None,
            },
            ms(1110),
        );
        edge.handle(2, object(3, 1), ms(1120)); // overlap: dropped by location
        edge.handle(2, object(3, 2), ms(1130));
        assert_eq!(edge.stats.duplicates, 1);
        assert_eq!(edge.stats.gaps, 0);
        assert_eq!(edge.stats.recoveries, vec![ms(1130 - 60)]);
        assert!(!edge.in_outage());
        // The viewer never re-subscribed: the router still holds its one subscription, and the
        // move was the router's (its second upstream SUBSCRIBE, a failover).
        assert_eq!(edge.subscriptions(), 1);
        assert_eq!(edge.upstream_subscribes(), 2);
    }
}
