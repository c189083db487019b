//! FETCH_HEADER (0x05) and fetch objects with their Serialization Flags.

use bytes::{Buf, BufMut, Bytes};

use super::{Decoded, FETCH_HEADER, Properties, draft16};
use crate::coding::{DecodeError, EncodeError, Location, decode_varint, encode_varint, read_u8};
use crate::message::GroupOrder;
use crate::{Limits, Version};

const SUBGROUP_MASK: u64 = 0x03;
const OBJECT_ID_PRESENT: u64 = 0x04;
const GROUP_ID_PRESENT: u64 = 0x08;
const PRIORITY_PRESENT: u64 = 0x10;
const PROPERTIES_PRESENT: u64 = 0x20;
const DATAGRAM: u64 = 0x40;
/// Serialization Flags value: End of Non-Existent Range.
pub const FETCH_END_OF_NON_EXISTENT_RANGE: u64 = 0x8C;
/// Serialization Flags value: End of Unknown Range.
pub const FETCH_END_OF_UNKNOWN_RANGE: u64 = 0x10C;
/// Serialization Flags value: End of Timed-Out Range (draft-20 on; read as an unknown range).
pub const FETCH_END_OF_TIMED_OUT_RANGE: u64 = 0x20C;

/// FETCH_HEADER: the stream answers the FETCH with this Request ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FetchHeader {
    /// Request ID of the FETCH.
    pub request_id: u64,
}

impl FetchHeader {
    /// Read the header including its type.
    pub fn decode(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        let t = decode_varint(buf)?;
        if t != FETCH_HEADER {
            return Err(DecodeError::UnknownStreamType(t));
        }
        Ok(Self {
            request_id: decode_varint(buf)?,
        })
    }

    /// Write the header including its type.
    pub fn encode(&self, buf: &mut impl BufMut) {
        encode_varint(FETCH_HEADER, buf);
        encode_varint(self.request_id, buf);
    }

    /// Read a header of `version` including its type.
    pub fn decode_as(buf: &mut impl Buf, version: Version) -> Result<Self, DecodeError> {
        if version.has_request_streams() {
            Self::decode(buf)
        } else {
            draft16::decode_fetch_header(buf)
        }
    }

    /// Write the header of `version` including its type (nothing on error).
    pub fn encode_as(&self, buf: &mut impl BufMut, version: Version) -> Result<(), EncodeError> {
        if version.has_request_streams() {
            self.encode(buf);
            Ok(())
        } else {
            draft16::encode_fetch_header(self, buf)
        }
    }
}

/// One object on a fetch stream (payload excluded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FetchObjectHeader {
    /// Group ID.
    pub group_id: u64,
    /// Subgroup ID; `None` for an object with Datagram forwarding preference.
    pub subgroup_id: Option<u64>,
    /// Object ID.
    pub object_id: u64,
    /// Publisher Priority.
    pub publisher_priority: u8,
    /// Properties.
    pub properties: Properties,
    /// Object Payload Length.
    pub payload_length: u64,
}

impl FetchObjectHeader {
    /// The object's Location.
    pub fn location(&self) -> Location {
        Location::new(self.group_id, self.object_id)
    }
}

/// An entry on a fetch stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FetchObject {
    /// An object, followed by `payload_length` payload bytes.
    Object(FetchObjectHeader),
    /// Every object after the previous entry up to this Location does not exist.
    EndOfNonExistentRange(Location),
    /// Every object after the previous entry up to this Location is unknown.
    EndOfUnknownRange(Location),
}

/// The "prior object" state shared by a fetch stream's encoder or decoder.
#[derive(Debug, Clone, Default)]
pub struct FetchObjectState {
    order: GroupOrder,
    pub(super) prior: Option<Location>,
    pub(super) prior_subgroup: Option<u64>,
    pub(super) prior_priority: Option<u8>,
    /// The prior entry was an End of Range (draft-16's encoder then names the Subgroup ID).
    pub(super) after_range: bool,
}

impl FetchObjectState {
    /// Fresh state for a stream whose FETCH used `order`.
    pub fn new(order: GroupOrder) -> Self {
        Self {
            order,
            ..Self::default()
        }
    }

    /// The group order used for Group ID deltas.
    pub fn order(&self) -> GroupOrder {
        self.order
    }

    /// Change the group order (before the first object).
    pub fn set_order(&mut self, order: GroupOrder) {
        self.order = order;
    }

    pub(super) fn commit(&mut self, entry: &FetchObject) {
        match entry {
            FetchObject::Object(o) => {
                self.prior = Some(o.location());
                self.prior_subgroup = o.subgroup_id;
                self.prior_priority = Some(o.publisher_priority);
                self.after_range = false;
            }
            FetchObject::EndOfNonExistentRange(l) | FetchObject::EndOfUnknownRange(l) => {
                self.prior = Some(*l);
                self.after_range = true;
            }
        }
    }

