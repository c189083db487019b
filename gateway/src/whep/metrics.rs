//! WHEP in the node's `/metrics`, through the `metrics` crate as the relay's own metrics are
//! (the Prometheus recorder the node's admin port installs renders them with the rest).

use metrics::{Unit, counter, describe_counter, describe_gauge, gauge};

/// Gauge: WHEP viewers connected or connecting.
pub const VIEWERS: &str = "tern_whep_viewers";
/// Gauge: tracks read and packetised for WHEP viewers (one node subscription each).
pub const SOURCES: &str = "tern_whep_sources";
/// Counter, label `result` (`answered`, `refused`): WHEP offers.
pub const OFFERS: &str = "tern_whep_offers_total";
/// Counter, label `kind` (`video`, `audio`): frames not sent to a viewer whose path could not
/// take them.
pub const DROPPED: &str = "tern_whep_frames_dropped_total";
/// Counter: viewers moved between renditions by their bandwidth estimate.
pub const SWITCHES: &str = "tern_whep_rendition_switches_total";

/// Registers the help texts of the WHEP metrics with the installed recorder.
pub fn describe() {
    describe_gauge!(
        VIEWERS,
        Unit::Count,
        "WHEP viewers connected or connecting."
    );
    describe_gauge!(
        SOURCES,
        Unit::Count,
        "Tracks read and packetised for WHEP viewers (one subscription each)."
    );
    describe_counter!(
        OFFERS,
        Unit::Count,
        "WHEP offers, by result (answered, refused)."
    );
    describe_counter!(
        DROPPED,
        Unit::Count,
        "Frames not sent to a WHEP viewer whose path could not take them, by kind."
    );
    describe_counter!(
        SWITCHES,
        Unit::Count,
        "WHEP viewers moved between renditions by their bandwidth estimate."
    );
}

/// An offer answered or refused.
pub fn offer(answered: bool) {
    let result = if answered { "answered" } else { "refused" };
    counter!(OFFERS, "result" => result).increment(1);
}

/// The viewers now.
pub fn viewers(n: usize) {
    gauge!(VIEWERS).set(n as f64);
}

/// The sources now.
pub fn sources(n: usize) {
    gauge!(SOURCES).set(n as f64);
}

/// A frame of `kind` dropped for a viewer.
pub fn dropped(video: bool) {
    let kind = if video { "video" } else { "audio" };
    counter!(DROPPED, "kind" => kind).increment(1);
}

/// A viewer moved to another rendition.
pub fn switched() {
    counter!(SWITCHES).increment(1);
}
