//! The discrete-event loop: builds the tree, drives every relay's core in virtual time, moves
//! messages over the simulated network, and runs the viewers.
//!
//! Virtual time is a `Duration` since the start of the run; the relay core sees `base + t` for
//! one fixed `Instant` base, so nothing depends on the wall clock.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_relay_core::router::{SessionId, TrackId};
use tern_relay_core::types::{Location, Object, ObjectStatus, TrackName};

use crate::msg::Msg;
use crate::net::{LastMile, LinkSpec, Network, NodeId};
use crate::node::{Out, Relay, Tier};
use crate::queue::Queue;
use crate::rng::Rng;
use crate::scenario::{Failure, Scenario};

/// Events of the loop.
#[derive(Debug)]
enum Ev {
    /// The publisher produces the next object at the origin.
    Media,
    /// A message reaches `to`.
    Deliver { from: NodeId, to: NodeId, msg: Msg },
    /// The next viewer arrives at an edge (Poisson process per edge).
    Arrive { edge: NodeId },
    /// A viewer's SUBSCRIBE reaches its edge.
    Subscribe { viewer: usize },
    /// The scenario's failure happens.
    Fail,
    /// `node` notices that `peer` is dead.
    PeerLost {
        node: NodeId,
        peer: NodeId,
        since: Duration,
    },
    /// `node`'s new upstream link is ready.
    UplinkUp { node: NodeId },
    /// A viewer notices its edge is gone and joins another.
    Rejoin { viewer: usize },
    /// A relay's router timer.
    Timer { node: NodeId },
    /// Once a second: samples.
    Tick,
}

/// Where a viewer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Joining,
    Watching,
    Refused,
}

#[derive(Debug, Clone)]
struct Viewer {
    edge: NodeId,
    session: SessionId,
    last_mile: LastMile,
    joined_at: Duration,
    /// When the viewer lost its edge, while it rejoins.
    lost_at: Option<Duration>,
    state: State,
}

/// What a run measured (the report is made from it).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Join latencies of first joins, microseconds.
    pub join_us: Vec<u64>,
    /// When each first join's first object reached its viewer, microseconds of virtual time.
    pub watching_from_us: Vec<u64>,
    /// Interruptions of viewers that lost their edge (failure → media again), microseconds.
    pub rejoin_us: Vec<u64>,
    /// Viewers that lost their edge.
    pub lost: u64,
    /// Viewers refused or ended by a relay.
    pub refused: u64,
    /// Viewers watching at the end.
    pub watching_end: u64,
    /// Viewers watching, sampled every second (viewers of an edge in failover excluded).
    pub watching: Vec<u64>,
    /// Per tier: bytes sent to relays per second (summed over the tier).
    pub origin_egress: Vec<u64>,
    /// Mid tier egress to edges, per second.
    pub mid_egress: Vec<u64>,
    /// Edge tier egress to viewers, per second.
    pub edge_egress: Vec<u64>,
    /// Per mid: peak bytes/s to edges.
    pub mid_peak: Vec<u64>,
    /// Per edge: peak bytes/s to viewers (live edges).
    pub edge_peak: Vec<u64>,
    /// Per mid: downstream subscriptions at the end.
    pub mid_subs: Vec<usize>,
    /// Per live edge: viewer subscriptions at the end.
    pub edge_subs: Vec<usize>,
    /// SUBSCRIBEs the origin received, and upstream SUBSCRIBEs the mid tier sent.
    pub origin_subscribes_in: u64,
    /// SUBSCRIBEs received by the mid tier (edges, failovers included) and the edge tier
    /// (viewers).
    pub mid_subscribes_in: u64,
    /// See `mid_subscribes_in`.
    pub edge_subscribes_in: u64,
    /// Upstream SUBSCRIBEs sent by the mid tier.
    pub mid_upstream_subscribes: u64,
    /// Upstream SUBSCRIBEs sent by the edge tier.
    pub edge_upstream_subscribes: u64,
    /// Mids that carried the track (had a downstream subscription at some point).
    pub mids_used: u64,
    /// Edges that failed over, and their recovery times (failure → next new object), µs.
    pub failover_us: Vec<u64>,
    /// Edges whose upstream died.
    pub failover_edges: u64,
    /// Gaps and duplicates seen by edges (objects missing or dropped by location).
    pub edge_gaps: u64,
    /// See `edge_gaps`.
    pub edge_duplicates: u64,
    /// Objects the origin published.
    pub objects_published: u64,
    /// Events processed.
    pub events: u64,
    /// Messages delayed by a retransmission on relay links.
    pub retransmitted: u64,
}

