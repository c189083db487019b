//! OBJECT_DATAGRAM of drafts 14 and 16 (Section 10.3.1). Draft-16's is draft-18's with RFC 9000
//! varints. Draft-14's types are 0x00..=0x07 and 0x20..=0x21, the same bits without
//! DEFAULT_PRIORITY (Publisher Priority always present) or ZERO_OBJECT_ID on a status.

use bytes::{Buf, Bytes};

use super::extensions::{decode_extensions, encode_extensions};
use super::is_draft14;
use super::subgroup::status;
use crate::coding::{DecodeError, EncodeError, decode_quic_varint, encode_quic_varint};
use crate::data::datagram::{DatagramHead, take_payload, truncated};
use crate::data::{Datagram, DatagramPayload, ObjectDatagram, ObjectStatus, Properties};
use crate::{Limits, Version};

const EXTENSIONS: u64 = 0x01;
const END_OF_GROUP: u64 = 0x02;
const ZERO_OBJECT_ID: u64 = 0x04;
const STATUS: u64 = 0x20;

/// True for an OBJECT_DATAGRAM type of `v`.
fn valid_type(t: u64, v: Version) -> bool {
    if is_draft14(v) {
        t <= 0x07 || t == 0x20 || t == 0x21
    } else {
        (t <= 0x0F || (0x20..=0x2F).contains(&t)) && !(t & STATUS != 0 && t & END_OF_GROUP != 0)
    }
}

/// Decode one whole datagram of `v`; the payload is a zero-copy slice of `datagram`.
pub fn decode_datagram(
    mut datagram: Bytes,
    v: Version,
    limits: &Limits,
) -> Result<Datagram, DecodeError> {
    let buf = &mut datagram;
    let t = decode_quic_varint(buf).map_err(truncated)?;
    if !valid_type(t, v) {
        return Err(DecodeError::InvalidDatagramType(t));
    }
    let head = DatagramHead::decode(t, buf, decode_quic_varint)?;
    let mut properties = if t & EXTENSIONS != 0 {
        let p = decode_extensions(buf, v, limits.max_properties).map_err(truncated)?;
        if p.is_empty() {
            return Err(DecodeError::EmptyProperties);
        }
        p
    } else {
        Properties::new()
    };
    let payload = if t & STATUS != 0 {
        let code = decode_quic_varint(buf).map_err(truncated)?;
        if buf.has_remaining() {
            return Err(DecodeError::InvalidValue {
                field: "bytes after datagram Object Status",
                value: buf.remaining() as u64,
            });
        }
        let Some(status) = status(code, v)? else {
            if !properties.is_empty() {
                return Err(DecodeError::PropertiesOnStatus);
            }
            let (track_alias, location) = head.track_location();
            return Ok(Datagram::ObjectDoesNotExist {
                track_alias,
                location,
            });
        };
        if status != ObjectStatus::Normal && !properties.is_empty() {
            if !is_draft14(v) {
                return Err(DecodeError::PropertiesOnStatus);
            }
            // Draft-14 allows them; the model (like draft-16) has no place for them.
            properties = Properties::new();
        }
        DatagramPayload::Status(status)
    } else {
        take_payload(buf, limits)?
    };
    Ok(head.object(t, properties, payload))
}

/// Serialize the datagram header of `v` (and the status, if any). For a payload datagram, send
/// this followed by the payload. A draft-14 datagram needs a Publisher Priority.
pub fn encode_datagram_header(d: &ObjectDatagram, v: Version) -> Result<Bytes, EncodeError> {
    let status = match d.payload {
        DatagramPayload::Status(status) => {
            if d.end_of_group {
                return Err(EncodeError::Invalid(
                    "status datagram cannot signal end of group",
                ));
            }
            if status != ObjectStatus::Normal && !d.properties.is_empty() {
                return Err(EncodeError::Invalid("properties on a non-normal object"));
            }
            Some(status)
        }
        DatagramPayload::Payload(_) => None,
    };
    if is_draft14(v) && d.publisher_priority.is_none() {
        return Err(EncodeError::Invalid(
            "a draft-14 OBJECT_DATAGRAM without a Publisher Priority",
        ));
    }
    let mut t = d.datagram_type();
    if is_draft14(v) && status.is_some() {
        t &= !ZERO_OBJECT_ID; // a draft-14 status datagram always names its Object ID
    }
    let mut out = Vec::with_capacity(32 + d.properties.raw().len());
    encode_quic_varint(t, &mut out)?;
    encode_quic_varint(d.track_alias, &mut out)?;
    encode_quic_varint(d.group_id, &mut out)?;
    if t & ZERO_OBJECT_ID == 0 {
        encode_quic_varint(d.object_id, &mut out)?;
    }
    if let Some(p) = d.publisher_priority {
        out.push(p);
    }
    if !d.properties.is_empty() {
        encode_extensions(&d.properties, v, &mut out)?;
    }
    if let Some(status) = status {
        encode_quic_varint(status as u64, &mut out)?;
    }
    Ok(out.into())
}
