//! OBJECT_DATAGRAM (types 0x00..0x0F, 0x20..0x21, 0x24..0x25, 0x28..0x29,
//! 0x2C..0x2D) and padding datagrams.

use bytes::{Buf, Bytes};

use super::{ObjectStatus, Properties, draft16};
use crate::coding::{DecodeError, EncodeError, decode_varint, encode_varint, read_u8};
use crate::{Limits, Location, Version};

const PROPERTIES: u64 = 0x01;
const END_OF_GROUP: u64 = 0x02;
const ZERO_OBJECT_ID: u64 = 0x04;
const DEFAULT_PRIORITY: u64 = 0x08;
const STATUS: u64 = 0x20;
/// PADDING datagram type.
pub const PADDING_DATAGRAM: u64 = 0x132B_3E29;

/// What follows the datagram header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DatagramPayload {
    /// STATUS bit clear: the rest of the datagram is the payload.
    Payload(Bytes),
    /// STATUS bit set: an Object Status, no payload.
    Status(ObjectStatus),
}

/// An OBJECT_DATAGRAM.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectDatagram {
    /// Track Alias.
    pub track_alias: u64,
    /// Group ID.
    pub group_id: u64,
    /// Object ID (sent as the ZERO_OBJECT_ID bit when 0).
    pub object_id: u64,
    /// Publisher Priority; `None` inherits the subscription's.
    pub publisher_priority: Option<u8>,
    /// Properties; empty means the PROPERTIES bit is clear.
    pub properties: Properties,
    /// END_OF_GROUP bit.
    pub end_of_group: bool,
    /// Payload or status.
    pub payload: DatagramPayload,
}

impl ObjectDatagram {
    /// The datagram type these fields produce.
    pub fn datagram_type(&self) -> u64 {
        let mut t = 0;
        if !self.properties.is_empty() {
            t |= PROPERTIES;
        }
        if self.end_of_group {
            t |= END_OF_GROUP;
        }
        if self.object_id == 0 {
            t |= ZERO_OBJECT_ID;
        }
        if self.publisher_priority.is_none() {
            t |= DEFAULT_PRIORITY;
        }
        if matches!(self.payload, DatagramPayload::Status(_)) {
            t |= STATUS;
        }
        t
    }
}

/// A received datagram.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Datagram {
    /// An OBJECT_DATAGRAM.
    Object(ObjectDatagram),
    /// A padding datagram (to be discarded).
    Padding,
    /// Draft-14's OBJECT_DATAGRAM with Object Status Object Does Not Exist (0x1), which the
    /// model has no form for (from draft-16 on, absence says it): to be discarded.
    ObjectDoesNotExist {
        /// Track Alias.
        track_alias: u64,
        /// Group ID and Object ID.
        location: Location,
    },
}

/// A datagram that ends early is truncated.
pub(super) fn truncated(e: DecodeError) -> DecodeError {
    match e {
        DecodeError::Short => DecodeError::TruncatedStream,
        other => other,
    }
}

/// What an OBJECT_DATAGRAM of type `t` carries before its properties (the same on every
/// draft): Track Alias, Group ID, Object ID and Publisher Priority, the varints read by
/// `varint`.
pub(super) struct DatagramHead {
    track_alias: u64,
    group_id: u64,
    object_id: u64,
    publisher_priority: Option<u8>,
}

impl DatagramHead {
    pub(super) fn decode(
        t: u64,
        buf: &mut Bytes,
        varint: fn(&mut Bytes) -> Result<u64, DecodeError>,
    ) -> Result<Self, DecodeError> {
        let track_alias = varint(buf).map_err(truncated)?;
        let group_id = varint(buf).map_err(truncated)?;
        let object_id = if t & ZERO_OBJECT_ID != 0 {
            0
        } else {
            varint(buf).map_err(truncated)?
        };
        let publisher_priority = if t & DEFAULT_PRIORITY != 0 {
            None
        } else {
            Some(read_u8(buf).map_err(truncated)?)
        };
        Ok(Self {
            track_alias,
            group_id,
            object_id,
            publisher_priority,
        })
    }

    /// Its Track Alias and Location.
    pub(super) fn track_location(&self) -> (u64, Location) {
        (
            self.track_alias,
            Location::new(self.group_id, self.object_id),
        )
    }

    /// The object datagram of type `t` with these fields, `properties` and `payload`.
    pub(super) fn object(
        self,
        t: u64,
        properties: Properties,
        payload: DatagramPayload,
    ) -> Datagram {
        Datagram::Object(ObjectDatagram {
            track_alias: self.track_alias,
            group_id: self.group_id,
            object_id: self.object_id,
            publisher_priority: self.publisher_priority,
            properties,
            end_of_group: t & END_OF_GROUP != 0,
            payload,
        })
    }
}

