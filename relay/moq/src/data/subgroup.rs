//! SUBGROUP_HEADER (types 0b0XX1XXXX) and the subgroup object fields.

use bytes::{Buf, BufMut, Bytes};

use super::{Decoded, ObjectStatus, Properties, draft16};
use crate::coding::{DecodeError, EncodeError, decode_varint, encode_varint, read_u8};
use crate::{Limits, Version};

const PROPERTIES: u64 = 0x01;
const SUBGROUP_ID_MODE: u64 = 0x06;
const END_OF_GROUP: u64 = 0x08;
const BASE: u64 = 0x10;
const DEFAULT_PRIORITY: u64 = 0x20;
const FIRST_OBJECT: u64 = 0x40;

/// True for a valid SUBGROUP_HEADER type (0b0XX1XXXX, mode != 0b11).
pub fn is_subgroup_header_type(t: u64) -> bool {
    t < 0x80 && t & BASE != 0 && t & SUBGROUP_ID_MODE != SUBGROUP_ID_MODE
}

/// How the Subgroup ID is conveyed (SUBGROUP_ID_MODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubgroupId {
    /// 0b00: absent, the Subgroup ID is 0.
    Zero,
    /// 0b01: absent, the Subgroup ID is the first object's Object ID.
    FirstObject,
    /// 0b10: present in the header.
    Explicit(u64),
}

/// A SUBGROUP_HEADER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubgroupHeader {
    /// Track Alias.
    pub track_alias: u64,
    /// Group ID.
    pub group_id: u64,
    /// Subgroup ID encoding.
    pub subgroup_id: SubgroupId,
    /// Publisher Priority; `None` inherits the subscription's (DEFAULT_PRIORITY).
    pub publisher_priority: Option<u8>,
    /// PROPERTIES bit: every object carries a Properties field.
    pub has_properties: bool,
    /// END_OF_GROUP bit: this subgroup holds the group's largest object.
    pub end_of_group: bool,
    /// FIRST_OBJECT bit: the first object is the first ever published here.
    pub first_object: bool,
}

impl SubgroupHeader {
    /// The stream type value these fields produce.
    pub fn stream_type(&self) -> u64 {
        let mut t = BASE;
        if self.has_properties {
            t |= PROPERTIES;
        }
        t |= match self.subgroup_id {
            SubgroupId::Zero => 0,
            SubgroupId::FirstObject => 0x02,
            SubgroupId::Explicit(_) => 0x04,
        };
        if self.end_of_group {
            t |= END_OF_GROUP;
        }
        if self.publisher_priority.is_none() {
            t |= DEFAULT_PRIORITY;
        }
        if self.first_object {
            t |= FIRST_OBJECT;
        }
        t
    }

    /// The Subgroup ID, given the stream's first Object ID.
    pub fn resolved_subgroup_id(&self, first_object_id: u64) -> u64 {
        match self.subgroup_id {
            SubgroupId::Zero => 0,
            SubgroupId::FirstObject => first_object_id,
            SubgroupId::Explicit(id) => id,
        }
    }

    /// Read a header including its type.
    pub fn decode(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        let t = decode_varint(buf)?;
        if !is_subgroup_header_type(t) {
            return Err(DecodeError::UnknownStreamType(t));
        }
        Self::decode_after_type(t, buf)
    }

    /// Read the fields after a type `t` already read.
    pub fn decode_after_type(t: u64, buf: &mut impl Buf) -> Result<Self, DecodeError> {
        Self::decode_fields(t, buf, decode_varint)
    }

    /// Read the fields after a type `t` already read, the varints by `varint` (the type's bits
    /// mean the same on every draft).
    pub(super) fn decode_fields<B: Buf>(
        t: u64,
        buf: &mut B,
        varint: fn(&mut B) -> Result<u64, DecodeError>,
    ) -> Result<Self, DecodeError> {
        let track_alias = varint(buf)?;
        let group_id = varint(buf)?;
        let subgroup_id = match (t & SUBGROUP_ID_MODE) >> 1 {
            0 => SubgroupId::Zero,
            1 => SubgroupId::FirstObject,
            2 => SubgroupId::Explicit(varint(buf)?),
            _ => return Err(DecodeError::UnknownStreamType(t)),
        };
        let publisher_priority = if t & DEFAULT_PRIORITY == 0 {
            Some(read_u8(buf)?)
        } else {
            None
        };
        Ok(Self {
            track_alias,
            group_id,
            subgroup_id,
            publisher_priority,
            has_properties: t & PROPERTIES != 0,
            end_of_group: t & END_OF_GROUP != 0,
            first_object: t & FIRST_OBJECT != 0,
        })
    }

