//! FETCH and FETCH_OK.

use bytes::{Buf, BufMut, Bytes};

use super::Parameters;
use crate::coding::{
    DecodeError, EncodeError, Location, TrackNamespace, decode_track_name, decode_varint,
    encode_track_name, encode_varint, read_u8,
};
use crate::data::Properties;

/// The Fetch Type and its structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchType {
    /// 0x1 Standalone Fetch.
    Standalone {
        /// Track Namespace.
        track_namespace: TrackNamespace,
        /// Track Name.
        track_name: Bytes,
        /// Start Location.
        start_location: Location,
        /// End Location, plus 1 (Object 0: the whole group).
        end_location: Location,
    },
    /// 0x2 Relative Joining Fetch.
    RelativeJoining {
        /// Joining Request ID.
        joining_request_id: u64,
        /// Joining Start: groups before the Joining Location's group.
        joining_start: u64,
    },
    /// 0x3 Absolute Joining Fetch.
    AbsoluteJoining {
        /// Joining Request ID.
        joining_request_id: u64,
        /// Joining Start: the absolute start group.
        joining_start: u64,
    },
}

impl FetchType {
    /// Fetch Type code.
    pub fn code(&self) -> u64 {
        match self {
            Self::Standalone { .. } => 0x1,
            Self::RelativeJoining { .. } => 0x2,
            Self::AbsoluteJoining { .. } => 0x3,
        }
    }
}

/// FETCH (0x16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// Request ID.
    pub request_id: u64,
    /// Fetch Type with its Standalone or Joining structure.
    pub fetch_type: FetchType,
    /// Parameters.
    pub parameters: Parameters,
}

impl Fetch {
    pub(crate) fn decode_payload(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        let request_id = decode_varint(buf)?;
        let fetch_type = match decode_varint(buf)? {
            0x1 => {
                let track_namespace = TrackNamespace::decode(buf)?;
                let track_name = decode_track_name(buf, &track_namespace)?;
                FetchType::Standalone {
                    track_namespace,
                    track_name,
                    start_location: Location::decode(buf)?,
                    end_location: Location::decode(buf)?,
                }
            }
            0x2 => FetchType::RelativeJoining {
                joining_request_id: decode_varint(buf)?,
                joining_start: decode_varint(buf)?,
            },
            0x3 => FetchType::AbsoluteJoining {
                joining_request_id: decode_varint(buf)?,
                joining_start: decode_varint(buf)?,
            },
            value => {
                return Err(DecodeError::InvalidValue {
                    field: "Fetch Type",
                    value,
                });
            }
        };
        Ok(Self {
            request_id,
            fetch_type,
            parameters: Parameters::decode(buf)?,
        })
    }

    pub(crate) fn encode_payload(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        encode_varint(self.request_id, buf);
        encode_varint(self.fetch_type.code(), buf);
        match &self.fetch_type {
            FetchType::Standalone {
                track_namespace,
                track_name,
                start_location,
                end_location,
            } => {
                track_namespace.encode(buf)?;
                encode_track_name(track_name, track_namespace, buf)?;
                start_location.encode(buf);
                end_location.encode(buf);
            }
            FetchType::RelativeJoining {
                joining_request_id,
                joining_start,
            }
            | FetchType::AbsoluteJoining {
                joining_request_id,
                joining_start,
            } => {
                encode_varint(*joining_request_id, buf);
                encode_varint(*joining_start, buf);
            }
        }
        self.parameters.encode(buf)
    }
}

/// FETCH_OK (0x18).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOk {
    /// End Of Track.
    pub end_of_track: bool,
    /// End Location (last object plus 1, or Object 0 for the whole group).
    pub end_location: Location,
    /// Parameters.
    pub parameters: Parameters,
    /// Track Properties (rest of the message).
    pub track_properties: Properties,
}

impl FetchOk {
    pub(crate) fn decode_payload(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        let end_of_track = match read_u8(buf)? {
            0 => false,
            1 => true,
            v => {
                return Err(DecodeError::InvalidValue {
                    field: "End Of Track",
                    value: u64::from(v),
                });
            }
        };
        Ok(Self {
            end_of_track,
            end_location: Location::decode(buf)?,
            parameters: Parameters::decode(buf)?,
            track_properties: Properties::decode_rest(buf)?,
        })
    }

    pub(crate) fn encode_payload(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        buf.put_u8(u8::from(self.end_of_track));
        self.end_location.encode(buf);
        self.parameters.encode(buf)?;
        buf.put_slice(self.track_properties.raw());
        Ok(())
    }
}
