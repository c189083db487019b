//! The Location Filter (parameter 0x21; draft-18 calls it SUBSCRIPTION_FILTER) in every
//! draft's shape.
//!
//! - draft-18: a Filter Type tag (0x1 Next Group Start, 0x2 Largest Object, 0x3 Absolute
//!   Start, 0x4 Absolute Range), length-prefixed;
//! - draft-20: up to four fields, their count naming the shape (none: no filter; one: a
//!   relative StartGroup; two zeros: the Next Object; two: an absolute start; three: and an
//!   EndGroupDelta; four: and an EndObject, inclusive), length-prefixed;
//! - draft-22: a Location Filter Type naming the fields that follow, with no length.

use bytes::{Buf, BufMut};

use crate::Version;
use crate::coding::{DecodeError, EncodeError, Location, decode_varint, encode_varint};

/// Which Objects a subscription delivers, or which range a FETCH asks for (draft-20 on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionFilter {
    /// From `{Largest.Group + 1, 0}` (draft-18 0x1; draft-20 a relative StartGroup of 0).
    NextGroupStart,
    /// From `{Largest.Group, Largest.Object + 1}` (draft-18 0x2 Largest Object; draft-20
    /// Next Object).
    LargestObject,
    /// From an explicit Start Location, open ended (`{0, 0}`: unfiltered).
    AbsoluteStart(Location),
    /// From Start Location to the whole of group `start.group + end_group_delta`.
    AbsoluteRange {
        /// Start Location.
        start: Location,
        /// End Group Delta (0: the rest of the start group).
        end_group_delta: u64,
    },
    /// From `{Largest.Group + 1 - groups, 0}`, open ended: `groups` ≥ 1 (1 is the current
    /// group). Draft-20 on.
    RelativeStart {
        /// Groups back from the next group.
        groups: u64,
    },
    /// From Start Location to End Object of group `start.group + end_group_delta`,
    /// inclusive. Draft-20 on.
    AbsoluteRangeToObject {
        /// Start Location.
        start: Location,
        /// End Group Delta.
        end_group_delta: u64,
        /// The last Object delivered in the end group.
        end_object: u64,
    },
}

/// Draft-22's Location Filter Types.
mod filter_type {
    pub const NONE: u64 = 0x0;
    pub const RELATIVE_START: u64 = 0x1;
    pub const ABSOLUTE_START: u64 = 0x2;
    pub const ABSOLUTE_START_GROUP_END: u64 = 0x3;
    pub const ABSOLUTE_RANGE: u64 = 0x4;
    pub const NEXT_OBJECT: u64 = 0x5;
}

const UNFILTERED: SubscriptionFilter = SubscriptionFilter::AbsoluteStart(Location::new(0, 0));

/// The parameter type a filter travels in (SUBSCRIPTION_FILTER, LOCATION_FILTER).
const LOCATION_FILTER: u64 = 0x21;

fn malformed(what: &'static str) -> DecodeError {
    DecodeError::KeyValueFormatting {
        key: LOCATION_FILTER,
        what,
    }
}

fn end_group(start: Location, delta: u64) -> Result<(), DecodeError> {
    match start.group.checked_add(delta) {
        Some(_) => Ok(()),
        None => Err(DecodeError::IdOverflow("End Group")),
    }
}

impl SubscriptionFilter {
    /// Draft-18's Filter Type code, `None` for a shape draft-18 cannot say.
    pub fn filter_type(&self) -> Option<u64> {
        match self {
            Self::NextGroupStart => Some(0x1),
            Self::LargestObject => Some(0x2),
            Self::AbsoluteStart(_) => Some(0x3),
            Self::AbsoluteRange { .. } => Some(0x4),
            Self::RelativeStart { .. } | Self::AbsoluteRangeToObject { .. } => None,
        }
    }

    /// The start Location when it does not depend on the track's Largest Object.
    pub fn absolute_start(&self) -> Option<Location> {
        match self {
            Self::AbsoluteStart(start)
            | Self::AbsoluteRange { start, .. }
            | Self::AbsoluteRangeToObject { start, .. } => Some(*start),
            _ => None,
        }
    }

    /// The inclusive range a draft-20 FETCH with this filter (`None`: no filter) covers on a
    /// track whose Largest Object is `largest`; `None` when nothing was published. The range
    /// is empty (start after end) for a start past Largest.
    pub fn fetch_range(
        filter: Option<Self>,
        largest: Option<Location>,
    ) -> Option<(Location, Location)> {
        let l = largest?;
        let next_group = l.group.saturating_add(1);
        Some(match filter {
            None => (Location::new(0, 0), l),
            Some(Self::NextGroupStart) => (Location::new(next_group, 0), l),
            Some(Self::RelativeStart { groups }) => {
                (Location::new(next_group.saturating_sub(groups), 0), l)
            }
            Some(Self::LargestObject) => (Location::new(l.group, l.object.saturating_add(1)), l),
            Some(Self::AbsoluteStart(start)) => (start, l),
            Some(Self::AbsoluteRange {
                start,
                end_group_delta,
            }) => (
                start,
                Location::new(start.group.saturating_add(end_group_delta), u64::MAX),
            ),
            Some(Self::AbsoluteRangeToObject {
                start,
                end_group_delta,
                end_object,
            }) => (
                start,
                Location::new(start.group.saturating_add(end_group_delta), end_object),
            ),
        })
    }