    /// Read a header of `version` including its type.
    pub fn decode_as(buf: &mut impl Buf, version: Version) -> Result<Self, DecodeError> {
        if version.has_request_streams() {
            Self::decode(buf)
        } else {
            draft16::decode_subgroup_header(buf, version)
        }
    }

    /// Write the header including its type.
    pub fn encode(&self, buf: &mut impl BufMut) {
        encode_varint(self.stream_type(), buf);
        encode_varint(self.track_alias, buf);
        encode_varint(self.group_id, buf);
        if let SubgroupId::Explicit(id) = self.subgroup_id {
            encode_varint(id, buf);
        }
        if let Some(p) = self.publisher_priority {
            buf.put_u8(p);
        }
    }
}

/// Serialize a SUBGROUP_HEADER.
pub fn encode_subgroup_header(header: &SubgroupHeader) -> Bytes {
    let mut v = Vec::with_capacity(32);
    header.encode(&mut v);
    v.into()
}

/// Serialize a SUBGROUP_HEADER of `version`: draft-18's bytes from draft-18 on; drafts 14 and
/// 16 drop FIRST_OBJECT, and draft-14 refuses a header without a Publisher Priority.
pub fn encode_subgroup_header_as(
    header: &SubgroupHeader,
    version: Version,
) -> Result<Bytes, EncodeError> {
    if version.has_request_streams() {
        return Ok(encode_subgroup_header(header));
    }
    let mut v = Vec::with_capacity(32);
    draft16::encode_subgroup_header(header, version, &mut v)?;
    Ok(v.into())
}

/// The fields of one object on a subgroup stream (payload excluded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SubgroupObject {
    /// Object ID (absolute; the wire carries a delta).
    pub object_id: u64,
    /// Properties (must be empty when the header lacks the PROPERTIES bit).
    pub properties: Properties,
    /// Object Payload Length.
    pub payload_length: u64,
    /// Object Status; sent only when the payload length is 0.
    pub object_status: ObjectStatus,
}

impl SubgroupObject {
    /// Read the object fields, given the previous Object ID on the stream.
    /// A payload longer than `limits.max_object_size` is refused here, before
    /// any payload byte is buffered.
    pub fn decode(
        buf: &mut impl Buf,
        has_properties: bool,
        prev_object_id: Option<u64>,
        limits: &Limits,
    ) -> Result<Self, DecodeError> {
        let delta = decode_varint(buf)?;
        let object_id = match prev_object_id {
            None => delta,
            Some(prev) => prev
                .checked_add(delta)
                .and_then(|v| v.checked_add(1))
                .ok_or(DecodeError::IdOverflow("Object ID"))?,
        };
        let properties = if has_properties {
            Properties::decode_prefixed(buf, limits.max_properties)?
        } else {
            Properties::new()
        };
        let payload_length = decode_varint(buf)?;
        if payload_length > limits.max_object_size {
            return Err(DecodeError::ObjectTooLarge {
                len: payload_length,
                max: limits.max_object_size,
            });
        }
        let object_status = if payload_length == 0 {
            ObjectStatus::decode(buf)?
        } else {
            ObjectStatus::Normal
        };
        if object_status != ObjectStatus::Normal && !properties.is_empty() {
            return Err(DecodeError::PropertiesOnStatus);
        }
        Ok(Self {
            object_id,
            properties,
            payload_length,
            object_status,
        })
    }
}

