//! Drafts 14 and 16 on the wire: one bidirectional control stream, opened by the client, that
//! carries CLIENT_SETUP / SERVER_SETUP and then every request and every answer, each naming its
//! request by Request ID; request flow control (MAX_REQUEST_ID, REQUESTS_BLOCKED); explicit
//! cancel messages (UNSUBSCRIBE, FETCH_CANCEL, PUBLISH_NAMESPACE_DONE / _CANCEL, draft-14's
//! UNSUBSCRIBE_NAMESPACE); RFC 9000 varints on every `(i)` field. Draft-16 moves
//! SUBSCRIBE_NAMESPACE onto a bidirectional stream of its own and answers every request with
//! REQUEST_OK / REQUEST_ERROR where draft-14 has one OK and one ERROR message per request type.
//!
//! Messages are the shared (draft-18) model where the drafts agree on meaning
//! ([`ControlMessage::Request`], [`ControlMessage::Reply`]); what only these drafts have is a
//! variant of its own. The session ([`crate::session`]) maps them onto the same events as
//! draft-18's request streams.
//!
//! Reading is strict, as the drafts require. Writing bridges from the richer model: a model
//! parameter or Track Property the draft has no place for (RENDEZVOUS_TIMEOUT, DYNAMIC_GROUPS,
//! unknown types, draft-14's Retry Interval, ...) is left out, being hop-by-hop or metadata the
//! older draft does not have, and a field the model leaves out takes the draft's default
//! (Subscriber Priority 128, Forward 1, Group Order Ascending, unfiltered). What would make a
//! malformed or misleading message is refused: a value outside the draft's range for something
//! it does express (GROUP_ORDER 3, DELIVERY_TIMEOUT 0 on draft-16), a filter, FETCH or REDIRECT
//! it has no form for, a draft-14 SUBSCRIBE_UPDATE missing a field (it replaces the
//! subscription's values), a draft-14 OK or ERROR whose request kind is unknown.

mod codes;
mod common;
mod d14;
mod d14_write;
mod d16;
mod fields14;
mod message;
mod params;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_mapping;
mod wire;

pub use message::{decode, encode};
pub use params::setup_parameter;

use crate::TrackNamespace;
use crate::coding::ReasonPhrase;
use crate::message::codes::RequestErrorCode;
use crate::message::{GoAway, Message, Setup};

/// The request a reply answers, for draft-14's per-type OK and ERROR messages (draft-16's
/// REQUEST_OK and REQUEST_ERROR do not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// SUBSCRIBE (draft-14: SUBSCRIBE_ERROR; REQUEST_UPDATE / SUBSCRIBE_UPDATE has no answer).
    Subscribe,
    /// PUBLISH (PUBLISH_OK, draft-14: PUBLISH_ERROR).
    Publish,
    /// FETCH (FETCH_OK, draft-14: FETCH_ERROR).
    Fetch,
    /// TRACK_STATUS (draft-14: TRACK_STATUS_OK / TRACK_STATUS_ERROR).
    TrackStatus,
    /// PUBLISH_NAMESPACE (draft-14: PUBLISH_NAMESPACE_OK / _ERROR).
    PublishNamespace,
    /// SUBSCRIBE_NAMESPACE (draft-14: SUBSCRIBE_NAMESPACE_OK / _ERROR).
    SubscribeNamespace,
}

impl RequestKind {
    /// The kind of a request message of the shared model.
    pub fn of(m: &Message) -> Option<Self> {
        Some(match m {
            Message::Subscribe(_) => Self::Subscribe,
            Message::Publish(_) => Self::Publish,
            Message::Fetch(_) => Self::Fetch,
            Message::TrackStatus(_) => Self::TrackStatus,
            Message::PublishNamespace(_) => Self::PublishNamespace,
            Message::SubscribeNamespace(_) => Self::SubscribeNamespace,
            _ => return None,
        })
    }
}

