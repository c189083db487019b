//! The data plane of drafts 14 and 16 ("Data Streams and Datagrams"), read into and written
//! from the shared (draft-18) model. The version-aware entry points beside draft-18's
//! ([`super::encode_subgroup_header_as`], [`super::SubgroupObject::decode_as`],
//! [`super::FetchObjectState::decode_as`], [`super::decode_datagram_as`], …) call these.
//!
//! What differs from draft-18, and how it maps:
//! - every `(i)` field is an RFC 9000 varint; a model value above 2^62 - 1 cannot be sent
//!   ([`crate::EncodeError::VarintTooLarge`]), and a computed ID above it is refused;
//! - unidirectional streams are SUBGROUP_HEADER or FETCH_HEADER (0x05) only: there is no
//!   SETUP or padding stream (the control stream is bidirectional), nor padding datagrams;
//! - SUBGROUP_HEADER: draft-18's bit layout without FIRST_OBJECT (0x40), which is dropped on
//!   the way out and read as unset. Draft-16's types are 0x10..=0x15, 0x18..=0x1D and the same
//!   with DEFAULT_PRIORITY (0x20); draft-14's are 0x10..=0x15 and 0x18..=0x1D, and always carry
//!   a Publisher Priority, so a model header without one is refused there;
//! - Extension Headers are the model's Properties: draft-16 writes their Key-Value-Pairs with
//!   delta types, draft-14 with absolute types in any order (the model keeps them in ascending
//!   type order, so an unsorted draft-14 list is re-sent sorted). Immutable Extensions (0x0B)
//!   hold Key-Value-Pairs too, re-encoded in the receiving draft's form ([`extensions`]);
//! - Object Status: draft-16's are the model's (0x0, 0x3, 0x4). Draft-14 adds Object Does Not
//!   Exist (0x1), which the model has no form for: from draft-16 on, absence says it. Such an
//!   object is [`Decoded::Omitted`] and the readers leave it out. Draft-14 allows Extension
//!   Headers on an End of Group or End of Track object; the model, like draft-16, does not, so
//!   they are dropped there;
//! - FETCH objects: draft-16 has draft-18's Serialization Flags, but the Group ID and Object ID
//!   fields are absolute where draft-18 has deltas (so no group order is needed). Draft-14
//!   writes every field of every object, a Subgroup ID equal to the Object ID for a datagram
//!   object, and an Object Status: Normal objects are the model's, the others are omitted (the
//!   model's fetch entries carry no status; a gap in a draft-14 FETCH means "does not exist").
//!   An End of Range is its Serialization Flags and Location, with no Object Payload Length
//!   (as draft-18's here). Draft-14 has no End of Range: an End of Non-Existent Range is sent
//!   as nothing (the gap says it), an End of Unknown Range cannot be sent;
//! - OBJECT_DATAGRAM: draft-16 is draft-18's layout. Draft-14's types are 0x00..=0x07 (payload)
//!   and 0x20..=0x21 (status, always with an Object ID), always with a Publisher Priority.

mod datagram;
pub mod extensions;
mod fetch;
mod subgroup;
#[cfg(test)]
mod tests;

pub use datagram::{decode_datagram, encode_datagram_header};
pub use fetch::{
    decode_fetch_header, decode_fetch_object, encode_fetch_header, encode_fetch_object,
};
pub use subgroup::{
    decode_subgroup_header, decode_subgroup_header_after_type, decode_subgroup_object,
    encode_subgroup_header, encode_subgroup_object, is_subgroup_header_type,
};

use super::{FETCH_HEADER, StreamType};
use crate::Location;
use crate::Version;
use crate::coding::{DecodeError, MAX_QUIC_VARINT};

/// Object Status Object Does Not Exist (draft-14 only).
pub const OBJECT_DOES_NOT_EXIST: u64 = 0x1;

/// One object read from a draft-14 or draft-16 stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Decoded<T> {
    /// An object (or fetch entry) of the shared model.
    Model(T),
    /// An object the shared model has no form for, which the readers leave out: draft-14's
    /// Object Does Not Exist, and on a draft-14 fetch stream any object whose status is not
    /// Normal. Its Object ID still counts for the next object's delta.
    Omitted {
        /// Where it is.
        location: Location,
        /// Its Object Status.
        status: u64,
    },
}

/// Classify the first varint of a draft-14 or draft-16 unidirectional stream.
pub fn stream_type(t: u64, v: Version) -> Result<StreamType, DecodeError> {
    match t {
        FETCH_HEADER => Ok(StreamType::Fetch),
        t if is_subgroup_header_type(t, v) => Ok(StreamType::Subgroup(t)),
        t => Err(DecodeError::UnknownStreamType(t)),
    }
}

/// True for draft-14 (false for draft-16).
fn is_draft14(v: Version) -> bool {
    v == Version::Draft14
}

/// `base + 1 + delta` (a subgroup stream's Object ID), refused above 2^62 - 1.
fn next_id(base: Option<u64>, delta: u64, what: &'static str) -> Result<u64, DecodeError> {
    let id = match base {
        None => Some(delta),
        Some(b) => b.checked_add(delta).and_then(|v| v.checked_add(1)),
    };
    id.filter(|v| *v <= MAX_QUIC_VARINT)
        .ok_or(DecodeError::IdOverflow(what))
}
