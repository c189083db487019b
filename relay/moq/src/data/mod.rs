//! Data streams and datagrams (draft-18 §11): stream types, subgroup and fetch
//! headers, object headers, datagrams and Properties.

mod datagram;
mod fetch;
mod properties;
mod subgroup;

pub use datagram::{
    Datagram, DatagramPayload, ObjectDatagram, PADDING_DATAGRAM, decode_datagram,
    encode_datagram_header,
};
pub use fetch::{
    FETCH_END_OF_NON_EXISTENT_RANGE, FETCH_END_OF_UNKNOWN_RANGE, FetchHeader, FetchObject,
    FetchObjectHeader, FetchObjectState,
};
pub use properties::{ObjectStatus, Properties, property_type};
pub use subgroup::{
    SubgroupHeader, SubgroupId, SubgroupObject, encode_subgroup_header,
    encode_subgroup_object_header, is_subgroup_header_type,
};

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
}
