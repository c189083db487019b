//! FETCH_HEADER (0x05) and the fetch object fields of drafts 14 and 16 (Section 10.4.4).
//!
//! Draft-16: Serialization Flags as draft-18's, but a present Group ID or Object ID is the
//! value itself, not a delta. Draft-14: Group ID, Subgroup ID, Object ID, Publisher Priority,
//! Extension Headers, Object Payload Length and, for an empty object, Object Status, always.

use bytes::{Buf, BufMut, Bytes};

use super::extensions::{decode_extensions, encode_extensions};
use super::subgroup::status;
use super::{Decoded, is_draft14, next_id};
use crate::coding::{
    DecodeError, EncodeError, MAX_QUIC_VARINT, decode_quic_varint, encode_quic_varint, read_u8,
};
use crate::data::{
    FETCH_END_OF_NON_EXISTENT_RANGE, FETCH_END_OF_UNKNOWN_RANGE, FETCH_HEADER, FetchHeader,
    FetchObject, FetchObjectHeader, FetchObjectState, ObjectStatus, Properties,
};
use crate::{Limits, Location, Version};

const SUBGROUP_MASK: u64 = 0x03;
const OBJECT_ID_PRESENT: u64 = 0x04;
const GROUP_ID_PRESENT: u64 = 0x08;
const PRIORITY_PRESENT: u64 = 0x10;
const EXTENSIONS_PRESENT: u64 = 0x20;
const DATAGRAM: u64 = 0x40;

/// Read a FETCH_HEADER of drafts 14 and 16, type included.
pub fn decode_fetch_header(buf: &mut impl Buf) -> Result<FetchHeader, DecodeError> {
    let t = decode_quic_varint(buf)?;
    if t != FETCH_HEADER {
        return Err(DecodeError::UnknownStreamType(t));
    }
    Ok(FetchHeader {
        request_id: decode_quic_varint(buf)?,
    })
}

/// Write a FETCH_HEADER of drafts 14 and 16.
pub fn encode_fetch_header(header: &FetchHeader, buf: &mut impl BufMut) -> Result<(), EncodeError> {
    let mut out = Vec::with_capacity(9);
    encode_quic_varint(FETCH_HEADER, &mut out)?;
    encode_quic_varint(header.request_id, &mut out)?;
    buf.put_slice(&out);
    Ok(())
}

/// Read one fetch entry of `v` (not its payload). `state` changes only on success.
pub fn decode_fetch_object(
    state: &mut FetchObjectState,
    buf: &mut impl Buf,
    limits: &Limits,
    v: Version,
) -> Result<Decoded<FetchObject>, DecodeError> {
    let decoded = if is_draft14(v) {
        decode_draft14(buf, limits)?
    } else {
        Decoded::Model(decode_draft16(state, buf, limits, v)?)
    };
    if let Decoded::Model(entry) = &decoded {
        state.commit(entry);
    }
    Ok(decoded)
}

fn payload_length(buf: &mut impl Buf, limits: &Limits) -> Result<u64, DecodeError> {
    let len = decode_quic_varint(buf)?;
    if len > limits.max_object_size {
        return Err(DecodeError::ObjectTooLarge {
            len,
            max: limits.max_object_size,
        });
    }
    Ok(len)
}

fn decode_location(buf: &mut impl Buf) -> Result<Location, DecodeError> {
    Ok(Location::new(
        decode_quic_varint(buf)?,
        decode_quic_varint(buf)?,
    ))
}

fn decode_draft14(
    buf: &mut impl Buf,
    limits: &Limits,
) -> Result<Decoded<FetchObject>, DecodeError> {
    let group_id = decode_quic_varint(buf)?;
    let subgroup_id = decode_quic_varint(buf)?;
    let object_id = decode_quic_varint(buf)?;
    let publisher_priority = read_u8(buf)?;
    let properties = decode_extensions(buf, Version::Draft14, limits.max_properties)?;
    let payload_length = payload_length(buf, limits)?;
    if payload_length == 0 {
        let code = decode_quic_varint(buf)?;
        match status(code, Version::Draft14)? {
            Some(ObjectStatus::Normal) => {}
            None if !properties.is_empty() => return Err(DecodeError::PropertiesOnStatus),
            // The model's fetch entries carry no status (draft-16 on: none on a FETCH).
            _ => {
                return Ok(Decoded::Omitted {
                    location: Location::new(group_id, object_id),
                    status: code,
                });
            }
        }
    }
    Ok(Decoded::Model(FetchObject::Object(FetchObjectHeader {
        group_id,
        subgroup_id: Some(subgroup_id),
        object_id,
        publisher_priority,
        properties,
        payload_length,
    })))
}

