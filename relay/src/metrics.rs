//! Names of the relay's metrics, in one place.
//!
//! Record with the `metrics` crate's macros against these constants, e.g.
//! `metrics::counter!(OBJECTS_IN).increment(1)` or
//! `metrics::counter!(SESSIONS_REFUSED, REASON => refused::PER_IP).increment(1)`.
//! Without an installed recorder (tests, sims) recording is a no-op; the admin server installs the
//! Prometheus recorder and calls [`describe`]. Counters end in `_total`, as Prometheus expects.

use ::metrics::{Unit, describe_counter, describe_gauge};

/// Gauge: open MoQ sessions (downstream and upstream).
pub const SESSIONS: &str = "tern_sessions";

/// The labels of a session's gauge: its MoQ draft (`moqt-18`; draft-14, negotiated as
/// `moq-00`, is `moqt-14`) and transport (`quic`, `webtransport`, `websocket`, `memory`).
pub fn labels(session: &tern_quic::Session) -> Vec<metrics::Label> {
    let draft = match tern_moq::Version::from_alpn(session.protocol()) {
        Some(v) => format!("moqt-{}", v.number()),
        None => session.protocol().to_owned(),
    };
    vec![
        metrics::Label::new("draft", draft),
        metrics::Label::new("transport", session.transport().to_string()),
    ]
}
/// Gauge: live downstream subscriptions.
pub const SUBSCRIPTIONS: &str = "tern_subscriptions";
/// Gauge: live subscriptions this relay holds upstream (one per track, whatever the fan-out).
pub const UPSTREAM_SUBSCRIPTIONS: &str = "tern_upstream_subscriptions";
/// Gauge, label [`NAMESPACE`]: sessions subscribed to a track of a broadcast (see
/// `node::viewers` for what counts and for the cap on labelled namespaces). Rendered by
/// `node::viewers::render` at each scrape, not through the recorder.
pub const BROADCAST_VIEWERS: &str = "tern_broadcast_viewers";
/// The `# HELP` text of [`BROADCAST_VIEWERS`].
pub const BROADCAST_VIEWERS_HELP: &str = "Sessions subscribed to a broadcast, by namespace (the most-watched; the rest in namespace=\"_other\").";
/// Counter: objects received from publishers and upstreams.
pub const OBJECTS_IN: &str = "tern_objects_in_total";
/// Counter: objects sent to subscribers.
pub const OBJECTS_OUT: &str = "tern_objects_out_total";
/// Counter: object payload bytes received.
pub const BYTES_IN: &str = "tern_bytes_in_total";
/// Counter: object payload bytes sent.
pub const BYTES_OUT: &str = "tern_bytes_out_total";
/// Gauge: payload bytes held by the group cache (bounded by `cache.max_bytes`).
pub const CACHE_BYTES: &str = "tern_cache_bytes";
/// Gauge: groups held by the group cache.
pub const CACHE_GROUPS: &str = "tern_cache_groups";
/// Counter: groups evicted from the cache under its byte budget or age limit.
pub const CACHE_EVICTIONS: &str = "tern_cache_evictions_total";
/// Counter: subgroup streams reset (a subscriber skipped past them, or the group was evicted).
pub const SUBGROUP_RESETS: &str = "tern_subgroup_resets_total";
/// Counter: times a slow subscriber jumped to the newest group.
pub const SUBSCRIBER_SKIPS: &str = "tern_subscriber_skips_total";
/// Counter: subscriptions ended because the subscriber stayed too far behind.
pub const TOO_FAR_BEHIND: &str = "tern_too_far_behind_total";
/// Counter, label [`REASON`]: sessions refused before or at setup.
pub const SESSIONS_REFUSED: &str = "tern_sessions_refused_total";
/// Counter: stateless Retry packets sent (handshakes over `limits.retry_above_handshakes`).
pub const RETRIES: &str = "tern_quic_retries_total";
/// Counter: sessions closed with PROTOCOL_VIOLATION (malformed or oversized input).
pub const PROTOCOL_VIOLATIONS: &str = "tern_protocol_violations_total";
/// Counter: objects refused (their streams stopped) because the receive budget for partly
/// received objects (`limits.receive_per_session`, `limits.receive_total`) was spent.
pub const RECEIVE_BUDGET_REFUSALS: &str = "tern_receive_budget_refusals_total";
/// Counter: objects refused (their streams stopped, or datagrams dropped) because the open
/// groups, which no eviction takes, held the cache's budget (`cache.max_bytes`) or the
/// publishing session's share of it (`cache.max_live_per_session`).
pub const CACHE_BUDGET_REFUSALS: &str = "tern_cache_budget_refusals_total";
/// Counter: tracks whose publisher restarted the group numbering (their subscriptions were
/// ended with PUBLISH_DONE so that viewers subscribe again in the new numbering).
pub const TRACK_RESTARTS: &str = "tern_track_restarts_total";
/// Counter: upstream subscriptions moved to another upstream (failover, GOAWAY, takeover).
pub const FAILOVERS: &str = "tern_failovers_total";
/// Gauge: tracks without a live upstream whose subscribers are held for the linger window.
pub const TRACKS_HELD: &str = "tern_tracks_held";
/// Counter: announcements, PUBLISHes and takeovers refused to peers outside the cluster.
pub const PUBLISHERS_REFUSED: &str = "tern_untrusted_publishers_refused_total";
/// Counter: announcement loops detected in the relay tree.
pub const LOOPS: &str = "tern_loops_detected_total";

