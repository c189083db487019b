//! Admission of incoming connections: stateless Retry under load, a new-session rate and a
//! session cap per source (an IPv4 address, or an IPv6 /64: one subscriber's network, whose
//! addresses are free to rotate), and a cap on all sessions.
//!
//! Every decision is made on the quinn `Incoming` before any handshake state is allocated.
//! Each refusal is counted; its log lines are rate-limited.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{LogBudget, TokenBucket};

/// Rate buckets kept at most; past this, buckets that are full again are forgotten, and if all
/// are in use the rate limit starts over (the session caps still hold).
const MAX_BUCKETS: usize = 65_536;

/// Refusal log lines: at most 10 per 10 s per kind.
static REFUSED_LOG: LogBudget = LogBudget::new(10, Duration::from_secs(10));

/// The source sessions from `ip` are counted under: the IPv4 address (an IPv4-mapped IPv6
/// address is that IPv4 address), or the IPv6 address's /64 prefix.
pub fn session_source(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// The admission limits of a server (see [`ServerConfig`](crate::ServerConfig)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Concurrent sessions (handshakes included) per source.
    pub(crate) per_source: usize,
    /// Concurrent sessions (handshakes included) in all.
    pub(crate) total: usize,
    /// New sessions a second per source, in bursts of as many.
    pub(crate) rate_per_source: u32,
}

/// Counts of handshakes in flight and of admitted sessions per source.
#[derive(Debug)]
pub(crate) struct Admission {
    state: Mutex<State>,
    handshakes: AtomicUsize,
    limits: Limits,
    retry_threshold: usize,
    pub(crate) stats: Arc<AdmissionStats>,
}

#[derive(Debug, Default)]
struct State {
    per_source: HashMap<IpAddr, usize>,
    total: usize,
    buckets: HashMap<IpAddr, TokenBucket>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Rate,
    PerSource,
    Total,
}

/// What admission refused so far, for metrics. Counters only grow.
#[derive(Debug, Default)]
pub struct AdmissionStats {
    /// Connections refused because their source (an IPv4 address or an IPv6 /64) had
    /// `max_sessions_per_ip` sessions.
    pub refused_per_ip: AtomicU64,
    /// Connections refused because their source opened more than `new_sessions_per_ip` a
    /// second.
    pub refused_rate: AtomicU64,
    /// Connections refused because the server held `max_sessions` sessions.
    pub refused_capacity: AtomicU64,
    /// Sessions refused for offering no MoQ version this server speaks (ALPN or
    /// WT-Available-Protocols).
    pub refused_version: AtomicU64,
    /// Stateless Retry packets sent (handshakes over the threshold, address not yet proven).
    pub retries: AtomicU64,
    /// Handshakes that failed or timed out for another reason.
    pub failed_handshakes: AtomicU64,
}

/// An incoming connection allowed to handshake, holding both of its slots.
pub(crate) struct Admitted {
    /// The connection attempt.
    pub(crate) incoming: quinn::Incoming,
    /// Released when the session ends (the last clone of it drops).
    pub(crate) slot: Arc<IpSlot>,
    /// Released when the handshake ends.
    pub(crate) handshake: HandshakeSlot,
}

