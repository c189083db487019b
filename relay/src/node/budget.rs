//! The receive budget: bytes of objects a peer has begun and not finished sending.
//!
//! An object's declared payload length is reserved when its header arrives, against its
//! session's share ([`ReceiveLimits::per_session`]) and the process's budget
//! ([`ReceiveLimits::total`]), and released when its last byte arrives or its stream ends. An
//! object neither can take is refused: its stream is stopped (STOP_SENDING, EXCESSIVE_LOAD),
//! so a half-read object never waits for memory, and what it sent is dropped. An object that
//! arrives whole in one read never waits to be reassembled and needs no reservation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The limits of the receive budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveLimits {
    /// Bytes of partly received objects one session may hold.
    pub per_session: usize,
    /// Bytes of partly received objects all sessions together may hold.
    pub total: usize,
}

/// The process-wide side of the receive budget.
#[derive(Debug)]
pub struct ReceiveBudget {
    limits: ReceiveLimits,
    used: AtomicUsize,
}

/// One session's side of the receive budget.
#[derive(Debug, Default)]
pub struct SessionReserve {
    used: AtomicUsize,
}

/// `n` more bytes on `used` if the sum stays within `max`.
fn take(used: &AtomicUsize, n: usize, max: usize) -> bool {
    used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
        u.checked_add(n).filter(|&total| total <= max)
    })
    .is_ok()
}

fn give_back(used: &AtomicUsize, n: usize) {
    let _ = used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
        Some(u.saturating_sub(n))
    });
}

impl ReceiveBudget {
    /// A budget with `limits`, nothing reserved.
    pub fn new(limits: ReceiveLimits) -> Self {
        Self {
            limits,
            used: AtomicUsize::new(0),
        }
    }

    /// Reserve `bytes` for `object` (its number on its stream) of `session`, held until the
    /// [`Reservation`] drops; `None` (nothing reserved) when the session's share or the
    /// process's budget cannot take them.
    pub fn reserve(
        self: &Arc<Self>,
        session: &Arc<SessionReserve>,
        object: u64,
        bytes: usize,
    ) -> Option<Reservation> {
        if !take(&session.used, bytes, self.limits.per_session) {
            return None;
        }
        if !take(&self.used, bytes, self.limits.total) {
            give_back(&session.used, bytes);
            return None;
        }
        Some(Reservation {
            budget: self.clone(),
            session: session.clone(),
            object,
            bytes,
        })
    }

    /// Bytes reserved now, by all sessions.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// Bytes reserved for one partly received object; released on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<ReceiveBudget>,
    session: Arc<SessionReserve>,
    /// The object's number on its stream.
    pub object: u64,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        give_back(&self.session.used, self.bytes);
        give_back(&self.budget.used, self.bytes);
    }
}