/// Label on [`SESSIONS_REFUSED`]; values in [`refused`].
pub const REASON: &str = "reason";

/// Label on [`BROADCAST_VIEWERS`]: the namespace, fields joined by `/`, or `_other` for the
/// namespaces past the cap.
pub const NAMESPACE: &str = "namespace";

/// Values of the [`REASON`] label.
pub mod refused {
    /// `limits.max_sessions_per_ip` reached (an IPv4 address or an IPv6 /64).
    pub const PER_IP: &str = "per_ip";
    /// `limits.new_sessions_per_ip` exceeded.
    pub const RATE: &str = "rate";
    /// `limits.max_sessions` reached.
    pub const CAPACITY: &str = "capacity";
    /// The node is draining (SIGTERM).
    pub const DRAINING: &str = "draining";
    /// Authentication or authorization failed.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// No MoQ version or ALPN in common.
    pub const VERSION: &str = "version";
    /// The setup was malformed or timed out.
    pub const BAD_SETUP: &str = "bad_setup";
}

/// Every metric name, for tests and dashboards.
pub const ALL: &[&str] = &[
    SESSIONS,
    SUBSCRIPTIONS,
    UPSTREAM_SUBSCRIPTIONS,
    BROADCAST_VIEWERS,
    OBJECTS_IN,
    OBJECTS_OUT,
    BYTES_IN,
    BYTES_OUT,
    CACHE_BYTES,
    CACHE_GROUPS,
    CACHE_EVICTIONS,
    SUBGROUP_RESETS,
    SUBSCRIBER_SKIPS,
    TOO_FAR_BEHIND,
    SESSIONS_REFUSED,
    RETRIES,
    RECEIVE_BUDGET_REFUSALS,
    CACHE_BUDGET_REFUSALS,
    PROTOCOL_VIOLATIONS,
    TRACK_RESTARTS,
    FAILOVERS,
    TRACKS_HELD,
    PUBLISHERS_REFUSED,
    LOOPS,
];

/// Registers units and help texts with the installed recorder (`# HELP` lines in Prometheus).
pub fn describe() {
    describe_gauge!(
        SESSIONS,
        Unit::Count,
        "Open MoQ sessions, by draft and transport."
    );
    describe_gauge!(SUBSCRIPTIONS, Unit::Count, "Live downstream subscriptions.");
    describe_gauge!(
        UPSTREAM_SUBSCRIPTIONS,
        Unit::Count,
        "Live upstream subscriptions (one per track)."
    );
    describe_counter!(OBJECTS_IN, Unit::Count, "Objects received.");
    describe_counter!(OBJECTS_OUT, Unit::Count, "Objects sent to subscribers.");
    describe_counter!(BYTES_IN, Unit::Bytes, "Object payload bytes received.");
    describe_counter!(BYTES_OUT, Unit::Bytes, "Object payload bytes sent.");
    describe_gauge!(
        CACHE_BYTES,
        Unit::Bytes,
        "Payload bytes in the group cache."
    );
    describe_gauge!(CACHE_GROUPS, Unit::Count, "Groups in the group cache.");
    describe_counter!(
        CACHE_EVICTIONS,
        Unit::Count,
        "Groups evicted from the cache."
    );
    describe_counter!(SUBGROUP_RESETS, Unit::Count, "Subgroup streams reset.");
    describe_counter!(
        SUBSCRIBER_SKIPS,
        Unit::Count,
        "Slow subscribers that jumped to the newest group."
    );
    describe_counter!(
        TOO_FAR_BEHIND,
        Unit::Count,
        "Subscriptions ended as too far behind."
    );
    describe_counter!(
        SESSIONS_REFUSED,
        Unit::Count,
        "Sessions refused, by reason."
    );
    describe_counter!(RETRIES, Unit::Count, "Stateless QUIC Retry packets sent.");
    describe_counter!(
        RECEIVE_BUDGET_REFUSALS,
        Unit::Count,
        "Objects refused: the receive budget for partly received objects was spent."
    );
    describe_counter!(
        CACHE_BUDGET_REFUSALS,
        Unit::Count,
        "Objects refused: open groups held the cache budget or the session's share of it."
    );
    describe_counter!(
        TRACK_RESTARTS,
        Unit::Count,
        "Tracks whose publisher restarted the group numbering (viewers told to subscribe again)."
    );
    describe_counter!(
        PROTOCOL_VIOLATIONS,
        Unit::Count,
        "Sessions closed for a protocol violation."
    );
    describe_counter!(
        FAILOVERS,
        Unit::Count,
        "Upstream subscriptions moved to another upstream."
    );
    describe_gauge!(
        TRACKS_HELD,
        Unit::Count,
        "Tracks without an upstream, subscribers held for the linger window."
    );
    describe_counter!(
        PUBLISHERS_REFUSED,
        Unit::Count,
        "Announcements, PUBLISHes and takeovers refused to peers outside the cluster."
    );
    describe_counter!(
        LOOPS,
        Unit::Count,
        "Announcement loops detected in the tree."
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_are_unique_prometheus_names() {
        let unique: BTreeSet<&str> = ALL.iter().copied().collect();
        assert_eq!(unique.len(), ALL.len());
        for name in ALL {
            assert!(name.starts_with("tern_"), "{name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
        }
    }
}