impl Admission {
    pub(crate) fn new(limits: Limits, retry_threshold: usize) -> Self {
        Self {
            state: Mutex::default(),
            handshakes: AtomicUsize::new(0),
            limits,
            retry_threshold,
            stats: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sessions admitted and not yet released.
    pub(crate) fn admitted(&self) -> usize {
        self.state().total
    }

    /// Retry or refuse `incoming` (`None`), or admit it to the handshake.
    pub(crate) fn admit(self: &Arc<Self>, incoming: quinn::Incoming) -> Option<Admitted> {
        let remote = incoming.remote_address();
        let in_flight = self.handshakes.load(Ordering::Relaxed);
        if in_flight >= self.retry_threshold
            && !incoming.remote_address_validated()
            && incoming.may_retry()
        {
            tracing::debug!(%remote, in_flight, "sending stateless retry");
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            if let Err(err) = incoming.retry() {
                // Cannot happen after may_retry(); drop the attempt rather than guess.
                err.into_incoming().ignore();
            }
            return None;
        }

        let source = match self.admit_source(remote) {
            Ok(source) => source,
            Err(_) => {
                incoming.refuse();
                return None;
            }
        };
        self.handshakes.fetch_add(1, Ordering::Relaxed);
        Some(Admitted {
            incoming,
            slot: Arc::new(IpSlot {
                admission: self.clone(),
                ip: source,
            }),
            handshake: HandshakeSlot(self.clone()),
        })
    }

    /// Count a session from `remote` under its source, or count and log the refusal.
    fn admit_source(&self, remote: std::net::SocketAddr) -> Result<IpAddr, &'static str> {
        let source = session_source(remote.ip());
        if let Err(refusal) = self.take_slot(source, Instant::now()) {
            let (counter, why) = match refusal {
                Refusal::Rate => (
                    &self.stats.refused_rate,
                    "new sessions too fast from this source",
                ),
                Refusal::PerSource => (
                    &self.stats.refused_per_ip,
                    "too many sessions from this source",
                ),
                Refusal::Total => (
                    &self.stats.refused_capacity,
                    "the server is at max_sessions",
                ),
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = REFUSED_LOG.allow(Instant::now()) {
                tracing::info!(%remote, %source, suppressed, "refused connection: {why}");
            }
            return Err(why);
        }
        Ok(source)
    }

    /// Admit a session that arrived another way (a WebSocket on the HTTP listener) under the
    /// same caps as QUIC's: its slot, or why it is refused.
    pub(crate) fn admit_stream(
        self: &Arc<Self>,
        remote: std::net::SocketAddr,
    ) -> Result<SessionSlot, &'static str> {
        let ip = self.admit_source(remote)?;
        Ok(SessionSlot(Arc::new(IpSlot {
            admission: self.clone(),
            ip,
        })))
    }

    /// Count a new session from `source` at `now`, or say which limit refuses it.
    fn take_slot(&self, source: IpAddr, now: Instant) -> Result<(), Refusal> {
        let limits = self.limits;
        let mut state = self.state();
        let rate = f64::from(limits.rate_per_source);
        if state.buckets.len() >= MAX_BUCKETS && !state.buckets.contains_key(&source) {
            state.buckets.retain(|_, b| !b.is_full(now));
            if state.buckets.len() >= MAX_BUCKETS {
                state.buckets.clear();
            }
        }
        let bucket = state
            .buckets
            .entry(source)
            .or_insert_with(|| TokenBucket::full(rate, rate, now));
        if !bucket.take(now) {
            return Err(Refusal::Rate);
        }
        if state.total >= limits.total {
            return Err(Refusal::Total);
        }
        let count = state.per_source.entry(source).or_insert(0);
        if *count >= limits.per_source {
            return Err(Refusal::PerSource);
        }
        *count += 1;
        state.total += 1;
        Ok(())
    }
}

/// An admitted session's place under the caps, held by the session
/// ([`Session`](crate::Session)) until its last clone drops.
#[derive(Debug, Clone)]
pub struct SessionSlot(pub(crate) Arc<IpSlot>);

/// The server's admission, for sessions that arrive over another listener (WebSocket): the
/// same per-source rate, per-source cap and total cap as QUIC's, counted together.
#[derive(Debug, Clone)]
pub struct StreamAdmission(pub(crate) Arc<Admission>);

impl StreamAdmission {
    /// A slot for a session from `remote`, or the reason it is refused (counted in
    /// [`AdmissionStats`] and logged, rate-limited, as QUIC's refusals are).
    pub fn admit(&self, remote: std::net::SocketAddr) -> Result<SessionSlot, &'static str> {
        self.0.admit_stream(remote)
    }
}

/// One admitted session from source `ip`; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct IpSlot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut state = self.admission.state();
        if let Some(count) = state.per_source.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.per_source.remove(&self.ip);
            }
            state.total = state.total.saturating_sub(1);
        }
    }
}

/// One handshake in flight; dropping it lowers the count that triggers Retry.
pub(crate) struct HandshakeSlot(Arc<Admission>);

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.0.handshakes.fetch_sub(1, Ordering::Relaxed);
    }
}
