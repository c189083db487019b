//! Admission of incoming connections: stateless Retry under load and a per-IP session cap.
//!
//! Every decision is made on the quinn `Incoming` before any handshake state is allocated,
//! and each refusal leaves a log line.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Counts of handshakes in flight and of admitted sessions per IP address.
#[derive(Debug)]
pub(crate) struct Admission {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    handshakes: AtomicUsize,
    max_per_ip: usize,
    retry_threshold: usize,
}

/// The outcome for one incoming connection.
pub(crate) enum Admit {
    /// Retried or refused; nothing more to do.
    Handled,
    /// Go on with the handshake, holding both slots.
    Accept {
        /// The connection attempt.
        incoming: quinn::Incoming,
        /// Released when the session ends (the last clone of it drops).
        slot: Arc<IpSlot>,
        /// Released when the handshake ends.
        handshake: HandshakeSlot,
    },
}

impl Admission {
    pub(crate) fn new(max_per_ip: usize, retry_threshold: usize) -> Self {
        Self {
            per_ip: Mutex::new(HashMap::new()),
            handshakes: AtomicUsize::new(0),
            max_per_ip,
            retry_threshold,
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

    /// Decide what to do with `incoming`.
    pub(crate) fn admit(self: &Arc<Self>, incoming: quinn::Incoming) -> Admit {
        let remote = incoming.remote_address();
        let in_flight = self.handshakes.load(Ordering::Relaxed);
        if in_flight >= self.retry_threshold
            && !incoming.remote_address_validated()
            && incoming.may_retry()
        {
            tracing::debug!(%remote, in_flight, "sending stateless retry");
            if let Err(err) = incoming.retry() {
                // Cannot happen after may_retry(); drop the attempt rather than guess.
                err.into_incoming().ignore();
            }
            return Admit::Handled;
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
                incoming.refuse();
                return Admit::Handled;
            }
            *count += 1;
        }
        self.handshakes.fetch_add(1, Ordering::Relaxed);
        Admit::Accept {
            incoming,
            slot: Arc::new(IpSlot {
                admission: self.clone(),
                ip,
            }),
            handshake: HandshakeSlot(self.clone()),
        }
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