    /// Read one entry. The state changes only on success, so a caller may
    /// retry after [`DecodeError::Short`] with more bytes.
    pub fn decode(
        &mut self,
        buf: &mut impl Buf,
        limits: &Limits,
    ) -> Result<FetchObject, DecodeError> {
        let flags = decode_varint(buf)?;
        let entry = match flags {
            FETCH_END_OF_NON_EXISTENT_RANGE => {
                FetchObject::EndOfNonExistentRange(Location::decode(buf)?)
            }
            FETCH_END_OF_UNKNOWN_RANGE | FETCH_END_OF_TIMED_OUT_RANGE => {
                FetchObject::EndOfUnknownRange(Location::decode(buf)?)
            }
            0x80.. => {
                return Err(DecodeError::InvalidValue {
                    field: "Serialization Flags",
                    value: flags,
                });
            }
            _ => FetchObject::Object(self.decode_object(flags, buf, limits)?),
        };
        self.commit(&entry);
        Ok(entry)
    }

    /// Read one entry of `version` (see [`FetchObjectState::decode`]); on a draft-14 stream an
    /// object with a status other than Normal is [`Decoded::Omitted`].
    pub fn decode_as(
        &mut self,
        buf: &mut impl Buf,
        limits: &Limits,
        version: Version,
    ) -> Result<Decoded<FetchObject>, DecodeError> {
        if version.has_request_streams() {
            self.decode(buf, limits).map(Decoded::Model)
        } else {
            draft16::decode_fetch_object(self, buf, limits, version)
        }
    }

    /// Serialize one entry (not the payload) in the shape `version` gives it (see
    /// [`draft16::encode_fetch_object`] for drafts 14 and 16).
    pub fn encode_as(
        &mut self,
        entry: &FetchObject,
        version: Version,
    ) -> Result<Bytes, EncodeError> {
        if version.has_request_streams() {
            self.encode(entry)
        } else {
            draft16::encode_fetch_object(self, entry, version)
        }
    }

