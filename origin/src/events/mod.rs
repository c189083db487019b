//! Real-time events (chat, reactions, bids, gifts): viewers publish, the origin puts them in
//! one order that every viewer sees.
//!
//! A track has one publisher (events from many publishers on one track would be a malformed
//! track), so each viewer publishes its own: namespace `<broadcast>/viewers/<id>`, track
//! [`EVENTS_TRACK`], one JSON [`ViewerEvent`] per object (announced with PUBLISH_NAMESPACE; the
//! relay routes a SUBSCRIBE to the longest announced prefix, so these reach the viewer, not the
//! origin). The origin finds the viewers with SUBSCRIBE_NAMESPACE on `<broadcast>/viewers`,
//! subscribes to each one's track, and its [`Sequencer`] republishes every event as one
//! [`Record`] on the broadcast's own [`EVENTS_TRACK`]:
//!
//! - one total order (`seq`), stamped with the origin's clock (`sequencedAt`) next to the
//!   viewer's (`sentAt`), so a reader can show the event latency;
//! - a group per 64 events or per second (consecutive group IDs from a base, object ID = the
//!   event's place in its group), so a late joiner starts at a recent group;
//! - publisher priority 0, above audio (1) and video (2): its streams are sent first, and the
//!   relay's lag policy never skips a priority-0 group (see the relay's fan-out);
//! - bounded: a size limit, a per-viewer rate, a bounded queue, each refusal counted.
//!
//! [`Sequencing`] runs all of this on a relay session; the sequencer itself is sans-IO.

mod record;
mod run;
mod sequencer;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use tern_moq::TrackNamespace;

pub use record::{DEFAULT_KIND, Record, ViewerEvent, valid_kind, valid_viewer};
pub use run::{Sequencing, VIEWERS_PER_SESSION};
pub use sequencer::{Arrival, Config, EventObject, Refusal, Sequencer, Stats};

/// Name of the ordered track (in the broadcast's namespace) and of each viewer's track (in its
/// own namespace).
pub const EVENTS_TRACK: &str = "events";
/// The namespace field under which viewers publish: `<broadcast>/viewers/<id>`.
pub const VIEWERS: &str = "viewers";
/// Publisher priority of the event tracks (0: the most important).
pub const EVENTS_PRIORITY: u8 = 0;

/// `<broadcast>/viewers`: the prefix the origin lists.
pub fn viewers_prefix(broadcast: &TrackNamespace) -> TrackNamespace {
    let mut fields = broadcast.fields().to_vec();
    fields.push(Bytes::from_static(VIEWERS.as_bytes()));
    TrackNamespace::new(fields)
}

/// `<broadcast>/viewers/<viewer>`: where a viewer publishes its events.
pub fn viewer_namespace(broadcast: &TrackNamespace, viewer: &str) -> TrackNamespace {
    let mut fields = viewers_prefix(broadcast).fields().to_vec();
    fields.push(Bytes::copy_from_slice(viewer.as_bytes()));
    TrackNamespace::new(fields)
}
