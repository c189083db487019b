//! Properties (draft-18 §2.5, §11.2.1.2) and Object Status.

use bytes::{Buf, BufMut, Bytes};

use crate::coding::{
    DecodeError, EncodeError, KeyValuePairs, KvpValue, decode_varint, encode_varint, read_bytes,
};

/// Property type code points.
pub mod property_type {
    /// OBJECT_DELIVERY_TIMEOUT (Track).
    pub const OBJECT_DELIVERY_TIMEOUT: u64 = 0x02;
    /// MAX_CACHE_DURATION (Track).
    pub const MAX_CACHE_DURATION: u64 = 0x04;
    /// SUBGROUP_DELIVERY_TIMEOUT (Track).
    pub const SUBGROUP_DELIVERY_TIMEOUT: u64 = 0x06;
    /// IMMUTABLE_PROPERTIES (Track, Object).
    pub const IMMUTABLE_PROPERTIES: u64 = 0x0B;
    /// DEFAULT_PUBLISHER_PRIORITY (Track).
    pub const DEFAULT_PUBLISHER_PRIORITY: u64 = 0x0E;
    /// DEFAULT_PUBLISHER_GROUP_ORDER (Track).
    pub const DEFAULT_PUBLISHER_GROUP_ORDER: u64 = 0x22;
    /// DYNAMIC_GROUPS (Track).
    pub const DYNAMIC_GROUPS: u64 = 0x30;
    /// PRIOR_GROUP_ID_GAP (Object).
    pub const PRIOR_GROUP_ID_GAP: u64 = 0x3C;
    /// PRIOR_OBJECT_ID_GAP (Object).
    pub const PRIOR_OBJECT_ID_GAP: u64 = 0x3E;
}

/// Track or Object Properties: the exact wire bytes (forwarded unmodified by
/// relays) plus the parsed Key-Value-Pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Properties {
    raw: Bytes,
    pairs: KeyValuePairs,
}

impl Properties {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serialize `pairs`.
    pub fn from_pairs(pairs: KeyValuePairs) -> Result<Self, EncodeError> {
        let mut raw = Vec::new();
        pairs.encode_all(&mut raw)?;
        Ok(Self {
            raw: raw.into(),
            pairs,
        })
    }

    /// Parse wire bytes, keeping them.
    pub fn from_raw(raw: Bytes) -> Result<Self, DecodeError> {
        let pairs = KeyValuePairs::decode_all(&mut raw.clone()).map_err(|e| match e {
            DecodeError::Short => DecodeError::KeyValueFormatting {
                key: 0,
                what: "truncated property",
            },
            other => other,
        })?;
        Ok(Self { raw, pairs })
    }

    /// The wire bytes (without a length prefix).
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The parsed pairs.
    pub fn pairs(&self) -> &KeyValuePairs {
        &self.pairs
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Read properties filling the rest of `buf` (a control message's Track Properties),
    /// refusing the values draft-18 §12.5 and §12.6 make a PROTOCOL_VIOLATION: a
    /// DEFAULT_PUBLISHER_GROUP_ORDER other than 1 or 2, a DYNAMIC_GROUPS above 1, here or
    /// inside Immutable Properties (§12.7: "processors MUST search both").
    pub(crate) fn decode_rest(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        let len = buf.remaining() as u64;
        let properties = Self::from_raw(read_bytes(buf, len)?)?;
        check_track_property_values(&properties.pairs)?;
        Ok(properties)
    }

    /// Read `Properties Length` and the properties, refusing more than `max` bytes.
    pub fn decode_prefixed(buf: &mut impl Buf, max: usize) -> Result<Self, DecodeError> {
        let len = decode_varint(buf)?;
        if len > max as u64 {
            return Err(DecodeError::PropertiesTooLong { len, max });
        }
        Self::from_raw(read_bytes(buf, len)?)
    }

    /// Write `Properties Length` and the properties.
    pub fn encode_prefixed(&self, buf: &mut impl BufMut) {
        encode_varint(self.raw.len() as u64, buf);
        buf.put_slice(&self.raw);
    }
}

/// The Track Property range checks of [`Properties::decode_rest`]. Immutable Properties
/// whose value is not a Key-Value-Pair list are carried, not refused (§12.7: a relay MAY
/// decode them); nested blocks are walked without recursion.
fn check_track_property_values(pairs: &KeyValuePairs) -> Result<(), DecodeError> {
    let mut blocks = Vec::new();
    check_track_values_in(pairs, &mut blocks)?;
    while let Some(mut block) = blocks.pop() {
        if let Ok(inner) = KeyValuePairs::decode_all(&mut block) {
            check_track_values_in(&inner, &mut blocks)?;
        }
    }
    Ok(())
}

/// Check one list; queue its Immutable Properties blocks.
fn check_track_values_in(
    pairs: &KeyValuePairs,
    blocks: &mut Vec<Bytes>,
) -> Result<(), DecodeError> {
    use property_type as pt;
    for p in pairs.iter() {
        match (&p.value, p.kind) {
            (KvpValue::Varint(v), pt::DEFAULT_PUBLISHER_GROUP_ORDER) if !(1..=2).contains(v) => {
                return Err(DecodeError::InvalidValue {
                    field: "DEFAULT_PUBLISHER_GROUP_ORDER",
                    value: *v,
                });
            }
            (KvpValue::Varint(v), pt::DYNAMIC_GROUPS) if *v > 1 => {
                return Err(DecodeError::InvalidValue {
                    field: "DYNAMIC_GROUPS",
                    value: *v,
                });
            }
            (KvpValue::Bytes(b), pt::IMMUTABLE_PROPERTIES) => blocks.push(b.clone()),
            _ => {}
        }
    }
    Ok(())
}

/// Object Status (draft-18 §11.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ObjectStatus {
    /// 0x0: a normal object.
    #[default]
    Normal = 0x0,
    /// 0x3: no objects at or after this Object ID in the group.
    EndOfGroup = 0x3,
    /// 0x4: no objects at or after this Location in the track.
    EndOfTrack = 0x4,
}

impl ObjectStatus {
    /// Read an Object Status varint.
    pub fn decode(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        match decode_varint(buf)? {
            0x0 => Ok(Self::Normal),
            0x3 => Ok(Self::EndOfGroup),
            0x4 => Ok(Self::EndOfTrack),
            value => Err(DecodeError::InvalidValue {
                field: "Object Status",
                value,
            }),
        }
    }

    /// Write the status varint.
    pub fn encode(self, buf: &mut impl BufMut) {
        encode_varint(self as u64, buf);
    }
}
