//! Admission of incoming connections: stateless Retry under load and a per-IP session cap.
//!
//! Every decision is made on the quinn `Incoming` before any handshake state is allocated,
//! and each refusal leaves a log line.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Counts of handshakes in flight and of admitted sessions per IP address.
#[derive(Debug)]
pub(crate) struct Admission {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    handshakes: AtomicUsize,
    max_per_ip: usize,
    retry_threshold: usize,
    pub(crate) stats: Arc<AdmissionStats>,
}

/// What admission refused so far, for metrics. Counters only grow.
#[derive(Debug, Default)]
pub struct AdmissionStats {
    /// Connections refused because their address had `max_sessions_per_ip` sessions.
    pub refused_per_ip: AtomicU64,
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
    pub(crate) fn new(max_per_ip: usize, retry_threshold: usize) -> Self {
        Self {
            per_ip: Mutex::new(HashMap::new()),
            handshakes: AtomicUsize::new(0),
            max_per_ip,
            retry_threshold,
            stats: Arc::default(),
        }
    }

    fn counts(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.per_ip
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sessions admitted and not yet released.
    pub(crate) fn admitted(&self) -> usize {
        self.counts().values().sum()
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

        let ip = remote.ip().to_canonical();
        {
            let mut counts = self.counts();
            let count = counts.entry(ip).or_insert(0);
            if *count >= self.max_per_ip {
                let admitted = *count;
                drop(counts);
                tracing::info!(%remote, admitted, max = self.max_per_ip,
                    "refused connection: too many sessions from this address");
                self.stats.refused_per_ip.fetch_add(1, Ordering::Relaxed);
                incoming.refuse();
                return None;
            }
            *count += 1;
        }
        self.handshakes.fetch_add(1, Ordering::Relaxed);
        Some(Admitted {
            incoming,
            slot: Arc::new(IpSlot {
                admission: self.clone(),
                ip,
            }),
            handshake: HandshakeSlot(self.clone()),
        })
    }
}

/// One admitted session from `ip`; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct IpSlot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.admission.counts();
        if let Some(count) = counts.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.ip);
            }
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