    fn decode_object(
        &self,
        flags: u64,
        buf: &mut impl Buf,
        limits: &Limits,
    ) -> Result<FetchObjectHeader, DecodeError> {
        let group_present = flags & GROUP_ID_PRESENT != 0;
        let group_id = match (group_present, self.prior) {
            (true, None) => decode_varint(buf)?,
            (true, Some(prior)) => {
                let step = decode_varint(buf)?
                    .checked_add(1)
                    .ok_or(DecodeError::IdOverflow("Group ID"))?;
                match self.order {
                    GroupOrder::Ascending => prior.group.checked_add(step),
                    GroupOrder::Descending => prior.group.checked_sub(step),
                }
                .ok_or(DecodeError::IdOverflow("Group ID"))?
            }
            (false, Some(prior)) => prior.group,
            (false, None) => return Err(DecodeError::NoPriorObject("Group ID")),
        };
        let subgroup_id = if flags & DATAGRAM != 0 {
            None
        } else {
            let prior_sub = || {
                self.prior_subgroup
                    .ok_or(DecodeError::NoPriorObject("Subgroup ID"))
            };
            Some(match flags & SUBGROUP_MASK {
                0 => 0,
                1 => prior_sub()?,
                2 => prior_sub()?
                    .checked_add(1)
                    .ok_or(DecodeError::IdOverflow("Subgroup ID"))?,
                _ => decode_varint(buf)?,
            })
        };
        let object_present = flags & OBJECT_ID_PRESENT != 0;
        let object_id = match (object_present, self.prior) {
            (true, None) => decode_varint(buf)?,
            (true, Some(_)) if group_present => decode_varint(buf)?,
            (true, Some(prior)) => prior
                .object
                .checked_add(decode_varint(buf)?)
                .ok_or(DecodeError::IdOverflow("Object ID"))?,
            (false, Some(prior)) => prior
                .object
                .checked_add(1)
                .ok_or(DecodeError::IdOverflow("Object ID"))?,
            (false, None) => return Err(DecodeError::NoPriorObject("Object ID")),
        };
        let publisher_priority = if flags & PRIORITY_PRESENT != 0 {
            read_u8(buf)?
        } else {
            self.prior_priority
                .ok_or(DecodeError::NoPriorObject("Publisher Priority"))?
        };
        let properties = if flags & PROPERTIES_PRESENT != 0 {
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
        Ok(FetchObjectHeader {
            group_id,
            subgroup_id,
            object_id,
            publisher_priority,
            properties,
            payload_length,
        })
    }

    /// Serialize one entry (not the payload), choosing the smallest flags.
    pub fn encode(&mut self, entry: &FetchObject) -> Result<Bytes, EncodeError> {
        let mut v = Vec::with_capacity(24);
        match entry {
            FetchObject::EndOfNonExistentRange(l) => {
                encode_varint(FETCH_END_OF_NON_EXISTENT_RANGE, &mut v);
                l.encode(&mut v);
            }
            FetchObject::EndOfUnknownRange(l) => {
                encode_varint(FETCH_END_OF_UNKNOWN_RANGE, &mut v);
                l.encode(&mut v);
            }
            FetchObject::Object(o) => self.encode_object(o, &mut v)?,
        }
        self.commit(entry);
        Ok(v.into())
    }

    fn encode_object(&self, o: &FetchObjectHeader, v: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut flags = 0u64;
        let mut group_field = None;
        let mut object_field = None;
        match self.prior {
            None => {
                flags |= GROUP_ID_PRESENT | OBJECT_ID_PRESENT;
                group_field = Some(o.group_id);
                object_field = Some(o.object_id);
            }
            Some(prior) if prior.group == o.group_id => {
                if prior.object.checked_add(1) != Some(o.object_id) {
                    let delta =
                        o.object_id
                            .checked_sub(prior.object)
                            .ok_or(EncodeError::Invalid(
                                "object IDs must not decrease within a group",
                            ))?;
                    flags |= OBJECT_ID_PRESENT;
                    object_field = Some(delta);
                }
            }
            Some(prior) => {
                let step = match self.order {
                    GroupOrder::Ascending => o.group_id.checked_sub(prior.group),
                    GroupOrder::Descending => prior.group.checked_sub(o.group_id),
                }
                .and_then(|d| d.checked_sub(1))
                .ok_or(EncodeError::Invalid("group IDs out of fetch order"))?;
                flags |= GROUP_ID_PRESENT | OBJECT_ID_PRESENT;
                group_field = Some(step);
                object_field = Some(o.object_id);
            }
        }
        let mut subgroup_field = None;
        match o.subgroup_id {
            None => flags |= DATAGRAM,
            Some(0) => {}
            Some(s) if self.prior_subgroup == Some(s) => flags |= 0x01,
            Some(s) if self.prior_subgroup.and_then(|p| p.checked_add(1)) == Some(s) => {
                flags |= 0x02
            }
            Some(s) => {
                flags |= 0x03;
                subgroup_field = Some(s);
            }
        }
        let priority_field =
            (self.prior_priority != Some(o.publisher_priority)).then_some(o.publisher_priority);
        if priority_field.is_some() {
            flags |= PRIORITY_PRESENT;
        }
        if !o.properties.is_empty() {
            flags |= PROPERTIES_PRESENT;
        }
        encode_varint(flags, v);
        if let Some(g) = group_field {
            encode_varint(g, v);
        }
        if let Some(s) = subgroup_field {
            encode_varint(s, v);
        }
        if let Some(obj) = object_field {
            encode_varint(obj, v);
        }
        if let Some(p) = priority_field {
            v.put_u8(p);
        }
        if !o.properties.is_empty() {
            o.properties.encode_prefixed(v);
        }
        encode_varint(o.payload_length, v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(group: u64, sub: Option<u64>, object: u64, prio: u8) -> FetchObject {
        FetchObject::Object(FetchObjectHeader {
            group_id: group,
            subgroup_id: sub,
            object_id: object,
            publisher_priority: prio,
            properties: Properties::new(),
            payload_length: 3,
        })
    }

    #[test]
    fn sequences_round_trip_both_orders() {
        for order in [GroupOrder::Ascending, GroupOrder::Descending] {
            let groups: Vec<u64> = match order {
                GroupOrder::Ascending => vec![5, 5, 5, 8, 8, 9],
                GroupOrder::Descending => vec![9, 9, 9, 8, 8, 5],
            };
            let entries = vec![
                obj(groups[0], Some(0), 0, 1),
                obj(groups[1], Some(0), 1, 1),
                obj(groups[2], None, 4, 7),
                FetchObject::EndOfUnknownRange(Location::new(groups[3], 2)),
                obj(groups[4], Some(3), 3, 7),
                obj(groups[5], Some(4), 0, 2),
            ];
            let mut enc = FetchObjectState::new(order);
            let mut wire = Vec::new();
            for e in &entries {
                wire.extend_from_slice(&enc.encode(e).expect("encodes"));
            }
            let mut dec = FetchObjectState::new(order);
            let mut buf = &wire[..];
            for e in &entries {
                assert_eq!(
                    &dec.decode(&mut buf, &Limits::default()).expect("decodes"),
                    e
                );
            }
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn first_object_may_not_refer_to_prior() {
        let wire = [0x00u8, 3];
        let err = FetchObjectState::new(GroupOrder::Ascending)
            .decode(&mut &wire[..], &Limits::default())
            .expect_err("no prior");
        assert!(matches!(err, DecodeError::NoPriorObject(_)));
        let bad_flags = [0x80u8, 0x81];
        assert!(matches!(
            FetchObjectState::default().decode(&mut &bad_flags[..], &Limits::default()),
            Err(DecodeError::InvalidValue { .. })
        ));
    }
}
