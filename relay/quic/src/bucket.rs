//! A token bucket: the rate limits of admission (new sessions per source) and of a relay
//! session's token checks.

use std::time::Instant;

/// Up to `burst` tokens, refilled at `rate` a second; each event takes one.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn full(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            at: now,
            rate,
            burst,
        }
    }

    fn refilled(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * self.rate).min(self.burst)
    }

    /// Take one token at `now`; `false` when there is none.
    pub fn take(&mut self, now: Instant) -> bool {
        self.tokens = self.refilled(now);
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// Whether the bucket is full again at `now` (it holds nothing a fresh one would not).
    pub fn is_full(&self, now: Instant) -> bool {
        self.refilled(now) >= self.burst
    }
}
