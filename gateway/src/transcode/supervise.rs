//! When a transcoder that died may run again: after a backoff that doubles up to a limit, and
//! counted (in `/metrics` too, as [`RESTARTS`] by `kind`).

use std::time::{Duration, Instant};

/// Counter, label `kind` (`audio`, `ladder`): transcoders that exited and were started again.
pub const RESTARTS: &str = "tern_transcoder_restarts_total";

/// The first wait before a transcoder that died is started again; it doubles up to
/// [`MAX_BACKOFF`].
const BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A transcoder that ran this long before it died starts the backoff over.
const STABLE: Duration = Duration::from_secs(60);

/// Registers the help text of [`RESTARTS`] with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        RESTARTS,
        metrics::Unit::Count,
        "Transcoders (audio companions, ladders) that exited and were started again."
    );
}

/// The restart policy of one transcoder.
#[derive(Debug)]
pub(crate) struct Supervisor {
    kind: &'static str,
    backoff: Duration,
    retry_at: Option<Instant>,
    started: Option<Instant>,
    restarts: u64,
}

impl Supervisor {
    /// A transcoder of `kind` (the label in `/metrics`).
    pub(crate) fn new(kind: &'static str) -> Self {
        Self {
            kind,
            backoff: BACKOFF,
            retry_at: None,
            started: None,
            restarts: 0,
        }
    }

    /// Whether one may start now.
    pub(crate) fn may_start(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|t| now >= t)
    }

    /// One started at `now`.
    pub(crate) fn started(&mut self, now: Instant) {
        self.started = Some(now);
    }

    /// The running one exited at `now` (`track` and `what` for the log): counted, and the
    /// next waits for the backoff.
    pub(crate) fn exited(&mut self, now: Instant, track: u32, what: &str) {
        if self.started.is_some_and(|s| now >= s + STABLE) {
            self.backoff = BACKOFF;
        }
        tracing::warn!(
            track,
            "{what} transcoder exited; restarting it in {:?}",
            self.backoff
        );
        self.restarts += 1;
        metrics::counter!(RESTARTS, "kind" => self.kind).increment(1);
        self.wait(now);
    }

    /// One could not start at `now`: the next try waits for the backoff.
    pub(crate) fn failed(&mut self, now: Instant, track: u32, what: &str, error: &str) {
        tracing::warn!(track, "{what} transcoder: {error}");
        self.wait(now);
    }

    /// Times it exited and was started again.
    pub(crate) fn restarts(&self) -> u64 {
        self.restarts
    }

    fn wait(&mut self, now: Instant) {
        self.started = None;
        self.retry_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_to_its_limit_and_starts_over_after_a_stable_run() {
        let t0 = Instant::now();
        let mut s = Supervisor::new("audio");
        assert!(s.may_start(t0));
        s.started(t0);
        s.exited(t0, 1, "audio");
        assert!(!s.may_start(t0 + Duration::from_millis(499)));
        assert!(s.may_start(t0 + BACKOFF));
        let mut now = t0;
        for _ in 0..10 {
            s.started(now);
            s.exited(now, 1, "audio");
            now += MAX_BACKOFF;
        }
        assert_eq!(s.restarts(), 11);
        assert_eq!(s.backoff, MAX_BACKOFF);
        s.started(now);
        s.exited(now + STABLE, 1, "audio");
        assert!(s.may_start(now + STABLE + BACKOFF));
    }
}