/// One run of a scenario.
pub struct Sim {
    sc: Scenario,
    rng: Rng,
    net: Network,
    relays: Vec<Relay>,
    viewers: Vec<Viewer>,
    edge_viewers: Vec<Vec<usize>>,
    arrivals: Vec<Rng>,
    queue: Queue<Ev>,
    name: TrackName,
    track: TrackId,
    payload: Bytes,
    next_object: Location,
    out: Outcome,
    watching: u64,
    arrival_counts: Vec<usize>,
}

const ORIGIN: NodeId = 0;

impl Sim {
    /// Build the tree for `sc` with `seed`.
    pub fn new(sc: Scenario, seed: u64) -> Self {
        let rng = Rng::new(seed);
        let base = Instant::now();
        let nodes = 1 + sc.mids + sc.edges;
        let mut net = Network::new(nodes, &rng);
        let mut topo = rng.fork(1);
        let mut relays = vec![Relay::new(
            ORIGIN,
            Tier::Origin,
            base,
            sc.linger,
            Vec::new(),
        )];
        let link = |r: &mut Rng, (lo, hi, spec): (Duration, Duration, LinkSpec)| LinkSpec {
            latency: Duration::from_micros(
                r.range(lo.as_micros() as f64, hi.as_micros() as f64) as u64
            ),
            ..spec
        };
        for m in 0..sc.mids {
            let id = 1 + m;
            net.connect(ORIGIN, id, link(&mut topo, sc.origin_mid));
            relays.push(Relay::new(id, Tier::Mid, base, sc.linger, vec![ORIGIN]));
        }
        for e in 0..sc.edges {
            let id = 1 + sc.mids + e;
            let primary = e % sc.mids;
            // Fallbacks spread over the other mids, so one mid's edges do not all land on one.
            let mut candidates = vec![1 + primary];
            for k in 1..sc.edge_candidates.min(sc.mids) {
                let spread = (e / sc.mids) % (sc.mids - 1);
                let m = (primary + k + spread) % sc.mids;
                if !candidates.contains(&(1 + m)) {
                    candidates.push(1 + m);
                }
            }
            for &c in &candidates {
                net.connect(c, id, link(&mut topo, sc.mid_edge));
            }
            relays.push(Relay::new(id, Tier::Edge, base, sc.linger, candidates));
        }
        let arrivals = (0..sc.edges).map(|e| rng.fork(1000 + e as u64)).collect();
        let payload = Bytes::from(vec![0u8; sc.object_bytes()]);
        let sc_edges = sc.edges;
        Self {
            edge_viewers: vec![Vec::new(); sc.edges],
            sc,
            rng: rng.fork(2),
            net,
            relays,
            viewers: Vec::new(),
            arrivals,
            queue: Queue::default(),
            name: TrackName::from_path("live/event", "video"),
            track: 0,
            payload,
            next_object: Location::new(0, 0),
            out: Outcome::default(),
            watching: 0,
            arrival_counts: vec![0; sc_edges],
        }
    }

    fn edge_ids(&self) -> std::ops::Range<NodeId> {
        1 + self.sc.mids..1 + self.sc.mids + self.sc.edges
    }

    /// Run to the end of the scenario.
    pub fn run(mut self) -> (Scenario, Outcome) {
        self.track = self.relays[ORIGIN].publish(&self.name.clone(), Duration::ZERO);
        for id in 1..self.relays.len() {
            self.relays[id].start();
            self.flush(id, Duration::ZERO);
        }
        self.queue.push(Duration::ZERO, Ev::Media);
        self.queue.push(Duration::ZERO, Ev::Tick);
        for edge in self.edge_ids() {
            let t = self.next_arrival(edge, self.sc.join_start);
            self.queue.push(t, Ev::Arrive { edge });
        }
        if let Some(f) = self.sc.failure {
            let at = match f {
                Failure::Edges { at, .. } | Failure::Mid { at } => at,
            };
            self.queue.push(at, Ev::Fail);
        }
        while let Some((t, ev)) = self.queue.pop_until(self.sc.duration) {
            self.out.events += 1;
            self.step(t, ev);
        }
        self.finish();
        (self.sc, self.out)
    }

