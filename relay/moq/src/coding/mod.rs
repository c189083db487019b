//! Wire primitives shared by control messages and data streams.

mod error;
mod kvp;
mod names;
mod quic_varint;
mod varint;

pub use error::{DecodeError, EncodeError};
pub use kvp::{KeyValuePair, KeyValuePairs, KvpValue, MAX_KVP_VALUE_LEN};
pub use names::{
    FullTrackName, Location, MAX_FULL_TRACK_NAME_LEN, MAX_NAMESPACE_FIELDS, MAX_REASON_PHRASE_LEN,
    ReasonPhrase, TrackNamespace, decode_track_name, encode_track_name, write_safe,
};
pub use quic_varint::{MAX_QUIC_VARINT, decode_quic_varint, encode_quic_varint, quic_varint_len};
pub use varint::{
    MAX_VARINT_LEN, decode_varint, encode_varint, peek_varint, varint_len, varint_len_from_first,
};

use bytes::{Buf, Bytes};

/// Take `len` bytes (zero-copy for `Bytes`), or [`DecodeError::Short`].
pub fn read_bytes(buf: &mut impl Buf, len: u64) -> Result<Bytes, DecodeError> {
    if (buf.remaining() as u64) < len {
        return Err(DecodeError::Short);
    }
    Ok(buf.copy_to_bytes(len as usize))
}

/// Take one byte, or [`DecodeError::Short`].
pub fn read_u8(buf: &mut impl Buf) -> Result<u8, DecodeError> {
    if !buf.has_remaining() {
        return Err(DecodeError::Short);
    }
    Ok(buf.get_u8())
}