    /// Parse a draft-18 filter that fills `value` exactly.
    pub fn decode(mut value: &[u8]) -> Result<Self, DecodeError> {
        let buf = &mut value;
        let short = |_| malformed("truncated subscription filter");
        let filter = match decode_varint(buf).map_err(short)? {
            0x1 => Self::NextGroupStart,
            0x2 => Self::LargestObject,
            0x3 => Self::AbsoluteStart(Location::decode(buf).map_err(short)?),
            0x4 => {
                let start = Location::decode(buf).map_err(short)?;
                let end_group_delta = decode_varint(buf).map_err(short)?;
                end_group(start, end_group_delta)?;
                Self::AbsoluteRange {
                    start,
                    end_group_delta,
                }
            }
            v => {
                return Err(DecodeError::InvalidValue {
                    field: "Filter Type",
                    value: v,
                });
            }
        };
        if !value.is_empty() {
            return Err(malformed("trailing bytes after subscription filter"));
        }
        Ok(filter)
    }

    /// Parse a draft-20 field list that fills `value` exactly.
    pub fn decode_fields(mut value: &[u8]) -> Result<Self, DecodeError> {
        let mut fields = [0u64; 4];
        let mut n = 0;
        while !value.is_empty() {
            if n == fields.len() {
                return Err(malformed("more than four location filter fields"));
            }
            fields[n] =
                decode_varint(&mut value).map_err(|_| malformed("truncated location filter"))?;
            n += 1;
        }
        Self::from_fields(&fields[..n], false)
    }

    /// Parse a draft-22 filter (type-led, self-delimiting) from the front of `buf`.
    pub fn decode_typed(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        let kind = decode_varint(buf)?;
        let count = match kind {
            filter_type::NONE | filter_type::NEXT_OBJECT => 0,
            filter_type::RELATIVE_START => 1,
            filter_type::ABSOLUTE_START => 2,
            filter_type::ABSOLUTE_START_GROUP_END => 3,
            filter_type::ABSOLUTE_RANGE => 4,
            value => {
                return Err(DecodeError::InvalidValue {
                    field: "Location Filter Type",
                    value,
                });
            }
        };
        let mut fields = [0u64; 4];
        for f in fields.iter_mut().take(count) {
            *f = decode_varint(buf)?;
        }
        match kind {
            filter_type::NONE => Ok(UNFILTERED),
            filter_type::NEXT_OBJECT => Ok(Self::LargestObject),
            _ => Self::from_fields(&fields[..count], true),
        }
    }

    /// The shape a list of fields names; `typed`: draft-22, where two zeros are `{0, 0}`.
    fn from_fields(fields: &[u64], typed: bool) -> Result<Self, DecodeError> {
        Ok(match *fields {
            [] => UNFILTERED,
            [0] => Self::NextGroupStart,
            [groups] => Self::RelativeStart { groups },
            [0, 0] if !typed => Self::LargestObject,
            [group, object] => Self::AbsoluteStart(Location::new(group, object)),
            [group, object, end_group_delta] => {
                let start = Location::new(group, object);
                end_group(start, end_group_delta)?;
                Self::AbsoluteRange {
                    start,
                    end_group_delta,
                }
            }
            [group, object, end_group_delta, end_object] => {
                let start = Location::new(group, object);
                end_group(start, end_group_delta)?;
                Self::AbsoluteRangeToObject {
                    start,
                    end_group_delta,
                    end_object,
                }
            }
            _ => return Err(malformed("more than four location filter fields")),
        })
    }

