//! The simulated network: point-to-point links between relays, each with a one-way latency, a
//! loss rate and a bandwidth, and nodes that fail at a given time.
//!
//! A link is a FIFO (one QUIC connection's streams share its congestion window and, for a
//! subgroup, its order): a message waits for the link to finish serializing what was sent before
//! it (`bytes / bandwidth`), then travels for the latency. A loss costs a retransmission after a
//! probe timeout, modelled as `1.5 × RTT + 25 ms` (QUIC's PTO with little RTT variance), and
//! holds back what follows on the link (head-of-line), since relays forward reliable streams.
//! Viewers' last mile is not a queued link: see [`LastMile`].

use std::collections::BTreeMap;
use std::time::Duration;

use crate::rng::Rng;

/// A node of the simulated network (origin, mid or edge relay).
pub type NodeId = usize;

/// Retransmissions modelled for one message before it is delivered anyway (bounds the tail).
const MAX_RETRANSMITS: u32 = 8;

/// The properties of one direction of a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSpec {
    /// One-way propagation delay.
    pub latency: Duration,
    /// Probability that a packet carrying a message is lost.
    pub loss: f64,
    /// Bytes per second the link carries.
    pub bandwidth: u64,
}

impl LinkSpec {
    /// The probe timeout after which a lost message is sent again.
    pub fn pto(&self) -> Duration {
        self.latency * 3 + Duration::from_millis(25)
    }
}

#[derive(Debug)]
struct Link {
    spec: LinkSpec,
    rng: Rng,
    /// When the link has finished serializing what was sent so far.
    busy_until: Duration,
    /// Arrival time of the last message (delivery is in order).
    last_arrival: Duration,
}

/// Every relay link, and which nodes are up.
#[derive(Debug)]
pub struct Network {
    links: BTreeMap<(NodeId, NodeId), Link>,
    down: Vec<Option<Duration>>,
    seed: Rng,
    /// Messages delayed by at least one retransmission.
    pub retransmitted: u64,
}

impl Network {
    /// A network of `nodes` nodes and no links.
    pub fn new(nodes: usize, seed: &Rng) -> Self {
        Self {
            links: BTreeMap::new(),
            down: vec![None; nodes],
            seed: seed.fork(0x4e45_5457),
            retransmitted: 0,
        }
    }

    /// Link `a` and `b` both ways with `spec`.
    pub fn connect(&mut self, a: NodeId, b: NodeId, spec: LinkSpec) {
        for (from, to) in [(a, b), (b, a)] {
            let stream = (from as u64) << 32 | to as u64;
            self.links.insert(
                (from, to),
                Link {
                    spec,
                    rng: self.seed.fork(stream),
                    busy_until: Duration::ZERO,
                    last_arrival: Duration::ZERO,
                },
            );
        }
    }

    /// The spec of the link `from → to`.
    pub fn spec(&self, from: NodeId, to: NodeId) -> Option<LinkSpec> {
        self.links.get(&(from, to)).map(|l| l.spec)
    }

    /// Send `bytes` from `from` to `to` at `now`: the arrival time, or `None` when either end is
    /// down or they are not linked.
    pub fn send(
        &mut self,
        from: NodeId,
        to: NodeId,
        bytes: usize,
        now: Duration,
    ) -> Option<Duration> {
        if !self.is_up(from, now) || !self.is_up(to, now) {
            return None;
        }
        let link = self.links.get_mut(&(from, to))?;
        let start = now.max(link.busy_until);
        let serialize = Duration::from_nanos(
            (bytes as u128 * 1_000_000_000 / link.spec.bandwidth.max(1) as u128) as u64,
        );
        link.busy_until = start + serialize;
        let mut arrival = link.busy_until + link.spec.latency;
        let mut tries = 0;
        while tries < MAX_RETRANSMITS && link.rng.chance(link.spec.loss) {
            arrival += link.spec.pto();
            tries += 1;
        }
        if tries > 0 {
            self.retransmitted += 1;
        }
        arrival = arrival.max(link.last_arrival);
        link.last_arrival = arrival;
        Some(arrival)
    }

    /// Take `node` down at `at`: nothing is sent to or from it afterwards.
    pub fn fail(&mut self, node: NodeId, at: Duration) {
        self.down[node] = Some(at);
    }

    /// Whether `node` is up at `now`.
    pub fn is_up(&self, node: NodeId, now: Duration) -> bool {
        self.down
            .get(node)
            .is_some_and(|d| d.is_none_or(|t| now < t))
    }
}

/// A viewer's access network: a round-trip time and a loss rate, no queue (the edge's egress is
/// accounted in aggregate, see the crate docs).
#[derive(Debug, Clone, Copy)]
pub struct LastMile {
    /// Round-trip time.
    pub rtt: Duration,
    /// Packet loss rate.
    pub loss: f64,
}

impl LastMile {
    /// One-way delay of one message, with retransmissions drawn from `rng`.
    pub fn one_way(&self, rng: &mut Rng) -> Duration {
        let pto = self.rtt * 3 / 2 + Duration::from_millis(25);
        let mut d = self.rtt / 2;
        let mut tries = 0;
        while tries < MAX_RETRANSMITS && rng.chance(self.loss) {
            d += pto;
            tries += 1;
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(loss: f64) -> LinkSpec {
        LinkSpec {
            latency: Duration::from_millis(10),
            loss,
            bandwidth: 1_000_000,
        }
    }

    #[test]
    fn serialization_queues_and_order_is_kept() {
        let mut net = Network::new(2, &Rng::new(1));
        net.connect(0, 1, spec(0.0));
        let a = net.send(0, 1, 10_000, Duration::ZERO).unwrap();
        let b = net.send(0, 1, 10_000, Duration::ZERO).unwrap();
        assert_eq!(a, Duration::from_millis(20)); // 10 ms to serialize + 10 ms latency
        assert_eq!(b, Duration::from_millis(30)); // queued behind the first
        assert!(net.send(1, 0, 1, Duration::ZERO).is_some());
        assert!(net.send(0, 2, 1, Duration::ZERO).is_none()); // no link
    }

    #[test]
    fn loss_delays_by_a_pto_and_failed_nodes_are_cut_off() {
        let mut net = Network::new(2, &Rng::new(1));
        net.connect(0, 1, spec(0.5));
        let mut last = Duration::ZERO;
        for i in 0..200 {
            let now = Duration::from_millis(100 * i);
            let at = net.send(0, 1, 1, now).unwrap();
            assert!(at >= last && at >= now + Duration::from_millis(10));
            last = at;
        }
        assert!(net.retransmitted > 50 && net.retransmitted < 150);
        net.fail(1, Duration::from_secs(100));
        assert!(net.send(0, 1, 1, Duration::from_secs(99)).is_some());
        assert!(net.send(0, 1, 1, Duration::from_secs(100)).is_none());
        assert!(!net.is_up(1, Duration::from_secs(101)));
    }
}
