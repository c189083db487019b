//! SUBGROUP_HEADER and the subgroup object fields of drafts 14 and 16 (Section 10.4.2).

use bytes::{Buf, BufMut};

use super::extensions::{decode_extensions, encode_extensions};
use super::{Decoded, OBJECT_DOES_NOT_EXIST, is_draft14, next_id};
use crate::coding::{DecodeError, EncodeError, decode_quic_varint, encode_quic_varint};
use crate::data::{ObjectStatus, Properties, SubgroupHeader, SubgroupId, SubgroupObject};
use crate::{Limits, Location, Version};

const DEFAULT_PRIORITY: u64 = 0x20;
/// draft-18's FIRST_OBJECT bit, which drafts 14 and 16 do not have.
const FIRST_OBJECT: u64 = 0x40;

/// True for a SUBGROUP_HEADER type of `v`: draft-14 0x10..=0x15 and 0x18..=0x1D; draft-16
/// those and the same with DEFAULT_PRIORITY (0x30..=0x35, 0x38..=0x3D).
pub fn is_subgroup_header_type(t: u64, v: Version) -> bool {
    let base = if is_draft14(v) {
        t
    } else {
        t & !DEFAULT_PRIORITY
    };
    (0x10..=0x15).contains(&base) || (0x18..=0x1D).contains(&base)
}

/// Read a SUBGROUP_HEADER of `v`, type included.
pub fn decode_subgroup_header(
    buf: &mut impl Buf,
    v: Version,
) -> Result<SubgroupHeader, DecodeError> {
    let t = decode_quic_varint(buf)?;
    if !is_subgroup_header_type(t, v) {
        return Err(DecodeError::UnknownStreamType(t));
    }
    decode_subgroup_header_after_type(t, buf)
}

/// Read the fields after a valid SUBGROUP_HEADER type `t` already read.
pub fn decode_subgroup_header_after_type(
    t: u64,
    buf: &mut impl Buf,
) -> Result<SubgroupHeader, DecodeError> {
    Ok(SubgroupHeader {
        first_object: false,
        ..SubgroupHeader::decode_fields(t, buf, decode_quic_varint)?
    })
}

/// Write `header` as a SUBGROUP_HEADER of `v`. FIRST_OBJECT is not sent (neither draft has
/// it); a draft-14 header needs a Publisher Priority.
pub fn encode_subgroup_header(
    header: &SubgroupHeader,
    v: Version,
    buf: &mut impl BufMut,
) -> Result<(), EncodeError> {
    if is_draft14(v) && header.publisher_priority.is_none() {
        return Err(EncodeError::Invalid(
            "a draft-14 SUBGROUP_HEADER without a Publisher Priority",
        ));
    }
    let mut out = Vec::with_capacity(24);
    encode_quic_varint(header.stream_type() & !FIRST_OBJECT, &mut out)?;
    encode_quic_varint(header.track_alias, &mut out)?;
    encode_quic_varint(header.group_id, &mut out)?;
    if let SubgroupId::Explicit(id) = header.subgroup_id {
        encode_quic_varint(id, &mut out)?;
    }
    if let Some(p) = header.publisher_priority {
        out.push(p);
    }
    buf.put_slice(&out);
    Ok(())
}

/// Read one object's fields (not its payload) from a subgroup stream of `v` opened by
/// `header`, given the previous Object ID on the stream. A payload longer than
/// `limits.max_object_size` is refused before any payload byte is buffered.
pub fn decode_subgroup_object(
    buf: &mut impl Buf,
    header: &SubgroupHeader,
    prev_object_id: Option<u64>,
    limits: &Limits,
    v: Version,
) -> Result<Decoded<SubgroupObject>, DecodeError> {
    let object_id = next_id(prev_object_id, decode_quic_varint(buf)?, "Object ID")?;
    let mut properties = if header.has_properties {
        decode_extensions(buf, v, limits.max_properties)?
    } else {
        Properties::new()
    };
    let payload_length = decode_quic_varint(buf)?;
    if payload_length > limits.max_object_size {
        return Err(DecodeError::ObjectTooLarge {
            len: payload_length,
            max: limits.max_object_size,
        });
    }
    if payload_length != 0 {
        return Ok(Decoded::Model(SubgroupObject {
            object_id,
            properties,
            payload_length,
            object_status: ObjectStatus::Normal,
        }));
    }
    let code = decode_quic_varint(buf)?;
    let object_status = match status(code, v)? {
        Some(s) => s,
        None if properties.is_empty() => {
            return Ok(Decoded::Omitted {
                location: Location::new(header.group_id, object_id),
                status: code,
            });
        }
        None => return Err(DecodeError::PropertiesOnStatus),
    };
    if object_status != ObjectStatus::Normal && !properties.is_empty() {
        if !is_draft14(v) {
            return Err(DecodeError::PropertiesOnStatus);
        }
        // Draft-14 allows them; the model (like draft-16) has no place for them.
        properties = Properties::new();
    }
    Ok(Decoded::Model(SubgroupObject {
        object_id,
        properties,
        payload_length,
        object_status,
    }))
}

/// An Object Status of `v`: `None` for draft-14's Object Does Not Exist.
pub(super) fn status(code: u64, v: Version) -> Result<Option<ObjectStatus>, DecodeError> {
    Ok(Some(match code {
        0x0 => ObjectStatus::Normal,
        0x3 => ObjectStatus::EndOfGroup,
        0x4 => ObjectStatus::EndOfTrack,
        OBJECT_DOES_NOT_EXIST if is_draft14(v) => return Ok(None),
        value => {
            return Err(DecodeError::InvalidValue {
                field: "Object Status",
                value,
            });
        }
    }))
}

/// Write one object's fields (not the payload) for a subgroup stream of `v` whose header has
/// the EXTENSIONS bit `has_extensions`; `prev_object_id` is the previous Object ID on the
/// stream. Nothing is written on error.
pub fn encode_subgroup_object(
    has_extensions: bool,
    prev_object_id: Option<u64>,
    object: &SubgroupObject,
    v: Version,
    buf: &mut impl BufMut,
) -> Result<(), EncodeError> {
    let delta = match prev_object_id {
        None => object.object_id,
        Some(prev) => object
            .object_id
            .checked_sub(prev)
            .and_then(|d| d.checked_sub(1))
            .ok_or(EncodeError::Invalid(
                "object IDs must increase on a subgroup stream",
            ))?,
    };
    if !has_extensions && !object.properties.is_empty() {
        return Err(EncodeError::Invalid(
            "extension headers without the EXTENSIONS bit",
        ));
    }
    if object.payload_length != 0 && object.object_status != ObjectStatus::Normal {
        return Err(EncodeError::Invalid("non-normal status with a payload"));
    }
    if object.object_status != ObjectStatus::Normal && !object.properties.is_empty() {
        return Err(EncodeError::Invalid("properties on a non-normal object"));
    }
    let mut out = Vec::with_capacity(16 + object.properties.raw().len());
    encode_quic_varint(delta, &mut out)?;
    if has_extensions {
        encode_extensions(&object.properties, v, &mut out)?;
    }
    encode_quic_varint(object.payload_length, &mut out)?;
    if object.payload_length == 0 {
        encode_quic_varint(object.object_status as u64, &mut out)?;
    }
    buf.put_slice(&out);
    Ok(())
}