    /// Mean gap between arrivals at one edge.
    fn next_arrival(&mut self, edge: NodeId, after: Duration) -> Duration {
        let per_edge = self.sc.viewers as f64 / self.sc.edges as f64;
        let mean = self.sc.join_span.as_secs_f64() / per_edge;
        let e = edge - 1 - self.sc.mids;
        after + Duration::from_secs_f64(self.arrivals[e].exp(mean))
    }

    fn step(&mut self, t: Duration, ev: Ev) {
        match ev {
            Ev::Media => self.media(t),
            Ev::Deliver { from, to, msg } => {
                if !self.net.is_up(to, t) {
                    return;
                }
                if msg.is_control() && !self.take_cpu(to, t, self.sc.control_cost) {
                    let at = self.relays[to].busy_until;
                    self.queue.push(at, Ev::Deliver { from, to, msg });
                    return;
                }
                self.relays[to].handle(from, msg, t);
                self.flush(to, t);
            }
            Ev::Arrive { edge } => self.arrive(edge, t),
            Ev::Subscribe { viewer } => {
                let edge = self.viewers[viewer].edge;
                if !self.net.is_up(edge, t) {
                    // The edge died while the viewer was connecting: its player gives up after
                    // the usual detection time and joins another edge.
                    let (lo, hi) = self.sc.viewer_detect;
                    let d = self.rng.range(lo.as_secs_f64(), hi.as_secs_f64());
                    self.queue
                        .push(t + Duration::from_secs_f64(d), Ev::Rejoin { viewer });
                    return;
                }
                let cost = self.sc.control_cost + self.sc.handshake_cost;
                if !self.take_cpu(edge, t, cost) {
                    let at = self.relays[edge].busy_until;
                    self.queue.push(at, Ev::Subscribe { viewer });
                    return;
                }
                let name = self.name.clone();
                self.viewers[viewer].session = self.relays[edge].viewer_subscribe(viewer, &name, t);
                self.edge_viewers[edge - 1 - self.sc.mids].push(viewer);
                self.flush(edge, t);
            }
            Ev::Fail => self.fail(t),
            Ev::PeerLost { node, peer, since } => self.peer_lost(node, peer, since, t),
            Ev::UplinkUp { node } => {
                if self.net.is_up(node, t) {
                    self.relays[node].uplink_connected(t);
                    self.flush(node, t);
                }
            }
            Ev::Rejoin { viewer } => {
                let alive: Vec<NodeId> =
                    self.edge_ids().filter(|&e| self.net.is_up(e, t)).collect();
                if alive.is_empty() {
                    return;
                }
                let edge = alive[self.rng.below(alive.len() as u64) as usize];
                self.viewers[viewer].edge = edge;
                self.connect(viewer, t);
            }
            Ev::Timer { node } => {
                if self.relays[node].timer.is_some_and(|at| at <= t) && self.net.is_up(node, t) {
                    self.relays[node].timer = None;
                    self.relays[node].timeout(t);
                    self.flush(node, t);
                }
            }
            Ev::Tick => {
                // Viewers of an edge cut off from its upstream are not watching, though
                // subscribed: they wait for the failover.
                let stalled: u64 = self
                    .edge_ids()
                    .map(|e| &self.relays[e])
                    .filter(|r| self.net.is_up(r.id, t))
                    .filter(|r| {
                        r.in_outage()
                            || r.uplink
                                .as_ref()
                                .is_some_and(|u| !self.net.is_up(u.node, t))
                    })
                    .map(|r| r.subscriptions() as u64)
                    .sum();
                self.out
                    .watching
                    .push(self.watching.saturating_sub(stalled));
                self.queue.push(t + Duration::from_secs(1), Ev::Tick);
            }
        }
    }

    /// Whether the relay's control plane is free now; if so it is taken for one message.
    fn take_cpu(&mut self, node: NodeId, t: Duration, cost: Duration) -> bool {
        let r = &mut self.relays[node];
        if r.busy_until > t {
            return false;
        }
        r.busy_until = t + cost;
        true
    }

    fn media(&mut self, t: Duration) {
        let loc = self.next_object;
        let last = loc.object + 1 == u64::from(self.sc.gop);
        let object = Object {
            location: loc,
            status: ObjectStatus::Normal,
            properties: Bytes::new(),
            payload: self.payload.clone(),
            end_of_group: last,
        };
        self.relays[ORIGIN].produce(self.track, object, t);
        self.out.objects_published += 1;
        self.flush(ORIGIN, t);
        self.next_object = if last {
            Location::new(loc.group + 1, 0)
        } else {
            Location::new(loc.group, loc.object + 1)
        };
        let frame = Duration::from_secs(1) / self.sc.fps;
        self.queue.push(t + frame, Ev::Media);
    }