    /// Serialize a draft-18 filter (without the parameter's length prefix).
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        let Some(kind) = self.filter_type() else {
            return Err(EncodeError::Invalid(
                "draft-18 has no subscription filter for a relative start or an end object",
            ));
        };
        encode_varint(kind, buf);
        match self {
            Self::AbsoluteStart(start) => start.encode(buf),
            Self::AbsoluteRange {
                start,
                end_group_delta,
            } => {
                start.encode(buf);
                encode_varint(*end_group_delta, buf);
            }
            _ => {}
        }
        Ok(())
    }

    /// Serialize the draft-20 field list (without the parameter's length prefix).
    pub fn encode_fields(&self, buf: &mut impl BufMut) {
        match *self {
            UNFILTERED => {}
            Self::NextGroupStart => encode_varint(0, buf),
            Self::LargestObject => {
                encode_varint(0, buf);
                encode_varint(0, buf);
            }
            Self::RelativeStart { groups } => encode_varint(groups, buf),
            Self::AbsoluteStart(start) => start.encode(buf),
            Self::AbsoluteRange {
                start,
                end_group_delta,
            } => {
                start.encode(buf);
                encode_varint(end_group_delta, buf);
            }
            Self::AbsoluteRangeToObject {
                start,
                end_group_delta,
                end_object,
            } => {
                start.encode(buf);
                encode_varint(end_group_delta, buf);
                encode_varint(end_object, buf);
            }
        }
    }

    /// Serialize the draft-22 type-led form.
    pub fn encode_typed(&self, buf: &mut impl BufMut) {
        match *self {
            UNFILTERED => encode_varint(filter_type::NONE, buf),
            Self::LargestObject => encode_varint(filter_type::NEXT_OBJECT, buf),
            Self::NextGroupStart => {
                encode_varint(filter_type::RELATIVE_START, buf);
                encode_varint(0, buf);
            }
            Self::RelativeStart { groups } => {
                encode_varint(filter_type::RELATIVE_START, buf);
                encode_varint(groups, buf);
            }
            Self::AbsoluteStart(_) => {
                encode_varint(filter_type::ABSOLUTE_START, buf);
                self.encode_fields(buf);
            }
            Self::AbsoluteRange { .. } => {
                encode_varint(filter_type::ABSOLUTE_START_GROUP_END, buf);
                self.encode_fields(buf);
            }
            Self::AbsoluteRangeToObject { .. } => {
                encode_varint(filter_type::ABSOLUTE_RANGE, buf);
                self.encode_fields(buf);
            }
        }
    }

    /// The value bytes as `version` frames them (draft-22's include no length; the caller
    /// writes a length before draft-18's and draft-20's).
    pub fn encode_as(&self, version: Version, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        if version.typed_location_filter() {
            self.encode_typed(buf);
        } else if version.has_location_fields() {
            self.encode_fields(buf);
        } else {
            self.encode(buf)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<SubscriptionFilter> {
        use SubscriptionFilter as F;
        vec![
            F::NextGroupStart,
            F::LargestObject,
            UNFILTERED,
            F::AbsoluteStart(Location::new(7, 3)),
            F::AbsoluteStart(Location::new(0, 1)),
            F::AbsoluteRange {
                start: Location::new(1, 2),
                end_group_delta: 300,
            },
            F::RelativeStart { groups: 2 },
            F::RelativeStart { groups: 1 << 40 },
            F::AbsoluteRangeToObject {
                start: Location::new(5, 0),
                end_group_delta: 0,
                end_object: 9,
            },
        ]
    }

    #[test]
    fn every_shape_round_trips_in_draft_20_and_22() {
        for f in all() {
            let mut v = Vec::new();
            f.encode_fields(&mut v);
            assert_eq!(
                SubscriptionFilter::decode_fields(&v),
                Ok(f),
                "{f:?} in draft-20"
            );
            let mut v = Vec::new();
            f.encode_typed(&mut v);
            let mut r = &v[..];
            assert_eq!(
                SubscriptionFilter::decode_typed(&mut r),
                Ok(f),
                "{f:?} in draft-22"
            );
            assert!(r.is_empty());
            let mut v = Vec::new();
            if f.encode(&mut v).is_ok() {
                assert_eq!(SubscriptionFilter::decode(&v), Ok(f), "{f:?} in draft-18");
            }
        }
    }

    #[test]
    fn two_zeros_mean_the_next_object_in_draft_20_and_the_start_in_draft_22() {
        assert_eq!(
            SubscriptionFilter::decode_fields(&[0, 0]),
            Ok(SubscriptionFilter::LargestObject)
        );
        assert_eq!(
            SubscriptionFilter::decode_typed(&mut &[2u8, 0, 0][..]),
            Ok(UNFILTERED)
        );
    }

    #[test]
    fn malformed_filters_are_refused() {
        assert!(SubscriptionFilter::decode_fields(&[1, 2, 3, 4, 5]).is_err());
        assert!(SubscriptionFilter::decode_typed(&mut &[6u8][..]).is_err());
        assert!(SubscriptionFilter::decode_typed(&mut &[4u8, 1, 1][..]).is_err());
        // StartGroup + EndGroupDelta beyond 2^64 - 1.
        let mut v = Vec::new();
        encode_varint(u64::MAX - 1, &mut v);
        encode_varint(0, &mut v);
        encode_varint(5, &mut v);
        assert!(SubscriptionFilter::decode_fields(&v).is_err());
    }
}