impl SubgroupObject {
    /// Read the object fields of a `version` stream opened by `header`, given the previous
    /// Object ID on the stream (see [`SubgroupObject::decode`]); draft-14's Object Does Not
    /// Exist is [`Decoded::Omitted`].
    pub fn decode_as(
        buf: &mut impl Buf,
        header: &SubgroupHeader,
        prev_object_id: Option<u64>,
        limits: &Limits,
        version: Version,
    ) -> Result<Decoded<Self>, DecodeError> {
        if version.has_request_streams() {
            Self::decode(buf, header.has_properties, prev_object_id, limits).map(Decoded::Model)
        } else {
            draft16::decode_subgroup_object(buf, header, prev_object_id, limits, version)
        }
    }
}

/// [`encode_subgroup_object_header`] in the shape `version` gives it.
pub fn encode_subgroup_object_header_as(
    header: &SubgroupHeader,
    prev_object_id: Option<u64>,
    object: &SubgroupObject,
    version: Version,
) -> Result<Bytes, EncodeError> {
    if version.has_request_streams() {
        return encode_subgroup_object_header(header, prev_object_id, object);
    }
    let mut v = Vec::with_capacity(16 + object.properties.raw().len());
    draft16::encode_subgroup_object(
        header.has_properties,
        prev_object_id,
        object,
        version,
        &mut v,
    )?;
    Ok(v.into())
}

/// Serialize the object fields (not the payload, which the caller writes
/// next without copying). `prev_object_id` is the previous Object ID on this
/// stream, `None` for the first object.
pub fn encode_subgroup_object_header(
    header: &SubgroupHeader,
    prev_object_id: Option<u64>,
    object: &SubgroupObject,
) -> Result<Bytes, EncodeError> {
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
    if !header.has_properties && !object.properties.is_empty() {
        return Err(EncodeError::Invalid(
            "properties without the PROPERTIES bit",
        ));
    }
    if object.payload_length != 0 && object.object_status != ObjectStatus::Normal {
        return Err(EncodeError::Invalid("non-normal status with a payload"));
    }
    if object.object_status != ObjectStatus::Normal && !object.properties.is_empty() {
        return Err(EncodeError::Invalid("properties on a non-normal object"));
    }
    let mut v = Vec::with_capacity(16 + object.properties.raw().len());
    encode_varint(delta, &mut v);
    if header.has_properties {
        object.properties.encode_prefixed(&mut v);
    }
    encode_varint(object.payload_length, &mut v);
    if object.payload_length == 0 {
        object.object_status.encode(&mut v);
    }
    Ok(v.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_valid_types_round_trip() {
        let mut valid = 0;
        for t in 0..0x100u64 {
            if !is_subgroup_header_type(t) {
                continue;
            }
            valid += 1;
            let mut wire = Vec::new();
            encode_varint(t, &mut wire);
            encode_varint(7, &mut wire);
            encode_varint(9, &mut wire);
            if t & 0x06 == 0x04 {
                encode_varint(3, &mut wire);
            }
            if t & 0x20 == 0 {
                wire.push(5);
            }
            let h = SubgroupHeader::decode(&mut &wire[..]).expect("valid type");
            assert_eq!(h.stream_type(), t);
            assert_eq!(&encode_subgroup_header(&h)[..], &wire[..]);
        }
        assert_eq!(valid, 48);
        for t in [0x16, 0x17, 0x1E, 0x7F, 0x0F, 0x80, 0x90] {
            assert!(!is_subgroup_header_type(t), "{t:#x}");
        }
    }

    #[test]
    fn spec_example_object_ids() {
        let header = SubgroupHeader {
            track_alias: 2,
            group_id: 0,
            subgroup_id: SubgroupId::Explicit(0),
            publisher_priority: Some(0),
            has_properties: false,
            end_of_group: false,
            first_object: false,
        };
        assert_eq!(header.stream_type(), 0x14);
        let obj = |id| SubgroupObject {
            object_id: id,
            payload_length: 4,
            ..SubgroupObject::default()
        };
        let a = encode_subgroup_object_header(&header, None, &obj(0)).expect("first");
        let b = encode_subgroup_object_header(&header, Some(0), &obj(1)).expect("second");
        assert_eq!(&a[..], &[0, 4]);
        assert_eq!(&b[..], &[0, 4]);
        assert!(encode_subgroup_object_header(&header, Some(1), &obj(1)).is_err());
    }
}
