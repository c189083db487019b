//! The MoQ messages relays exchange in the simulation, with approximate wire sizes.
//!
//! Request IDs between relays are the downstream relay's [`TrackId`]: a downstream relay holds
//! one upstream subscription per track, so the track names the request.

use tern_relay_core::router::TrackId;
use tern_relay_core::types::{Filter, Location, Namespace, Object, TrackName};

/// Bytes charged for a control message (header, request ID, parameters, QUIC framing).
pub const CONTROL_BYTES: usize = 64;
/// Bytes charged per object beyond its payload (object header and stream/QUIC framing).
pub const OBJECT_OVERHEAD: usize = 24;

/// A message from one relay to another.
#[derive(Debug, Clone)]
pub enum Msg {
    /// SUBSCRIBE_NAMESPACE for every namespace (the downstream relay learns routes).
    SubscribeNamespace {
        /// Request ID.
        request: u64,
    },
    /// NAMESPACE: a namespace reachable through the sender.
    Namespace {
        /// The SUBSCRIBE_NAMESPACE request.
        request: u64,
        /// The namespace.
        namespace: Namespace,
    },
    /// SUBSCRIBE.
    Subscribe {
        /// The subscriber's track.
        request: TrackId,
        /// Track name.
        name: TrackName,
        /// Filter.
        filter: Filter,
    },
    /// SUBSCRIBE_OK with the publisher's Largest Object.
    SubscribeOk {
        /// The subscriber's track.
        request: TrackId,
        /// Largest Object.
        largest: Option<Location>,
    },
    /// REQUEST_ERROR answering a SUBSCRIBE.
    SubscribeError {
        /// The subscriber's track.
        request: TrackId,
        /// Error code.
        code: u64,
    },
    /// UNSUBSCRIBE.
    Unsubscribe {
        /// The subscriber's track.
        request: TrackId,
    },
    /// PUBLISH_DONE.
    PublishDone {
        /// The subscriber's track.
        request: TrackId,
        /// Status code.
        status: u64,
    },
    /// One object on a subgroup stream.
    Object {
        /// The subscriber's track.
        request: TrackId,
        /// Subgroup ID.
        subgroup: u64,
        /// Publisher priority.
        priority: u8,
        /// The object (payload shared, never copied).
        object: Object,
    },
    /// A subgroup stream's FIN.
    SubgroupEnd {
        /// The subscriber's track.
        request: TrackId,
        /// Group ID.
        group: u64,
        /// Subgroup ID.
        subgroup: u64,
    },
}

impl Msg {
    /// Bytes the message occupies on a link.
    pub fn wire_bytes(&self) -> usize {
        match self {
            Msg::Object { object, .. } => {
                OBJECT_OVERHEAD + object.payload.len() + object.properties.len()
            }
            _ => CONTROL_BYTES,
        }
    }

    /// Whether the message is control (costs the receiving relay's control-plane time).
    pub fn is_control(&self) -> bool {
        !matches!(self, Msg::Object { .. } | Msg::SubgroupEnd { .. })
    }
}
