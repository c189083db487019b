//! What each stream of a [`Session`](super::Session) is.

use super::RequestHandle;
use crate::reader::{ControlReader, DataStreamReader};
use crate::{Limits, Version};

/// What a stream is.
#[derive(Debug)]
pub(super) enum StreamState {
    /// Our control stream (write only).
    OurControl,
    /// A peer unidirectional stream whose type is not known yet, or a data stream.
    Uni(Box<DataStreamReader>),
    /// The peer's control stream.
    PeerControl(ControlReader),
    /// A request stream: the peer's (request `None` until its first message) or ours.
    Request {
        request: Option<RequestHandle>,
        reader: ControlReader,
    },
    /// A stream whose incoming side is over; the request it carried, until the driver forgets
    /// the stream ([`Session::forget_stream`]). On drafts 14 and 16 also the name of a request
    /// on the control stream ([`super::mux_stream`]).
    Closed { request: Option<RequestHandle> },
    /// Drafts 14 and 16: the bidirectional control stream.
    MuxControl(ControlReader),
    /// Draft-16: a SUBSCRIBE_NAMESPACE stream (the peer's: request `None` until it is read).
    Request16 {
        request: Option<RequestHandle>,
        reader: ControlReader,
    },
}

impl StreamState {
    pub(super) fn uni(limits: Limits, version: Version) -> Self {
        StreamState::Uni(Box::new(DataStreamReader::with_version(limits, version)))
    }

    pub(super) fn peer_request(limits: Limits, version: Version) -> Self {
        StreamState::Request {
            request: None,
            reader: ControlReader::with_version(limits, version),
        }
    }

    pub(super) fn request(request: RequestHandle, limits: Limits, version: Version) -> Self {
        StreamState::Request {
            request: Some(request),
            reader: ControlReader::with_version(limits, version),
        }
    }
}