/// What PUBLISH_NAMESPACE_DONE and PUBLISH_NAMESPACE_CANCEL name: draft-16 the
/// PUBLISH_NAMESPACE's Request ID, draft-14 its Track Namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceTarget {
    /// Draft-16.
    RequestId(u64),
    /// Draft-14.
    Namespace(TrackNamespace),
}

/// One control message of drafts 14 and 16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    /// CLIENT_SETUP (0x20): draft-14's Supported Versions (empty on draft-16) and the Setup
    /// Parameters, as draft-18's SETUP options (the Setup Parameter types are the same).
    ClientSetup {
        /// Supported Versions (draft-14 only).
        versions: Vec<u64>,
        /// Setup Parameters.
        setup: Setup,
    },
    /// SERVER_SETUP (0x21): draft-14's Selected Version (`None` on draft-16).
    ServerSetup {
        /// Selected Version (draft-14 only).
        version: Option<u64>,
        /// Setup Parameters.
        setup: Setup,
    },
    /// GOAWAY (0x10; draft-14 and -16 carry only the New Session URI).
    GoAway(GoAway),
    /// MAX_REQUEST_ID (0x15): the peer may use Request IDs below this.
    MaxRequestId(u64),
    /// REQUESTS_BLOCKED (0x1A): the sender wants to send a request at this Maximum Request ID.
    RequestsBlocked(u64),
    /// A new request; the message carries its Request ID: SUBSCRIBE, PUBLISH, FETCH,
    /// TRACK_STATUS, PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE. Draft-16's SUBSCRIBE_NAMESPACE is
    /// the model's SUBSCRIBE_NAMESPACE with Subscribe Options NAMESPACE (0x1) and its
    /// SUBSCRIBE_TRACKS with PUBLISH (0x0); draft-14's is SUBSCRIBE_NAMESPACE.
    Request(Message),
    /// A message about request `request_id`: SUBSCRIBE_OK, PUBLISH_OK, FETCH_OK, REQUEST_OK (or
    /// draft-14's PUBLISH_NAMESPACE_OK, SUBSCRIBE_NAMESPACE_OK, TRACK_STATUS_OK),
    /// REQUEST_ERROR (or draft-14's per-type errors), PUBLISH_DONE, and REQUEST_UPDATE (whose
    /// own Request ID is in the message; `request_id` is its Existing Request ID, draft-14's
    /// SUBSCRIBE_UPDATE names the subscription the same way). Draft-16's NAMESPACE and
    /// NAMESPACE_DONE, on a SUBSCRIBE_NAMESPACE's stream, carry no Request ID: read with
    /// `request_id` 0, which is not written.
    Reply {
        /// The request this is about.
        request_id: u64,
        /// Which request it is, where the wire says (draft-14's per-type messages) or the
        /// encoder needs it (a draft-14 OK or ERROR); `None` otherwise.
        kind: Option<RequestKind>,
        /// The message.
        message: Message,
    },
    /// UNSUBSCRIBE (0xA): the subscriber ends subscription `request_id`.
    Unsubscribe {
        /// The SUBSCRIBE's Request ID.
        request_id: u64,
    },
    /// FETCH_CANCEL (0x17).
    FetchCancel {
        /// The FETCH's Request ID.
        request_id: u64,
    },
    /// PUBLISH_NAMESPACE_DONE (0x9): the publisher withdraws a namespace.
    PublishNamespaceDone(NamespaceTarget),
    /// PUBLISH_NAMESPACE_CANCEL (0xC): the receiver of PUBLISH_NAMESPACE no longer wants it.
    PublishNamespaceCancel {
        /// The PUBLISH_NAMESPACE.
        target: NamespaceTarget,
        /// Error Code (REQUEST_ERROR's codes).
        error_code: RequestErrorCode,
        /// Error Reason.
        error_reason: ReasonPhrase,
    },
    /// UNSUBSCRIBE_NAMESPACE (0x14, draft-14 only): names the prefix subscribed to.
    UnsubscribeNamespace {
        /// Track Namespace Prefix.
        prefix: TrackNamespace,
    },
}
