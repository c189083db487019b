//! The scenarios: a tree of 1 origin, 20 mid relays and 500 edges carrying one live track to
//! 1,000,000 viewers, in steady state, through an edge-tier failure, a mid-tier failure, and a
//! flash crowd. Every size scales with `scale` (the tests run 1/100).

use std::time::Duration;

use crate::net::LinkSpec;

/// A failure injected into a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Failure {
    /// This fraction of the edges (at least one) goes down at `at`.
    Edges {
        /// When.
        at: Duration,
        /// Fraction of edges.
        fraction: f64,
    },
    /// One mid relay goes down at `at`.
    Mid {
        /// When.
        at: Duration,
    },
}

/// Everything that defines a run besides the seed.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name, used for file names.
    pub name: &'static str,
    /// Mid relays.
    pub mids: usize,
    /// Edge relays.
    pub edges: usize,
    /// Viewers that join in total.
    pub viewers: usize,
    /// Virtual time simulated.
    pub duration: Duration,
    /// Viewers arrive (Poisson per edge) between `join_start` and `join_start + join_span`.
    pub join_start: Duration,
    /// See `join_start`.
    pub join_span: Duration,
    /// The failure, if any.
    pub failure: Option<Failure>,
    /// Media bitrate of the track, bits per second.
    pub bitrate: u64,
    /// Objects (frames) per second.
    pub fps: u32,
    /// Objects per group (a GOP).
    pub gop: u32,
    /// Origin ↔ mid links: latency drawn per link in this range, loss and bandwidth fixed.
    pub origin_mid: (Duration, Duration, LinkSpec),
    /// Mid ↔ edge links, likewise.
    pub mid_edge: (Duration, Duration, LinkSpec),
    /// Viewer round-trip time range and loss rate of the last mile.
    pub last_mile: (Duration, Duration, f64),
    /// Time for a relay to notice a dead peer (QUIC keep-alive / idle timeout).
    pub detect: Duration,
    /// Time for a viewer's player to notice its edge is gone, drawn in this range.
    pub viewer_detect: (Duration, Duration),
    /// Control-plane time a relay spends per control message (queued one at a time).
    pub control_cost: Duration,
    /// Extra edge time per viewer join for its QUIC/TLS handshake, on the same queue.
    pub handshake_cost: Duration,
    /// Upstream linger after the last subscriber leaves.
    pub linger: Duration,
    /// Upstream candidates each edge knows (primary first).
    pub edge_candidates: usize,
}

const MS: Duration = Duration::from_millis(1);

fn scaled(n: usize, scale: f64, min: usize) -> usize {
    ((n as f64 * scale).round() as usize).max(min)
}

impl Scenario {
    /// The steady-state tree at `scale` (1.0 = 20 mids, 500 edges, 1,000,000 viewers).
    pub fn baseline(scale: f64) -> Self {
        let relay_link = |loss| LinkSpec {
            latency: MS,
            loss,
            bandwidth: 125_000_000, // 1 Gbit/s
        };
        Self {
            name: "baseline",
            mids: scaled(20, scale, 2),
            edges: scaled(500, scale, 4),
            viewers: scaled(1_000_000, scale, 100),
            duration: Duration::from_secs(60),
            join_start: Duration::from_secs(2),
            join_span: Duration::from_secs(30),
            failure: None,
            bitrate: 2_000_000,
            fps: 30,
            gop: 60,
            origin_mid: (15 * MS, 40 * MS, relay_link(0.001)),
            mid_edge: (2 * MS, 15 * MS, relay_link(0.001)),
            last_mile: (10 * MS, 80 * MS, 0.01),
            detect: Duration::from_secs(1),
            viewer_detect: (Duration::from_millis(500), Duration::from_millis(1500)),
            control_cost: Duration::from_micros(50),
            handshake_cost: Duration::from_micros(200),
            linger: Duration::from_secs(5),
            edge_candidates: 3,
        }
    }

    /// Baseline, then 5 % of the edges fail at 40 s; their viewers rejoin other edges.
    pub fn edge_failure(scale: f64) -> Self {
        Self {
            name: "edge-failure",
            failure: Some(Failure::Edges {
                at: Duration::from_secs(40),
                fraction: 0.05,
            }),
            ..Self::baseline(scale)
        }
    }

    /// Baseline, then one mid relay fails at 40 s; its edges fail over to another mid.
    pub fn mid_failure(scale: f64) -> Self {
        Self {
            name: "mid-failure",
            failure: Some(Failure::Mid {
                at: Duration::from_secs(40),
            }),
            ..Self::baseline(scale)
        }
    }

    /// Every viewer joins within 1 s, starting at 10 s, on a cold tree: each edge spends about
    /// half of that second on handshakes, so joins queue.
    pub fn flash_crowd(scale: f64) -> Self {
        Self {
            name: "flash-crowd",
            join_start: Duration::from_secs(10),
            join_span: Duration::from_secs(1),
            duration: Duration::from_secs(30),
            ..Self::baseline(scale)
        }
    }

    /// Every scenario, in report order.
    pub fn all(scale: f64) -> Vec<Self> {
        vec![
            Self::baseline(scale),
            Self::edge_failure(scale),
            Self::mid_failure(scale),
            Self::flash_crowd(scale),
        ]
    }

    /// The scenario named `name` (or every one for `all`).
    pub fn by_name(name: &str, scale: f64) -> Option<Vec<Self>> {
        if name == "all" {
            return Some(Self::all(scale));
        }
        Self::all(scale)
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| vec![s])
    }

    /// Bytes of one object's payload.
    pub fn object_bytes(&self) -> usize {
        (self.bitrate / 8 / u64::from(self.fps)) as usize
    }
}
