//! Live budgets: bytes held by each track's newest group, which no cache eviction may take,
//! against the process's limit and each publishing session's share (see [`crate::cache`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes held by newest groups (which no eviction takes) against a limit: the process's, or one
/// publishing session's share of it.
#[derive(Debug)]
pub struct LiveBudget {
    held: AtomicUsize,
    limit: usize,
}

impl LiveBudget {
    /// A budget of `limit` bytes, nothing held.
    pub fn new(limit: usize) -> Self {
        Self {
            held: AtomicUsize::new(0),
            limit,
        }
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// The budget's limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether `more` bytes still fit.
    pub fn fits(&self, more: usize) -> bool {
        self.held().saturating_add(more) <= self.limit
    }

    fn add(&self, n: usize) {
        self.held.fetch_add(n, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        // Never below zero, whatever the order of charges and releases.
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_sub(n))
            });
    }
}

/// What one track's newest group holds against live budgets; released when the track goes.
#[derive(Debug, Default)]
pub struct LiveCharge {
    bytes: usize,
    to: Vec<Arc<LiveBudget>>,
}

impl LiveCharge {
    /// Bytes charged now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether growing the charge to `bytes`, charged to `to`, fits every budget in `to`.
    pub fn fits(&self, bytes: usize, to: &[Arc<LiveBudget>]) -> bool {
        to.iter().all(|b| {
            let already = if self.to.iter().any(|o| Arc::ptr_eq(o, b)) {
                self.bytes
            } else {
                0
            };
            bytes <= already || b.fits(bytes - already)
        })
    }

    /// Charge `bytes` to `to` from now on (releasing what was charged before, wherever).
    pub fn set(&mut self, bytes: usize, to: &[Arc<LiveBudget>]) {
        let same =
            self.to.len() == to.len() && self.to.iter().zip(to).all(|(a, b)| Arc::ptr_eq(a, b));
        if same {
            // The usual case, an append to the same track by the same publisher: only the
            // change is charged, one atomic update per budget.
            if bytes > self.bytes {
                to.iter().for_each(|b| b.add(bytes - self.bytes));
            } else if bytes < self.bytes {
                to.iter().for_each(|b| b.sub(self.bytes - bytes));
            }
            self.bytes = bytes;
            return;
        }
        for b in &self.to {
            b.sub(self.bytes);
        }
        for b in to {
            b.add(bytes);
        }
        self.bytes = bytes;
        self.to = to.to_vec();
    }
}

impl Drop for LiveCharge {
    fn drop(&mut self) {
        self.set(0, &[]);
    }
}
