//! The LL-HLS egress in the node's `/metrics`: recorded through the `metrics` crate, as the
//! relay's own metrics are, so that the Prometheus recorder the node's admin port installs
//! renders them with the rest (the relay never knows about HLS). Counters end in `_total`.
//!
//! Viewers are counted by who they are as far as HTTP tells: the token they carry and their
//! address (a token-less viewer is its address); one seen within [`VIEWER_WINDOW`] is active.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use metrics::{Unit, describe_counter, describe_gauge};

/// Gauge: distinct HLS viewers seen within the last [`VIEWER_WINDOW`].
pub const VIEWERS: &str = "tern_hls_viewers";
/// Gauge: renditions being read for HLS viewers (one node subscription per track each).
pub const FEEDS: &str = "tern_hls_feeds";
/// Counter, label [`KIND`]: HLS requests.
pub const REQUESTS: &str = "tern_hls_requests_total";
/// Counter, label [`CLASS`] (`4xx`, `5xx`): HLS requests answered with an error.
pub const ERRORS: &str = "tern_hls_errors_total";

/// Label on [`REQUESTS`]: `playlist` (multivariant or media, answered at once),
/// `blocking_playlist` (with `_HLS_msn`), `part`, `segment`, `init`, and `other` (a path
/// that names nothing).
pub const KIND: &str = "kind";
/// Label on [`ERRORS`]: the status class.
pub const CLASS: &str = "class";

/// How long a viewer counts as active after its last request.
pub const VIEWER_WINDOW: Duration = Duration::from_secs(30);
/// Viewers tracked at most (more are not counted until others leave).
pub const MAX_VIEWERS: usize = 100_000;

/// Registers the help texts of the LL-HLS metrics with the installed recorder.
pub fn describe() {
    describe_gauge!(
        VIEWERS,
        Unit::Count,
        "Distinct LL-HLS viewers (token and address) seen in the last 30 s."
    );
    describe_gauge!(
        FEEDS,
        Unit::Count,
        "LL-HLS renditions being read (one subscription per track)."
    );
    describe_counter!(
        REQUESTS,
        Unit::Count,
        "LL-HLS requests, by kind (playlist, blocking_playlist, part, segment, init)."
    );
    describe_counter!(
        ERRORS,
        Unit::Count,
        "LL-HLS requests answered with an error, by status class (4xx, 5xx)."
    );
}

/// Counts one request of `kind` answered with `status`.
pub fn answered(kind: &'static str, status: u16) {
    metrics::counter!(REQUESTS, KIND => kind).increment(1);
    let class = match status {
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => return,
    };
    metrics::counter!(ERRORS, CLASS => class).increment(1);
}

/// The viewers seen, by a hash of their token and address, with when. Sans-IO.
#[derive(Debug, Default)]
pub struct Viewers {
    seen: HashMap<u64, Instant>,
    /// What the gauge was last moved to by this tracker.
    reported: usize,
}

impl Viewers {
    /// A viewer with `token` from `ip` made a request at `now`.
    pub fn seen(&mut self, token: Option<&str>, ip: IpAddr, now: Instant) {
        let mut hasher = std::hash::DefaultHasher::new();
        (token, ip).hash(&mut hasher);
        let who = hasher.finish();
        if self.seen.len() >= MAX_VIEWERS && !self.seen.contains_key(&who) {
            self.forget(now);
            if self.seen.len() >= MAX_VIEWERS {
                return;
            }
        }
        self.seen.insert(who, now);
    }

    /// Viewers seen within [`VIEWER_WINDOW`] of `now` (the others are forgotten).
    pub fn active(&mut self, now: Instant) -> usize {
        self.forget(now);
        self.seen.len()
    }

    /// Moves the [`VIEWERS`] gauge by this tracker's change since the last report (every
    /// egress of the process adds its own), and returns the count.
    pub fn report(&mut self, now: Instant) -> usize {
        let active = self.active(now);
        let gauge = metrics::gauge!(VIEWERS);
        gauge.increment(active as f64 - self.reported as f64);
        self.reported = active;
        active
    }

    fn forget(&mut self, now: Instant) {
        self.seen
            .retain(|_, at| now.saturating_duration_since(*at) < VIEWER_WINDOW);
    }
}

impl Drop for Viewers {
    fn drop(&mut self) {
        if self.reported > 0 {
            metrics::gauge!(VIEWERS).decrement(self.reported as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_is_its_token_and_address_and_counts_for_a_while() {
        let t0 = Instant::now();
        let home = IpAddr::from([192, 0, 2, 1]);
        let mut v = Viewers::default();
        v.seen(Some("a"), home, t0);
        v.seen(Some("a"), home, t0 + Duration::from_secs(1));
        v.seen(Some("b"), home, t0);
        v.seen(None, home, t0);
        v.seen(None, IpAddr::from([192, 0, 2, 2]), t0);
        assert_eq!(v.active(t0 + Duration::from_secs(2)), 4);
        assert_eq!(v.active(t0 + VIEWER_WINDOW), 1);
        assert_eq!(v.active(t0 + VIEWER_WINDOW + Duration::from_secs(1)), 0);
    }
}
