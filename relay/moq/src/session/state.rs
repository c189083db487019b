//! What each stream of a [`Session`](super::Session) is, and the readers that parse the
//! control messages of drafts 14 and 16.

use bytes::BytesMut;

use super::RequestHandle;
use crate::draft16::{self, ControlMessage};
use crate::reader::{ControlReader, DataStreamReader};
use crate::{DecodeError, Limits, Version};

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
    MuxControl(Reader16),
    /// Draft-16: a SUBSCRIBE_NAMESPACE stream (the peer's: request `None` until it is read).
    Request16 {
        request: Option<RequestHandle>,
        reader: Reader16,
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

/// Reads draft-14/16 control messages from the control stream or a SUBSCRIBE_NAMESPACE stream.
#[derive(Debug)]
pub(super) struct Reader16 {
    buf: BytesMut,
    limits: Limits,
    version: Version,
}

impl Reader16 {
    pub(super) fn new(limits: Limits, version: Version) -> Self {
        Self {
            buf: BytesMut::new(),
            limits,
            version,
        }
    }

    pub(super) fn push(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        let buffered = self.buf.len() + chunk.len();
        if buffered > self.limits.max_control_buffer {
            return Err(DecodeError::BufferFull {
                buffered,
                max: self.limits.max_control_buffer,
            });
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    pub(super) fn pop(&mut self) -> Result<Option<ControlMessage>, DecodeError> {
        match draft16::decode(&mut self.buf, self.version, &self.limits) {
            Ok(m) => Ok(Some(m)),
            Err(DecodeError::Short) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TruncatedStream)
        }
    }
}
