//! Data streams and datagrams (draft-18 §11): stream types, subgroup and fetch
//! headers, object headers, datagrams and Properties. The `_as` functions take a [`Version`]:
//! drafts 18 to 22 share this data plane, drafts 14 and 16 are read and written by
//! [`draft16`].

mod datagram;
pub mod draft16;
mod fetch;
mod properties;
mod subgroup;

pub use datagram::{
    Datagram, DatagramPayload, ObjectDatagram, PADDING_DATAGRAM, decode_datagram,
    decode_datagram_as, encode_datagram_header, encode_datagram_header_as,
};
pub use draft16::Decoded;
pub use fetch::{
    FETCH_END_OF_NON_EXISTENT_RANGE, FETCH_END_OF_UNKNOWN_RANGE, FetchHeader, FetchObject,
    FetchObjectHeader, FetchObjectState,
};
pub use properties::{ObjectStatus, Properties, property_type};
pub use subgroup::{
    SubgroupHeader, SubgroupId, SubgroupObject, encode_subgroup_header, encode_subgroup_header_as,
    encode_subgroup_object_header, encode_subgroup_object_header_as, is_subgroup_header_type,
};

use crate::Version;
use crate::coding::DecodeError;

/// FETCH_HEADER stream type.
pub const FETCH_HEADER: u64 = 0x05;
/// SETUP (control stream) stream type.
pub const SETUP_STREAM: u64 = 0x2F00;
/// PADDING stream type.
pub const PADDING_STREAM: u64 = 0x132B_3E28;

/// What a unidirectional stream carries, from its first varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    /// SUBGROUP_HEADER with this type value.
    Subgroup(u64),
    /// FETCH_HEADER.
    Fetch,
    /// The control stream (starts with SETUP).
    Setup,
    /// A padding stream.
    Padding,
}

impl StreamType {
    /// Classify a stream type value; unknown types close the session.
    pub fn from_wire(v: u64) -> Result<Self, DecodeError> {
        match v {
            FETCH_HEADER => Ok(Self::Fetch),
            SETUP_STREAM => Ok(Self::Setup),
            PADDING_STREAM => Ok(Self::Padding),
            v if is_subgroup_header_type(v) => Ok(Self::Subgroup(v)),
            v => Err(DecodeError::UnknownStreamType(v)),
        }
    }

    /// Classify a stream type value of `version` (drafts 14 and 16 have no SETUP or padding
    /// stream).
    pub fn from_wire_as(v: u64, version: Version) -> Result<Self, DecodeError> {
        if version.has_request_streams() {
            Self::from_wire(v)
        } else {
            draft16::stream_type(v, version)
        }
    }
}