    fn arrive(&mut self, edge: NodeId, t: Duration) {
        let e = edge - 1 - self.sc.mids;
        let mut r = self.arrivals[e].clone();
        let (lo, hi, loss) = self.sc.last_mile;
        let rtt =
            Duration::from_micros(r.range(lo.as_micros() as f64, hi.as_micros() as f64) as u64);
        self.arrivals[e] = r;
        let viewer = self.viewers.len();
        self.viewers.push(Viewer {
            edge,
            session: 0,
            last_mile: LastMile { rtt, loss },
            joined_at: t,
            lost_at: None,
            state: State::Joining,
        });
        if self.net.is_up(edge, t) {
            self.connect(viewer, t);
        } else {
            self.queue.push(t, Ev::Rejoin { viewer });
        }
        // Viewers arrive until each edge has had its share of the audience.
        let share =
            self.sc.viewers / self.sc.edges + usize::from(e < self.sc.viewers % self.sc.edges);
        let arrived = self.edge_arrivals(e);
        if arrived < share {
            let next = self.next_arrival(edge, t);
            self.queue.push(next, Ev::Arrive { edge });
        }
    }

    fn edge_arrivals(&mut self, e: usize) -> usize {
        self.arrival_counts[e] += 1;
        self.arrival_counts[e]
    }

    /// The viewer connects to its edge: QUIC handshake (1 RTT), SETUP (1 RTT), then SUBSCRIBE.
    fn connect(&mut self, viewer: usize, t: Duration) {
        let lm = self.viewers[viewer].last_mile;
        let delay: Duration = (0..5).map(|_| lm.one_way(&mut self.rng)).sum();
        self.queue.push(t + delay, Ev::Subscribe { viewer });
    }

    /// Hand what `node` asked for to the network and the viewers, and arm its router timer.
    fn flush(&mut self, node: NodeId, t: Duration) {
        for out in self.relays[node].take_out() {
            match out {
                Out::Send(to, msg) => {
                    if let Some(at) = self.net.send(node, to, msg.wire_bytes(), t) {
                        self.queue.push(
                            at,
                            Ev::Deliver {
                                from: node,
                                to,
                                msg,
                            },
                        );
                    }
                }
                Out::FirstMedia(viewers) => {
                    for v in viewers {
                        let d = self.viewers[v].last_mile.one_way(&mut self.rng);
                        let viewer = &mut self.viewers[v];
                        if viewer.state != State::Joining || viewer.edge != node {
                            continue;
                        }
                        let at = t + d;
                        match viewer.lost_at.take() {
                            Some(since) => self.out.rejoin_us.push(micros(at - since)),
                            None => {
                                self.out.join_us.push(micros(at - viewer.joined_at));
                                self.out.watching_from_us.push(micros(at));
                            }
                        }
                        viewer.state = State::Watching;
                        self.watching += 1;
                    }
                }
                Out::ViewerEnded(v) => {
                    let viewer = &mut self.viewers[v];
                    if viewer.edge != node {
                        continue;
                    }
                    if viewer.state == State::Watching {
                        self.watching -= 1;
                    }
                    viewer.state = State::Refused;
                    self.out.refused += 1;
                }
            }
        }
        if let Some(at) = self.relays[node].poll_timeout() {
            let at = at.max(t + Duration::from_millis(1));
            if self.relays[node].timer.is_none_or(|cur| at < cur) {
                self.relays[node].timer = Some(at);
                self.queue.push(at, Ev::Timer { node });
            }
        }
    }