/// The rest of a datagram as its payload, refused over `limits.max_object_size`.
pub(super) fn take_payload(
    buf: &mut Bytes,
    limits: &Limits,
) -> Result<DatagramPayload, DecodeError> {
    if buf.remaining() as u64 > limits.max_object_size {
        return Err(DecodeError::ObjectTooLarge {
            len: buf.remaining() as u64,
            max: limits.max_object_size,
        });
    }
    Ok(DatagramPayload::Payload(std::mem::take(buf)))
}

fn valid_type(t: u64) -> bool {
    (t <= 0x0F || (0x20..=0x2F).contains(&t)) && !(t & STATUS != 0 && t & END_OF_GROUP != 0)
}

/// Decode one whole datagram; the payload is a zero-copy slice of `datagram`.
pub fn decode_datagram(mut datagram: Bytes, limits: &Limits) -> Result<Datagram, DecodeError> {
    let buf = &mut datagram;
    let t = decode_varint(buf).map_err(truncated)?;
    if t == PADDING_DATAGRAM {
        return if buf.chunk().iter().all(|&b| b == 0) {
            Ok(Datagram::Padding)
        } else {
            Err(DecodeError::NonZeroPadding)
        };
    }
    if !valid_type(t) {
        return Err(DecodeError::InvalidDatagramType(t));
    }
    let head = DatagramHead::decode(t, buf, decode_varint)?;
    let properties = if t & PROPERTIES != 0 {
        let p = Properties::decode_prefixed(buf, limits.max_properties).map_err(truncated)?;
        if p.is_empty() {
            return Err(DecodeError::EmptyProperties);
        }
        p
    } else {
        Properties::new()
    };
    let payload = if t & STATUS != 0 {
        let status = ObjectStatus::decode(buf).map_err(truncated)?;
        if status != ObjectStatus::Normal && !properties.is_empty() {
            return Err(DecodeError::PropertiesOnStatus);
        }
        if buf.has_remaining() {
            return Err(DecodeError::InvalidValue {
                field: "bytes after datagram Object Status",
                value: buf.remaining() as u64,
            });
        }
        DatagramPayload::Status(status)
    } else {
        take_payload(buf, limits)?
    };
    Ok(head.object(t, properties, payload))
}

/// Decode one whole datagram of `version`.
pub fn decode_datagram_as(
    datagram: Bytes,
    version: Version,
    limits: &Limits,
) -> Result<Datagram, DecodeError> {
    if version.has_request_streams() {
        decode_datagram(datagram, limits)
    } else {
        draft16::decode_datagram(datagram, version, limits)
    }
}

/// [`encode_datagram_header`] in the shape `version` gives it (a draft-14 datagram needs a
/// Publisher Priority).
pub fn encode_datagram_header_as(
    d: &ObjectDatagram,
    version: Version,
) -> Result<Bytes, EncodeError> {
    if version.has_request_streams() {
        encode_datagram_header(d)
    } else {
        draft16::encode_datagram_header(d, version)
    }
}

/// Serialize the datagram header (and the status, if any). For a payload
/// datagram, send this followed by the payload `Bytes`.
pub fn encode_datagram_header(d: &ObjectDatagram) -> Result<Bytes, EncodeError> {
    if let DatagramPayload::Status(status) = d.payload {
        if d.end_of_group {
            return Err(EncodeError::Invalid(
                "status datagram cannot signal end of group",
            ));
        }
        if status != ObjectStatus::Normal && !d.properties.is_empty() {
            return Err(EncodeError::Invalid("properties on a non-normal object"));
        }
    }
    let mut v = Vec::with_capacity(32 + d.properties.raw().len());
    encode_varint(d.datagram_type(), &mut v);
    encode_varint(d.track_alias, &mut v);
    encode_varint(d.group_id, &mut v);
    if d.object_id != 0 {
        encode_varint(d.object_id, &mut v);
    }
    if let Some(p) = d.publisher_priority {
        v.push(p);
    }
    if !d.properties.is_empty() {
        d.properties.encode_prefixed(&mut v);
    }
    if let DatagramPayload::Status(status) = d.payload {
        status.encode(&mut v);
    }
    Ok(v.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_validity_matches_spec() {
        let valid: Vec<u64> = (0..0x40).filter(|&t| valid_type(t)).collect();
        let mut expected: Vec<u64> = (0x00..=0x0F).collect();
        expected.extend([0x20, 0x21, 0x24, 0x25, 0x28, 0x29, 0x2C, 0x2D]);
        assert_eq!(valid, expected);
    }

    #[test]
    fn padding_and_bad_padding() {
        let mut v = Vec::new();
        encode_varint(PADDING_DATAGRAM, &mut v);
        v.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            decode_datagram(v.clone().into(), &Limits::default()),
            Ok(Datagram::Padding)
        );
        v.push(1);
        assert_eq!(
            decode_datagram(v.into(), &Limits::default()),
            Err(DecodeError::NonZeroPadding)
        );
    }
}
