//! Rate-limited logging of what peers do wrong: a flood of bad peers must not become a flood of
//! log lines.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets through at most `burst` lines per `window` for one kind of event; the lines held back
/// are counted and reported with the next one let through.
///
/// ```
/// # use std::time::{Duration, Instant};
/// static REFUSED: tern_quic::LogBudget = tern_quic::LogBudget::new(10, Duration::from_secs(10));
/// if let Some(suppressed) = REFUSED.allow(Instant::now()) {
///     println!("refused a peer ({suppressed} more since the last line)");
/// }
/// ```
#[derive(Debug)]
pub struct LogBudget {
    burst: u32,
    window: Duration,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    start: Option<Instant>,
    lines: u32,
    suppressed: u64,
}

impl LogBudget {
    /// At most `burst` lines per `window`.
    pub const fn new(burst: u32, window: Duration) -> Self {
        Self {
            burst,
            window,
            state: Mutex::new(Window {
                start: None,
                lines: 0,
                suppressed: 0,
            }),
        }
    }

    /// Whether a line may be written at `now`: `Some(n)`, with the `n` lines held back since
    /// the last one written; `None`, hold this one back too.
    pub fn allow(&self, now: Instant) -> Option<u64> {
        let mut w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let expired = w
            .start
            .is_none_or(|start| now.saturating_duration_since(start) >= self.window);
        if expired {
            w.start = Some(now);
            w.lines = 0;
        }
        if w.lines >= self.burst {
            w.suppressed = w.suppressed.saturating_add(1);
            return None;
        }
        w.lines += 1;
        Some(std::mem::take(&mut w.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_past_the_burst_and_reports_the_count_in_the_next_window() {
        let budget = LogBudget::new(2, Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(budget.allow(t0), Some(0));
        assert_eq!(budget.allow(t0), Some(0));
        for _ in 0..1000 {
            assert_eq!(budget.allow(t0 + Duration::from_millis(500)), None);
        }
        assert_eq!(budget.allow(t0 + Duration::from_secs(1)), Some(1000));
        assert_eq!(budget.allow(t0 + Duration::from_secs(1)), Some(0));
    }
}