    fn fail(&mut self, t: Duration) {
        let Some(failure) = self.sc.failure else {
            return;
        };
        match failure {
            Failure::Edges { fraction, .. } => {
                let k = ((self.sc.edges as f64 * fraction).round() as usize)
                    .clamp(1, self.sc.edges - 1);
                let mut pool: Vec<NodeId> = self.edge_ids().collect();
                for _ in 0..k {
                    let edge = pool.remove(self.rng.below(pool.len() as u64) as usize);
                    self.net.fail(edge, t);
                    let (lo, hi) = self.sc.viewer_detect;
                    let e = edge - 1 - self.sc.mids;
                    for v in std::mem::take(&mut self.edge_viewers[e]) {
                        let viewer = &mut self.viewers[v];
                        if viewer.edge != edge {
                            continue;
                        }
                        match viewer.state {
                            State::Watching => {
                                self.watching -= 1;
                                viewer.lost_at = Some(t);
                                self.out.lost += 1;
                            }
                            State::Joining => {}
                            State::Refused => continue,
                        }
                        viewer.state = State::Joining;
                        let d = self.rng.range(lo.as_secs_f64(), hi.as_secs_f64());
                        self.queue
                            .push(t + Duration::from_secs_f64(d), Ev::Rejoin { viewer: v });
                    }
                    if let Some(up) = &self.relays[edge].uplink {
                        let node = up.node;
                        self.queue.push(
                            t + self.sc.detect,
                            Ev::PeerLost {
                                node,
                                peer: edge,
                                since: t,
                            },
                        );
                    }
                }
            }
            Failure::Mid { .. } => {
                let mid = 1 + self.rng.below(self.sc.mids as u64) as usize;
                self.net.fail(mid, t);
                let at = t + self.sc.detect;
                self.queue.push(
                    at,
                    Ev::PeerLost {
                        node: ORIGIN,
                        peer: mid,
                        since: t,
                    },
                );
                for edge in self.edge_ids() {
                    if self.relays[edge]
                        .uplink
                        .as_ref()
                        .is_some_and(|u| u.node == mid)
                    {
                        self.out.failover_edges += 1;
                        self.queue.push(
                            at,
                            Ev::PeerLost {
                                node: edge,
                                peer: mid,
                                since: t,
                            },
                        );
                    }
                }
            }
        }
    }

    fn peer_lost(&mut self, node: NodeId, peer: NodeId, since: Duration, t: Duration) {
        if !self.net.is_up(node, t) {
            return;
        }
        let upstream = self.relays[node]
            .uplink
            .as_ref()
            .is_some_and(|u| u.node == peer);
        if upstream {
            let net = &self.net;
            let next = self.relays[node].uplink_lost(since, t, |c| net.is_up(c, t));
            self.flush(node, t);
            if let Some(next) = next {
                // QUIC handshake and SETUP: two round trips to the new upstream.
                let one_way = self
                    .net
                    .spec(node, next)
                    .map_or(Duration::ZERO, |s| s.latency);
                self.queue.push(t + one_way * 4, Ev::UplinkUp { node });
            }
        } else if let Some(session) = self.relays[node].session_for_node(peer) {
            self.relays[node].session_closed(session, t);
            self.flush(node, t);
        }
    }

    fn finish(&mut self) {
        let secs = self.sc.duration.as_secs() as usize;
        let end = self.sc.duration;
        let pad =
            |v: &[u64]| -> Vec<u64> { (0..secs).map(|i| v.get(i).copied().unwrap_or(0)).collect() };
        let o = &mut self.out;
        o.origin_egress = pad(&self.relays[ORIGIN].stats.relay_egress);
        o.origin_subscribes_in = self.relays[ORIGIN].stats.subscribes_in;
        o.mid_egress = vec![0; secs];
        o.edge_egress = vec![0; secs];
        for r in &self.relays[1..] {
            let up = self.net.is_up(r.id, end);
            match r.tier {
                Tier::Mid => {
                    let bins = pad(&r.stats.relay_egress);
                    o.mid_egress
                        .iter_mut()
                        .zip(&bins)
                        .for_each(|(a, b)| *a += b);
                    o.mid_upstream_subscribes += r.upstream_subscribes();
                    o.mid_subscribes_in += r.stats.subscribes_in;
                    o.mids_used += u64::from(r.stats.subscribes_in > 0);
                    if up {
                        o.mid_peak.push(bins.iter().copied().max().unwrap_or(0));
                        o.mid_subs.push(r.subscriptions());
                    }
                }
                Tier::Edge => {
                    let bins = pad(&r.stats.viewer_egress);
                    o.edge_egress
                        .iter_mut()
                        .zip(&bins)
                        .for_each(|(a, b)| *a += b);
                    o.edge_upstream_subscribes += r.upstream_subscribes();
                    o.edge_subscribes_in += r.stats.subscribes_in;
                    o.failover_us
                        .extend(r.stats.recoveries.iter().map(|d| micros(*d)));
                    o.edge_gaps += r.stats.gaps;
                    o.edge_duplicates += r.stats.duplicates;
                    if up {
                        o.edge_peak.push(bins.iter().copied().max().unwrap_or(0));
                        o.edge_subs.push(r.subscriptions());
                    }
                }
                Tier::Origin => {}
            }
        }
        o.watching_end = self.watching;
        o.retransmitted = self.net.retransmitted;
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}