fn decode_draft16(
    state: &FetchObjectState,
    buf: &mut impl Buf,
    limits: &Limits,
    v: Version,
) -> Result<FetchObject, DecodeError> {
    let flags = decode_quic_varint(buf)?;
    match flags {
        FETCH_END_OF_NON_EXISTENT_RANGE => {
            return Ok(FetchObject::EndOfNonExistentRange(decode_location(buf)?));
        }
        FETCH_END_OF_UNKNOWN_RANGE => {
            return Ok(FetchObject::EndOfUnknownRange(decode_location(buf)?));
        }
        0x80.. => {
            return Err(DecodeError::InvalidValue {
                field: "Serialization Flags",
                value: flags,
            });
        }
        _ => {}
    }
    let prior = state.prior;
    let group_id = if flags & GROUP_ID_PRESENT != 0 {
        decode_quic_varint(buf)?
    } else {
        prior.ok_or(DecodeError::NoPriorObject("Group ID"))?.group
    };
    let subgroup_id = if flags & DATAGRAM != 0 {
        None
    } else {
        let prior_sub = || {
            state
                .prior_subgroup
                .ok_or(DecodeError::NoPriorObject("Subgroup ID"))
        };
        Some(match flags & SUBGROUP_MASK {
            0 => 0,
            1 => prior_sub()?,
            2 => next_id(Some(prior_sub()?), 0, "Subgroup ID")?,
            _ => decode_quic_varint(buf)?,
        })
    };
    let object_id = if flags & OBJECT_ID_PRESENT != 0 {
        decode_quic_varint(buf)?
    } else {
        let prior = prior.ok_or(DecodeError::NoPriorObject("Object ID"))?;
        next_id(Some(prior.object), 0, "Object ID")?
    };
    let publisher_priority = if flags & PRIORITY_PRESENT != 0 {
        read_u8(buf)?
    } else {
        state
            .prior_priority
            .ok_or(DecodeError::NoPriorObject("Publisher Priority"))?
    };
    let properties = if flags & EXTENSIONS_PRESENT != 0 {
        decode_extensions(buf, v, limits.max_properties)?
    } else {
        Properties::new()
    };
    let payload_length = payload_length(buf, limits)?;
    Ok(FetchObject::Object(FetchObjectHeader {
        group_id,
        subgroup_id,
        object_id,
        publisher_priority,
        properties,
        payload_length,
    }))
}

/// Serialize one fetch entry of `v` (not the payload). Draft-16 chooses the smallest flags
/// (after an End of Range it names the Subgroup ID rather than refer to the prior object's).
/// Draft-14: an End of Non-Existent Range is sent as nothing (a gap in a draft-14 FETCH
/// means the objects do not exist); an End of Unknown Range cannot be sent.
pub fn encode_fetch_object(
    state: &mut FetchObjectState,
    entry: &FetchObject,
    v: Version,
) -> Result<Bytes, EncodeError> {
    let mut out = Vec::with_capacity(24);
    match (entry, is_draft14(v)) {
        (FetchObject::EndOfNonExistentRange(_), true) => {}
        (FetchObject::EndOfUnknownRange(_), true) => {
            return Err(EncodeError::Invalid(
                "End of Unknown Range on a draft-14 fetch stream",
            ));
        }
        (FetchObject::Object(o), true) => encode_draft14(o, &mut out)?,
        (FetchObject::EndOfNonExistentRange(l), false) => {
            encode_end_of_range(FETCH_END_OF_NON_EXISTENT_RANGE, *l, &mut out)?;
        }
        (FetchObject::EndOfUnknownRange(l), false) => {
            encode_end_of_range(FETCH_END_OF_UNKNOWN_RANGE, *l, &mut out)?;
        }
        (FetchObject::Object(o), false) => encode_draft16(state, o, v, &mut out)?,
    }
    state.commit(entry);
    Ok(out.into())
}

fn encode_end_of_range(flags: u64, l: Location, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encode_quic_varint(flags, out)?;
    encode_quic_varint(l.group, out)?;
    encode_quic_varint(l.object, out)
}

fn encode_draft14(o: &FetchObjectHeader, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encode_quic_varint(o.group_id, out)?;
    // "The Subgroup ID field of an object with a Forwarding Preference of Datagram is set
    // to the Object ID."
    encode_quic_varint(o.subgroup_id.unwrap_or(o.object_id), out)?;
    encode_quic_varint(o.object_id, out)?;
    out.push(o.publisher_priority);
    encode_extensions(&o.properties, Version::Draft14, out)?;
    encode_quic_varint(o.payload_length, out)?;
    if o.payload_length == 0 {
        encode_quic_varint(ObjectStatus::Normal as u64, out)?;
    }
    Ok(())
}

fn encode_draft16(
    state: &FetchObjectState,
    o: &FetchObjectHeader,
    v: Version,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mut flags = 0u64;
    let same_group = state.prior.is_some_and(|p| p.group == o.group_id);
    let group_field = (!same_group).then_some(o.group_id);
    let next_object = state
        .prior
        .and_then(|p| p.object.checked_add(1))
        .filter(|id| *id <= MAX_QUIC_VARINT);
    let object_field = (!same_group || next_object != Some(o.object_id)).then_some(o.object_id);
    if group_field.is_some() {
        flags |= GROUP_ID_PRESENT;
    }
    if object_field.is_some() {
        flags |= OBJECT_ID_PRESENT;
    }
    let prior_sub = state.prior_subgroup.filter(|_| !state.after_range);
    let mut subgroup_field = None;
    match o.subgroup_id {
        None => flags |= DATAGRAM,
        Some(0) => {}
        Some(s) if prior_sub == Some(s) => flags |= 0x01,
        Some(s) if prior_sub.and_then(|p| p.checked_add(1)) == Some(s) => flags |= 0x02,
        Some(s) => {
            flags |= 0x03;
            subgroup_field = Some(s);
        }
    }
    let priority_field =
        (state.prior_priority != Some(o.publisher_priority)).then_some(o.publisher_priority);
    if priority_field.is_some() {
        flags |= PRIORITY_PRESENT;
    }
    if !o.properties.is_empty() {
        flags |= EXTENSIONS_PRESENT;
    }
    encode_quic_varint(flags, out)?;
    for field in [group_field, subgroup_field, object_field]
        .into_iter()
        .flatten()
    {
        encode_quic_varint(field, out)?;
    }
    if let Some(p) = priority_field {
        out.push(p);
    }
    if !o.properties.is_empty() {
        encode_extensions(&o.properties, v, out)?;
    }
    encode_quic_varint(o.payload_length, out)
}
