//! The control messages of drafts 14 and 16: `Type (i), Length (16), Payload` with RFC 9000
//! varints.

use bytes::{Buf, BufMut, Bytes};

use super::{ControlMessage, d14, d14_write, d16};
use crate::coding::{decode_quic_varint, encode_quic_varint};
use crate::message::peek_type_length;
use crate::{DecodeError, EncodeError, Limits, Version};

/// Longest `Type (i), Length (16)` header.
const MAX_HEADER: usize = 8 + 2;

/// The `Type, Length` header at the front of `buf`, not consumed: (type, payload length,
/// header length).
fn peek_header(buf: &impl Buf) -> Result<(u64, usize, usize), DecodeError> {
    peek_type_length(buf, |h| decode_quic_varint(h))
}

/// Decode one framed control message of `version` (14 or 16) from the front of `buf`;
/// [`DecodeError::Short`], consuming nothing, until all of it is buffered.
///
/// An unknown type, or a length above `limits.max_control_message`, is refused as soon as the
/// header is buffered; a payload its fields do not fill exactly is a
/// [`DecodeError::LengthMismatch`]. `buf` must expose its bytes through
/// `chunk`/`chunks_vectored`, as `Bytes`, `BytesMut`, `&[u8]` and `Chain` do.
pub fn decode(
    buf: &mut impl Buf,
    version: Version,
    limits: &Limits,
) -> Result<ControlMessage, DecodeError> {
    let known: fn(u64) -> bool = match version {
        Version::Draft14 => d14::is_known,
        Version::Draft16 => d16::is_known,
        other => {
            return Err(DecodeError::InvalidValue {
                field: "draft (this codec reads drafts 14 and 16)",
                value: u64::from(other.number()),
            });
        }
    };
    let (kind, len, header_len) = peek_header(buf)?;
    if !known(kind) {
        return Err(DecodeError::UnknownMessageType(kind));
    }
    if len > limits.max_control_message {
        return Err(DecodeError::MessageTooLong {
            len,
            max: limits.max_control_message,
        });
    }
    if buf.remaining() < header_len + len {
        return Err(DecodeError::Short);
    }
    buf.advance(header_len);
    let mut payload: Bytes = buf.copy_to_bytes(len);
    let decoded = match version {
        Version::Draft14 => d14::decode(kind, &mut payload),
        _ => d16::decode(kind, &mut payload),
    };
    let mismatch = DecodeError::LengthMismatch { declared: len };
    let m = decoded.map_err(|e| match e {
        DecodeError::Short => mismatch.clone(),
        other => other,
    })?;
    if payload.has_remaining() {
        return Err(mismatch);
    }
    Ok(m)
}

/// Encode `message` framed, in the shape `version` (14 or 16) gives it. On error nothing is
/// written: what the draft cannot say ([`EncodeError::Invalid`] names it) or a value above
/// 2^62 - 1 ([`EncodeError::VarintTooLarge`]).
pub fn encode(
    message: &ControlMessage,
    version: Version,
    buf: &mut impl BufMut,
) -> Result<(), EncodeError> {
    let mut payload = Vec::new();
    let kind = match version {
        Version::Draft14 => d14_write::encode(message, &mut payload)?,
        Version::Draft16 => d16::encode(message, &mut payload)?,
        _ => {
            return Err(EncodeError::Invalid(
                "the draft-14/16 codec writes drafts 14 and 16 only",
            ));
        }
    };
    let len =
        u16::try_from(payload.len()).map_err(|_| EncodeError::MessageTooLong(payload.len()))?;
    let mut head = Vec::with_capacity(MAX_HEADER);
    encode_quic_varint(kind, &mut head)?;
    head.put_u16(len);
    buf.put_slice(&head);
    buf.put_slice(&payload);
    Ok(())
}
